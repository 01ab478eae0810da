import AsyncHTTPClient
import Foundation
import KassaModel
import Logging
import Registry

#if canImport(Glibc)
import Glibc
#elseif canImport(Musl)
import Musl
#endif

/// Brings a drill's faults into the cluster at their moments and lifts them again; keeps a
/// record of what it did, and on `restore()` leaves nothing stopped, dead or faulty behind.
/// Where a kassa stands: its failure domains.
struct KassaDomains: Sendable, Equatable {
    var site: String
    var rack: String
    var assembly: String

    func name(of domain: String) -> String {
        switch domain {
        case "site": site
        case "rack": rack
        default: assembly
        }
    }
}

actor FaultInjector {
    private let cluster: ClusterHandle
    private let control: EmulatorControl?
    private let wan: WANControl?
    /// Where each kassa (FN serial) stands, for faults on a whole assembly, rack or site.
    private let domains: [String: KassaDomains]
    private let logger: Logger
    /// Registry failovers: seconds from killing the primary until a write succeeded again.
    private(set) var registryFailovers: [Double] = []
    /// A failure domain by kind (`assembly`, `rack`, `site`) and name.
    private struct Domain: Hashable, CustomStringConvertible {
        var kind: String
        var name: String
        var description: String { "\(kind) \(name)" }
    }
    /// Domains with a fault on → event index, lifted like kassa faults.
    private var faultyDomains: [Domain: Int] = [:]
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

    init(cluster: ClusterHandle, control: EmulatorControl?, wan: WANControl? = nil, kassas: [String: [String]],
         domains: [String: KassaDomains] = [:], seed: UInt64, start: ContinuousClock.Instant, logger: Logger,
         say: @escaping @Sendable (String) -> Void) {
        self.cluster = cluster
        self.control = control
        self.wan = wan
        self.domains = domains
        self.logger = logger
        self.kassas = kassas
        self.random = ChaosRandom(seed: seed ^ 0x5EED_FA17)
        self.seed = seed
        self.start = start
        self.say = say
    }

    private var now: Double {
        (ContinuousClock.now - start).inSeconds
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
                self.resume(name, event: index)
            })
        case .kassa:
            if spec.domain != nil { await domainFault(spec) } else { await kassaFault(spec) }
        case .site:
            await loseSite(spec)
        case .wan:
            await wanFault(spec)
        case .registry:
            await killRegistryPrimary(spec)
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

    /// A fault on every module of one assembly, rack or site (power lost, switch dead).
    private func domainFault(_ spec: FaultSpec) async {
        let kind = spec.domain ?? "assembly"
        let fault = spec.fault ?? "down"
        guard let control else {
            _ = record("kassa", "?", end: now, "skipped: the cluster has no emulator control plane")
            return
        }
        let pool = spec.tenants.map { codes in codes.flatMap { kassas[$0] ?? [] } } ?? kassas.values.flatMap { $0 }
        let faultyNames = faultyDomains.keys.filter { $0.kind == kind }.map(\.name)
        let candidates = Set(pool.compactMap { domains[$0]?.name(of: kind) }).subtracting(faultyNames)
        guard let name = spec.name ?? random.pick(candidates.sorted()) else {
            _ = record("kassa", kind, end: now, "skipped: no \(kind) left to fault")
            return
        }
        let domain = Domain(kind: kind, name: name)
        let label = domain.description
        do {
            try await control.set(fault, target: [kind: .string(name)])
        } catch {
            _ = record("kassa", label, end: now, "failed: \(error)")
            return
        }
        let hit = pool.filter { domains[$0]?.name(of: kind) == name }.count
        let lasts = spec.forS.map { "for \($0) s" } ?? "until the drill ends"
        let index = record("kassa", label, "\(fault) on every module of \(label) (\(hit) of the load's kassas), \(lasts)")
        faultyDomains[domain] = index
        guard let length = spec.forS else { return }
        background.append(Task {
            try? await Task.sleep(for: .milliseconds(Int(length * 1000)))
            await self.liftDomain(domain, event: index)
        })
    }

    private func liftDomain(_ domain: Domain, event: Int) async {
        try? await control?.set("none", target: [domain.kind: .string(domain.name)])
        faultyDomains[domain] = nil
        ended(event)
        say("fault lifted on \(domain)")
    }

    /// A whole site gone: its dispatchers, ingress and emulator killed, and its registry node.
    private func loseSite(_ spec: FaultSpec) async {
        let site = spec.target ?? "A"
        let names = cluster.siteProcesses(site)
        guard !names.isEmpty else {
            _ = record("site", site, end: now, "skipped: no processes of site \(site) are running")
            return
        }
        for name in names {
            do {
                try await cluster.kill9(name)
                dead.insert(name)
            } catch {
                say("could not kill \(name): \(error)")
            }
        }
        var killed = names
        var primaryLost = false
        if cluster.sites == 2 {
            let node = "pg-\(site.lowercased())"
            primaryLost = (try? await cluster.registryHA(["leader"]))?.hasPrefix(node + " ") == true
            do {
                _ = try await cluster.registryHA(["kill-node", node])
                killed.append("registry \(node)" + (primaryLost ? " (the primary)" : ""))
                registryDown = true
            } catch {
                say("could not kill site \(site)'s registry node: \(error)")
            }
        }
        let restartAfter = spec.restartAfterS ?? -1
        let index = record("site", site, "kill -9 " + killed.joined(separator: ", ")
                           + (restartAfter >= 0 ? "; back after \(restartAfter) s" : "; back after the load"))
        if restartAfter >= 0 {
            background.append(Task {
                try? await Task.sleep(for: .milliseconds(Int(restartAfter * 1000)))
                await self.bringBackSite(names, event: index)
            })
        }
        if primaryLost, let failover = await timeUntilWritable(within: .seconds(90)) {
            registryFailovers.append(failover)
            events[index].detail += String(format: "; registry writes resumed after %.1f s", failover)
            say(String(format: "registry failover: writes resumed %.1f s after the kill", failover))
        }
    }

    /// The site's processes first (that is when the site serves again), then its registry node,
    /// which rejoins as a replica (a rewind takes seconds and serves nobody meanwhile).
    private func bringBackSite(_ names: [String], event: Int) async {
        for name in names { await bringBack(name, event: -1) }
        ended(event)
        await rejoinRegistry()
    }

    /// Set while a registry node is down, so `settle` brings it back.
    private var registryDown = false

    private func rejoinRegistry() async {
        guard registryDown else { return }
        do {
            _ = try await cluster.registryHA(["up"])
            registryDown = false
            say("registry node back (as a replica)")
        } catch {
            say("could not bring the registry node back: \(error)")
        }
    }

    private func wanFault(_ spec: FaultSpec) async {
        guard let wan else {
            _ = record("wan", spec.link ?? "all", end: now, "skipped: the cluster has no WAN link (one site)")
            return
        }
        var change: [String: JSONValue] = [:]
        if let latency = spec.latencyMs { change["latency_ms"] = .number(Double(latency)) }
        if let state = spec.state { change["state"] = .string(state) }
        do {
            try await wan.change(link: spec.link, change)
        } catch {
            _ = record("wan", spec.link ?? "all", end: now, "failed: \(error)")
            return
        }
        let what = [spec.latencyMs.map { "latency \($0) ms" }, spec.state].compactMap { $0 }.joined(separator: ", ")
        let index = record("wan", spec.link ?? "all links", what + (spec.forS.map { " for \($0) s" } ?? " until the drill ends"))
        wanChanged = true
        guard let length = spec.forS else { return }
        background.append(Task {
            try? await Task.sleep(for: .milliseconds(Int(length * 1000)))
            await self.healWAN(event: index)
        })
    }

    private var wanChanged = false

    private func healWAN(event: Int) async {
        guard wanChanged else { return }
        do {
            try await wan?.change(link: nil, ["latency_ms": .number(0), "state": .string("up")])
            wanChanged = false
            say("WAN back to normal")
        } catch {
            say("could not heal the WAN: \(error)")
        }
        ended(event)
    }

    /// kill -9 the registry primary and time the failover: until a write succeeds again
    /// through the multi-host connection string.
    private func killRegistryPrimary(_ spec: FaultSpec) async {
        let killed: String
        do {
            killed = try await cluster.registryHA(["kill-leader"]).trimmingCharacters(in: .whitespacesAndNewlines)
        } catch {
            _ = record("registry", "primary", end: now, "failed: \(error)")
            return
        }
        registryDown = true
        let index = record("registry", "primary", "kill -9 of the primary: \(killed.split(separator: "\n").last ?? "")")
        let killedAt = ContinuousClock.now
        let failover = await timeUntilWritable(within: .seconds(90))
        if let failover {
            registryFailovers.append(failover)
            events[index].detail += String(format: "; writes resumed after %.1f s", failover)
            say(String(format: "registry failover: writes resumed %.1f s after the kill", failover))
        } else {
            events[index].detail += "; writes did not resume within 90 s"
        }
        ended(index)
        let restartAfter = spec.restartAfterS ?? 5
        let rest = restartAfter - (ContinuousClock.now - killedAt).inSeconds
        background.append(Task {
            if rest > 0 { try? await Task.sleep(for: .milliseconds(Int(rest * 1000))) }
            await self.rejoinRegistry()
        })
    }

    /// Seconds until a write transaction succeeds on the registry (polled every 200 ms).
    private func timeUntilWritable(within limit: Duration) async -> Double? {
        let start = ContinuousClock.now
        guard let registry = try? Registry(configuration: .init(connectionString: cluster.database, poolSize: 1), logger: logger) else {
            return nil
        }
        defer { registry.close() }
        while ContinuousClock.now - start < limit {
            // txid_current() needs a primary: a standby refuses to assign transaction ids.
            if (try? await registry.withConnection({ try $0.query("SELECT txid_current()").count })) != nil {
                return (ContinuousClock.now - start).inSeconds
            }
            try? await Task.sleep(for: .milliseconds(200))
        }
        return nil
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
        await rejoinRegistry()
        if wanChanged { await healWAN(event: -1) }
        for name in dead.sorted() {
            try? await cluster.start([name])
            dead.remove(name)
        }
    }

    /// Lifts every kassa fault (at the end of the drill, after the check).
    func liftKassaFaults() async {
        guard !faulty.isEmpty || !faultyDomains.isEmpty else { return }
        do {
            try await control?.clearAll()
        } catch {
            say("could not lift kassa faults: \(error)")
        }
        for index in Set(faulty.values).union(faultyDomains.values) where events.indices.contains(index) && events[index].endS == nil {
            events[index].detail += "; lifted after the check"
        }
        faulty.removeAll()
        faultyDomains.removeAll()
    }

    /// Cancels pending lifts (abort).
    func cancelPending() {
        for task in background { task.cancel() }
    }
}
