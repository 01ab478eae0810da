import AsyncHTTPClient
import Foundation
import Load
import Logging
import Registry
import Synchronization

/// The ground-truth check a drill ends with: FN archives (documents after `baseline`) against
/// the acknowledged log, and the reports the API gives.
public protocol GroundTruthChecking: Sendable {
    /// Last fiscal document number of every FN now, so the check can ignore older documents.
    func baseline(fnDirectory: String) throws -> [String: Int64]
    /// Runs the check; the figures for the report.
    func check(fnDirectory: String, baseline: [String: Int64], acknowledgedLog: String, apiURL: String,
               credentialsPath: String) async throws -> GroundTruthFigures
}

/// Runs one drill against a running cluster: load and faults together, then the ground-truth
/// check and the report (Markdown, JSON and a PNG timeline) in `resultsDirectory`.
public struct DrillRunner: Sendable {
    public var drill: Drill
    public var seed: UInt64
    public var cluster: ClusterHandle
    public var resultsDirectory: String
    public var checker: any GroundTruthChecking
    public var logger: Logger
    /// The Python with matplotlib (the project's venv) that draws the timeline; nil: no PNG.
    public var python: String?

    public init(drill: Drill, seed: UInt64, cluster: ClusterHandle, resultsDirectory: String, checker: any GroundTruthChecking,
                logger: Logger, python: String?) {
        self.drill = drill
        self.seed = seed
        self.cluster = cluster
        self.resultsDirectory = resultsDirectory
        self.checker = checker
        self.logger = logger
        self.python = python
    }

