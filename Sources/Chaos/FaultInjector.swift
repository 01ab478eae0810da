import AsyncHTTPClient
import Foundation
import Logging

#if canImport(Glibc)
import Glibc
#elseif canImport(Musl)
import Musl
#endif

/// Brings a drill's faults into the cluster at their moments and lifts them again; keeps a
/// record of what it did, and on `restore()` leaves nothing stopped, dead or faulty behind.
actor FaultInjector {
    private let cluster: ClusterHandle
    private let control: EmulatorControl?
    /// The kassas (FN serials) of the load's tenants, by group code; kassa faults pick among them.
    private let kassas: [String: [String]]
    private var random: ChaosRandom
    private let seed: UInt64
    private let start: ContinuousClock.Instant
    private let say: @Sendable (String) -> Void

    private(set) var events: [FaultEvent] = []
    /// Processes stopped (SIGSTOP) or killed and not yet back.
    private var paused: Set<String> = []
    private var dead: Set<String> = []
    /// Kassas with a fault on (FN serial → event index).
    private var faulty: [String: Int] = [:]
    private var background: [Task<Void, Never>] = []
    private var replays = 0

    init(cluster: ClusterHandle, control: EmulatorControl?, kassas: [String: [String]], seed: UInt64, start: ContinuousClock.Instant,
         say: @escaping @Sendable (String) -> Void) {
        self.cluster = cluster
        self.control = control
        self.kassas = kassas
        self.random = ChaosRandom(seed: seed ^ 0x5EED_FA17)
        self.seed = seed
        self.start = start
        self.say = say
    }

    private var now: Double {
        let elapsed = ContinuousClock.now - start
        return Double(elapsed.components.seconds) + Double(elapsed.components.attoseconds) * 1e-18
    }

    /// Runs the schedule until its end or until cancelled.
    func run(_ schedule: [ScheduledFault]) async {
        for fault in schedule {
            let wait = fault.at - now
            if wait > 0 {
                do { try await Task.sleep(for: .milliseconds(Int(wait * 1000))) } catch { return }
            }
            await inject(fault)
        }
    }

    private func record(_ kind: String, _ target: String, end: Double? = nil, _ detail: String) -> Int {
        let event = FaultEvent(kind: kind, target: target, atS: (now * 100).rounded() / 100, endS: end, detail: detail)
        events.append(event)
        say(String(format: "fault %@ %@ at %.1fs: %@", kind, target, event.atS, detail))
        return events.count - 1
    }

    private func ended(_ index: Int) {
        guard events.indices.contains(index) else { return }
        events[index].endS = (now * 100).rounded() / 100
    }

    private func inject(_ fault: ScheduledFault) async {
        let spec = fault.spec
        switch spec.kind {
        case .kill:
            guard let name = pickProcess(spec.target) else {
                _ = record("kill", spec.target ?? "?", end: now, "skipped: no such process is running")
                return
            }
            do {
                try await cluster.kill9(name)
            } catch {
                _ = record("kill", name, end: now, "failed: \(error)")
                return
            }
            dead.insert(name)
            let restartAfter = spec.restartAfterS ?? 1
            let index = record("kill", name, "kill -9" + (restartAfter >= 0 ? ", started again after \(restartAfter) s" : ", left dead"))
            guard restartAfter >= 0 else { return }
            background.append(Task {
                try? await Task.sleep(for: .milliseconds(Int(restartAfter * 1000)))
                await self.bringBack(name, event: index)
            })
        case .pause:
            guard let name = pickProcess(spec.target) else {
                _ = record("pause", spec.target ?? "?", end: now, "skipped: no such process is running")
                return
            }
            do {
                try cluster.signal(name, SIGSTOP)
            } catch {
                _ = record("pause", name, end: now, "failed: \(error)")
                return
            }
            paused.insert(name)
            let length = spec.forS ?? 1
            let index = record("pause", name, "SIGSTOP for \(length) s")
            background.append(Task {
                try? await Task.sleep(for: .milliseconds(Int(length * 1000)))
                await self.resume(name, event: index)
            })
        case .kassa:
            await kassaFault(spec)
        case .restart:
            guard let name = spec.target, cluster.pid(of: name) != nil else {
                _ = record("restart", spec.target ?? "?", end: now, "skipped: not running")
                return
            }
            do {
                try await cluster.kill9(name)
                let index = record("restart", name, "kill -9 and start again")
                dead.insert(name)
                try await cluster.start([name])
                dead.remove(name)
                ended(index)
            } catch {
                _ = record("restart", name, end: now, "failed: \(error)")
            }
        case .replay:
            replays += 1
            let group = "kassa-dispatchers-replay-\(seed)-\(replays)-\(Int(Date().timeIntervalSince1970))"
            let names = cluster.dispatcherNames()
            let index = record("replay", names.joined(separator: ","), "dispatchers restarted in fresh group \(group): the topic is read again from offset 0")
            do {
                try Data(group.utf8).write(to: URL(fileURLWithPath: "\(cluster.directory)/dispatcher-group"))
                await withTaskGroup(of: Void.self) { tasks in
                    for name in names { tasks.addTask { await self.cluster.stop(name) } }
                }
                try await cluster.start(names)
                ended(index)
            } catch {
                say("replay failed: \(error)")
            }
        }
    }

    private func kassaFault(_ spec: FaultSpec) async {
        let fault = spec.fault ?? "hang"
        guard let control else {
            _ = record("kassa", "?", end: now, "skipped: the cluster has no emulator control plane (KASSA_EMULATOR_CONTROL)")
            return
        }
        let pool = spec.tenants.map { codes in codes.flatMap { kassas[$0] ?? [] } } ?? kassas.values.flatMap { $0 }
        let healthy = pool.sorted().filter { faulty[$0] == nil }
        let chosen = spec.fnSerial.map { [$0] } ?? random.sample(healthy, count: spec.kassas ?? 1)
        guard !chosen.isEmpty else {
            _ = record("kassa", "?", end: now, "skipped: no healthy kassa left to fault")
            return
        }
        var done: [String] = []
        for serial in chosen {
            do {
                try await control.set(fault, fnSerial: serial, count: spec.count)
                done.append(serial)
            } catch {
                say("kassa fault on \(serial) failed: \(error)")
            }
        }
        let lasts = spec.forS.map { "for \($0) s" } ?? "until the drill ends"
        let index = record("kassa", done.joined(separator: ","), "\(fault)" + (spec.count.map { " ×\($0)" } ?? "") + ", \(lasts)")
        for serial in done { faulty[serial] = index }
        guard let length = spec.forS else { return }
        background.append(Task {
            try? await Task.sleep(for: .milliseconds(Int(length * 1000)))
            await self.lift(done, event: index)
        })
    }

    private func lift(_ serials: [String], event: Int) async {
        for serial in serials {
            try? await control?.set("none", fnSerial: serial)
            faulty[serial] = nil
        }
        ended(event)
        say("kassa fault lifted on \(serials.joined(separator: ","))")
    }

    private func resume(_ name: String, event: Int) {
        guard paused.remove(name) != nil else { return }
        try? cluster.signal(name, SIGCONT)
        ended(event)
        say("resumed \(name) (SIGCONT)")
    }

    private func bringBack(_ name: String, event: Int) async {
        guard dead.contains(name) else { return }
        do {
            try await cluster.start([name])
            dead.remove(name)
            ended(event)
            say("\(name) is back")
        } catch {
            say("could not start \(name) again: \(error)")
        }
    }

    /// `dispatcher` means any running dispatcher (at random); other names are taken as they are.
    private func pickProcess(_ target: String?) -> String? {
        guard let target else { return nil }
        if target == "dispatcher" {
            let running = cluster.dispatcherNames().filter { cluster.pid(of: $0) != nil && !paused.contains($0) && !dead.contains($0) }
            return random.pick(running)
        }
        return cluster.pid(of: target) == nil ? nil : target
    }

    /// Waits for pending restarts and resumes (they are short), then resumes whatever is still
    /// stopped and starts whatever is still dead. Kassa faults stay until `liftKassaFaults()`.
    func settle() async {
        for task in background { await task.value }
        background.removeAll()
        for name in paused { resume(name, event: -1) }
        for name in dead.sorted() {
            try? await cluster.start([name])
            dead.remove(name)
        }
    }

    /// Lifts every kassa fault (at the end of the drill, after the check).
    func liftKassaFaults() async {
        guard !faulty.isEmpty else { return }
        do {
            try await control?.clearAll()
        } catch {
            say("could not lift kassa faults: \(error)")
        }
        for index in Set(faulty.values) where events.indices.contains(index) && events[index].endS == nil {
            events[index].detail += "; lifted after the check"
        }
        faulty.removeAll()
    }

    /// Cancels pending lifts (abort).
    func cancelPending() {
        for task in background { task.cancel() }
    }
}