    /// Runs the drill; `say` gets progress lines (about one a second, and one per fault).
    public func run(say: @escaping @Sendable (String) -> Void) async throws -> DrillReport {
        let startedAt = Date()
        try FileManager.default.createDirectory(atPath: resultsDirectory, withIntermediateDirectories: true)
        let tenants = try loadTenants()
        let (kassas, domains) = try await tenantKassas(tenants.map(\.groupCode))
        say("drill \(drill.name): \(drill.load.rate)/s for \(drill.load.durationS) s as \(tenants.count) tenants over \(kassas.values.map(\.count).reduce(0, +)) kassas, \(drill.faults.count) fault lines, seed \(seed)")

        if let site = drill.setup?.registryPrimary {
            say("making site \(site)'s registry node the primary")
            say(try await cluster.registryHA(["switchover", "pg-\(site.lowercased())"]).trimmingCharacters(in: .whitespacesAndNewlines))
        }
        if let setup = drill.setup, setup.emulatorFlags != nil || setup.dispatcherFlags != nil {
            say("restarting components with \(setup)")
            try await restartWithFlags(setup)
        }
        try await warmUp(tenants, say: say)
        let baseline = try checker.baseline(fnDirectory: cluster.fnDirectory)
        let logSizes = cluster.logSizes()
        let ackLog = "\(resultsDirectory)/acknowledged.jsonl"

        return try await HTTPClient.withHTTPClient { client in
            let controls = cluster.emulatorControlURLs
            let control = controls.isEmpty ? nil : EmulatorControl(baseURLs: controls, client: client)
            let wan = cluster.wanControlURL.map { WANControl(baseURL: $0, client: client) }
            var configuration = LoadConfiguration(baseURL: cluster.apiURL(site: drill.load.ingress ?? "A"), tenants: tenants, rate: drill.load.rate,
                                                  duration: .milliseconds(Int(drill.load.durationS * 1000)), seed: seed, acknowledgedLogPath: ackLog)
            configuration.duplicateRatio = drill.load.duplicateRatio ?? 0.02
            configuration.drainTimeout = .milliseconds(Int((drill.load.drainTimeoutS ?? 120) * 1000))
            let runner = LoadRunner(configuration: configuration, logger: logger)

            let start = ContinuousClock.now
            let injector = FaultInjector(cluster: cluster, control: control, wan: wan, kassas: kassas, domains: domains, seed: seed,
                                         start: start, logger: logger, say: say)
            let schedule = drill.schedule(seed: seed)
            let watch = AbortWatch(conditions: drill.abort)
            let faults = Task { await injector.run(schedule) }
            let load = Task { () throws -> (summary: LoadSummary, timeline: LoadTimeline) in
                try await runner.runRecorded { progress in
                    let phase = progress.phase == .sending ? "sending" : "draining"
                    say(String(format: "[%@ %3ds] accepted %d  done %d  failed %d  waiting %d  done/s %.1f  p99(5s) %@",
                               phase, Int(progress.elapsed.components.seconds), progress.accepted, progress.done, progress.failed,
                               progress.waiting, progress.recentDonePerSecond, progress.recentP99Milliseconds.map { "\($0) ms" } ?? "–"))
                    if let reason = watch.observe(progress) {
                        say("ABORT: \(reason)")
                    }
                }
            }
            // Abort by cancelling the load: faults are then lifted and the report says why.
            let abortPoll = Task {
                while !Task.isCancelled {
                    try? await Task.sleep(for: .milliseconds(250))
                    if watch.reason != nil {
                        load.cancel()
                        faults.cancel()
                        return
                    }
                }
            }
            let outcome = try await load.value
            abortPoll.cancel()
            faults.cancel()
            await faults.value
            if watch.reason != nil { await injector.cancelPending() }
            say("load over: \(outcome.summary.accepted) acknowledged, \(outcome.summary.done) done, \(outcome.summary.failed) failed, \(outcome.summary.stillWaiting) still waiting; settling faults")
            await injector.settle()

            say("checking ground truth: FN archives in \(cluster.fnDirectory) against \(ackLog)")
            var truth: GroundTruthFigures?
            do {
                truth = try await checker.check(fnDirectory: cluster.fnDirectory, baseline: baseline, acknowledgedLog: ackLog,
                                                apiURL: cluster.apiURL, credentialsPath: cluster.credentialsPath)
            } catch {
                say("the ground-truth check failed to run: \(error)")
            }
            let dispatcherLines = cluster.logLines(prefix: "dispatcher-", since: logSizes)
            func count(_ needles: String...) -> Int {
                dispatcherLines.count { line in needles.allSatisfy { line.contains($0) } }
            }
            let evidence = ProtocolEvidence(
                reconciledRecorded: count("reconciled", "outcome=recorded"), reconciledAbsent: count("reconciled", "outcome=absent"),
                leasesLost: count("lease lost"), secondDocuments: count("a second document for a recorded job"),
                kassasDrained: count("draining kassa"), kassasReturned: count("kassa takes receipts again"),
                domainsSuspect: count("suspect: several of its kassas failed"), queuesSpilled: count("queue longer than its window"))
            await injector.liftKassaFaults()
            if drill.setup?.emulatorFlags != nil || drill.setup?.dispatcherFlags != nil {
                say("restarting components without the drill's flags")
                try? await restartWithFlags(Drill.ClusterSetup(emulatorFlags: drill.setup?.emulatorFlags == nil ? nil : "",
                                                               dispatcherFlags: drill.setup?.dispatcherFlags == nil ? nil : ""))
            }
            await waitForRest(say: say)

            let events = await injector.events
            let judge = SteadyStateJudge(drill: drill, timeline: outcome.timeline.seconds)
            let phases = judge.phases(faults: events)
            let recovery = judge.recovery(faults: events)
            let registryFailovers = await injector.registryFailovers
            let failures = DrillReport.verdict(expect: drill.expect, phases: phases, recovery: recovery, truth: truth, evidence: evidence,
                                               aborted: watch.reason, faults: events, registryFailoverS: registryFailovers)
            var report = DrillReport(
                drill: drill.name, summary: drill.summary, seed: seed, startedAt: startedAt, finishedAt: Date(), load: drill.load,
                loadSummary: outcome.summary, faults: events, hypothesis: drill.hypothesis, phases: phases, recovery: recovery,
                evidence: evidence, groundTruth: truth, expect: drill.expect, aborted: watch.reason, passed: failures.isEmpty,
                failures: failures, timeline: outcome.timeline)
            report.registryFailoverS = registryFailovers
            try await write(report, say: say)
            return report
        }
    }

    /// Two seconds of the drill's load, drained, before the baseline and the faults. For a few
    /// seconds after its dispatchers get their partitions a fresh cluster is still leasing and
    /// connecting its kassas: the steady state before the first fault measured that (throughput
    /// 0.11-0.37 of the offered rate in CI) instead of the cluster. These receipts are all done or
    /// failed before the baseline (else the drill stops here), so the ground truth does not count them.
    private func warmUp(_ tenants: [TenantCredentials], say: @Sendable (String) -> Void) async throws {
        var configuration = LoadConfiguration(baseURL: cluster.apiURL(site: drill.load.ingress ?? "A"), tenants: tenants,
                                              rate: drill.load.rate, duration: .seconds(2), seed: seed &+ 1)
        configuration.runID = "warm-up-\(Int(Date().timeIntervalSince1970))"
        configuration.duplicateRatio = 0
        configuration.drainTimeout = .seconds(60)
        say("warming up: \(drill.load.rate)/s for 2 s, until every receipt is done")
        let summary = try await LoadRunner(configuration: configuration, logger: logger).run { _ in }
        say("warmed up: \(summary.done) done, \(summary.failed) failed, \(summary.stillWaiting) still waiting")
        // One still waiting could be fiscalized after the baseline: a document nobody posted.
        guard summary.stillWaiting == 0 else {
            throw ChaosError.cluster("the cluster did not finish its warm-up in 60 s: \(summary.stillWaiting) receipts still waiting")
        }
    }

    /// Faults lifted, receipts held by them finish (a hung kassa's receipt, a refund for a
    /// duplicate found only now): waits (bounded) until nothing is under way, so the next drill
    /// does not see this one's documents.
    private func waitForRest(say: @Sendable (String) -> Void) async {
        guard let registry = try? Registry(configuration: .init(connectionString: cluster.database, poolSize: 1), logger: logger) else { return }
        defer { registry.close() }
        let deadline = ContinuousClock.now + .seconds(120)
        var last = ""
        while ContinuousClock.now < deadline {
            guard let work = try? await registry.unfinishedWork() else { return }
            if work.waitingJobs == 0 && work.intents == 0 && work.pendingAnnulments == 0 { return }
            let now = "waiting for the cluster to come to rest: \(work.waitingJobs) receipts waiting, \(work.intents) kassas busy or in doubt, \(work.pendingAnnulments) refunds pending"
            if now != last { say(now) }
            last = now
            try? await Task.sleep(for: .milliseconds(500))
        }
        say("the cluster did not come to rest within 120 s: \(last)")
    }

    private func loadTenants() throws -> [TenantCredentials] {
        guard let data = FileManager.default.contents(atPath: cluster.credentialsPath) else {
            throw ChaosError.cluster("cannot read \(cluster.credentialsPath) (run cluster/up first)")
        }
        let decoder = JSONDecoder()
        decoder.keyDecodingStrategy = .convertFromSnakeCase
        let all = try decoder.decode([TenantCredentials].self, from: data)
        let count = drill.load.tenants ?? all.count
        guard count <= all.count else {
            throw ChaosError.cluster("the drill wants \(count) tenants; the cluster has \(all.count)")
        }
        return Array(all.prefix(count))
    }

    /// The FN serials of the tenants' active kassas by group code (kassa faults pick among them),
    /// and where each stands (faults on a whole assembly, rack or site).
    private func tenantKassas(_ groupCodes: [String]) async throws -> ([String: [String]], [String: KassaDomains]) {
        let registry = try Registry(configuration: .init(connectionString: cluster.database, poolSize: 1), logger: logger)
        defer { registry.close() }
        var serials: [String: [String]] = [:]
        var domains: [String: KassaDomains] = [:]
        for code in groupCodes {
            guard let tenant = try await registry.tenant(groupCode: code) else { throw ChaosError.registry("no tenant \(code)") }
            let active = try await registry.kassas(tenantID: tenant.id).filter { $0.state == .active }
            serials[code] = active.map(\.fnSerial).sorted()
            for kassa in active { domains[kassa.fnSerial] = KassaDomains(site: kassa.site, rack: kassa.rack, assembly: kassa.assembly) }
        }
        return (serials, domains)
    }

    /// Restarts the emulator and/or the dispatchers with extra flags (empty: none). Dispatchers
    /// are killed, not stopped: on Tansu, dispatchers that left their group gracefully and
    /// rejoined it under load were seen never to be given partitions again, while a member
    /// killed and restarted rejoins once its old session times out (6 s).
    private func restartWithFlags(_ setup: Drill.ClusterSetup) async throws {
        if let flags = setup.emulatorFlags {
            await cluster.stop("emulator")
            try await cluster.start(["emulator"], extraEnvironment: ["KASSA_EMULATOR_FLAGS": flags])
        }
        if let flags = setup.dispatcherFlags {
            let names = cluster.dispatcherNames()
            for name in names { try? await cluster.kill9(name) }
            try await cluster.start(names, extraEnvironment: ["KASSA_DISPATCHER_FLAGS": flags, "KASSA_WAIT_DISPATCHERS": "1"])
        }
    }

    private func write(_ report: DrillReport, say: @Sendable (String) -> Void) async throws {
        let directory = URL(fileURLWithPath: resultsDirectory)
        try report.json().write(to: directory.appendingPathComponent("report.json"))
        let plotInput = directory.appendingPathComponent("timeline.json")
        try report.plotInput().write(to: plotInput)
        var plotFile: String?
        if let python {
            let script = "\(cluster.root)/chaos/plot_timeline.py"
            let png = directory.appendingPathComponent("timeline.png").path
            let result = await ChildProcess.run(python, arguments: [script, plotInput.path, png])
            if result.status == 0 {
                plotFile = "timeline.png"
            } else {
                say("no timeline plot: \(result.output.suffix(500))")
            }
        }
        try Data(report.markdown(plotFile: plotFile).utf8).write(to: directory.appendingPathComponent("report.md"))
        say("report: \(resultsDirectory)/report.md")
    }
}

/// Watches progress for the drill's abort conditions (called from the load's progress callback).
final class AbortWatch: Sendable {
    private struct State {
        var reason: String?
        var slowSeconds = 0
        var lastDone = 0
        var lastDoneAt: Duration = .zero
    }

    private let conditions: Drill.AbortConditions
    private let state = Mutex(State())

    init(conditions: Drill.AbortConditions) {
        self.conditions = conditions
    }

    var reason: String? { state.withLock { $0.reason } }

    /// Returns the abort reason the first time a condition trips.
    func observe(_ progress: LoadProgress) -> String? {
        state.withLock { state in
            guard state.reason == nil else { return nil }
            if let limit = conditions.maxP99Ms, let p99 = progress.recentP99Milliseconds, p99 > limit {
                state.slowSeconds += 1
                if state.slowSeconds >= (conditions.forS ?? 10) {
                    state.reason = "p99 over the last 5 s above \(limit) ms for \(state.slowSeconds) s"
                }
            } else {
                state.slowSeconds = 0
            }
            if progress.done != state.lastDone || progress.waiting == 0 {
                state.lastDone = progress.done
                state.lastDoneAt = progress.elapsed
            } else if let stall = conditions.stallS, progress.elapsed - state.lastDoneAt > .seconds(stall) {
                state.reason = "no receipt done for \(stall) s while \(progress.waiting) wait"
            }
            return state.reason
        }
    }
}
