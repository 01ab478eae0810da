import Foundation
import KassaModel
import Load

/// What the ground-truth checker found, in the figures a drill report shows.
public struct GroundTruthFigures: Sendable, Codable, Equatable {
    public var acknowledged: Int
    public var done: Int
    public var failed: Int
    public var inFlight: Int
    public var inFlightInDoubt: Int
    public var lost: Int
    public var duplicated: Int
    public var unexpected: Int
    public var reportMismatches: Int
    public var receiptDocuments: Int
    public var annulDocuments: Int
    /// The checker's own verdict (no violation of any kind).
    public var passed: Bool
    /// The first violations, one line each, with their uuid.
    public var violations: [String]
    /// The checker's plain-text rendering.
    public var text: String

    public init(acknowledged: Int, done: Int, failed: Int, inFlight: Int, inFlightInDoubt: Int, lost: Int, duplicated: Int, unexpected: Int,
                reportMismatches: Int, receiptDocuments: Int, annulDocuments: Int, passed: Bool, violations: [String], text: String) {
        self.acknowledged = acknowledged
        self.done = done
        self.failed = failed
        self.inFlight = inFlight
        self.inFlightInDoubt = inFlightInDoubt
        self.lost = lost
        self.duplicated = duplicated
        self.unexpected = unexpected
        self.reportMismatches = reportMismatches
        self.receiptDocuments = receiptDocuments
        self.annulDocuments = annulDocuments
        self.passed = passed
        self.violations = violations
        self.text = text
    }
}

/// Signs in the dispatchers' logs that the drill reached the protocol's hard cases.
public struct ProtocolEvidence: Sendable, Codable, Equatable {
    /// Receipts in doubt whose document was found in the FN archive and recorded.
    public var reconciledRecorded: Int
    /// Receipts in doubt the FN archive showed were never made (sent elsewhere).
    public var reconciledAbsent: Int
    /// Kassas whose lease was lost (taken over).
    public var leasesLost: Int
    /// Second documents refused by the registry for a recorded job (must stay 0).
    public var secondDocuments: Int
    /// Kassas drained before they failed (FN nearly full or expiring, OFD backlog).
    public var kassasDrained: Int = 0
    /// Drained kassas that took receipts again once what drained them cleared.
    public var kassasReturned: Int = 0
    /// Assemblies and racks marked suspect after several of their kassas failed.
    public var domainsSuspect: Int = 0
    /// Times a tenant's queue grew past the receipts a dispatcher holds in memory, so that
    /// more waited in the registry (read back as the queue drained).
    public var queuesSpilled: Int = 0
}

/// Everything a drill produced: what was asked, what happened, what held.
public struct DrillReport: Sendable, Codable {
    public var drill: String
    public var summary: String
    public var seed: UInt64
    public var startedAt: Date
    public var finishedAt: Date
    public var load: Drill.LoadPlan
    public var loadSummary: LoadSummary
    public var faults: [FaultEvent]
    public var hypothesis: Drill.SteadyStateHypothesis
    public var phases: [PhaseVerdict]
    public var recovery: Recovery
    public var evidence: ProtocolEvidence
    public var groundTruth: GroundTruthFigures?
    public var expect: Drill.ExpectedOutcome
    public var aborted: String?
    public var passed: Bool
    /// Why it failed (empty when it passed).
    public var failures: [String]
    public var timeline: LoadTimeline
    /// Registry failovers in the drill: seconds from killing the primary until writes succeeded.
    public var registryFailoverS: [Double] = []

    /// Applies the drill's expectations to the figures.
    static func verdict(expect: Drill.ExpectedOutcome, phases: [PhaseVerdict], recovery: Recovery, truth: GroundTruthFigures?,
                        evidence: ProtocolEvidence, aborted: String?, faults: [FaultEvent], registryFailoverS: [Double] = []) -> [String] {
        var failures: [String] = []
        if let aborted { failures.append("aborted: \(aborted)") }
        // How long the registry took to accept writes again after each kill of its primary.
        if let limit = expect.registryFailoverWithinS {
            for failover in registryFailoverS where failover > limit {
                failures.append(String(format: "a registry failover took %.1f s, more than %.0f s", failover, limit))
            }
            if faults.contains(where: { $0.kind == "registry" && $0.detail.contains("did not resume") }) {
                failures.append("the registry did not accept writes again after its primary was killed")
            }
        }
        // What the dispatchers' logs must show (drain and backlog drills).
        if let minimum = expect.minKassasDrained, evidence.kassasDrained < minimum {
            failures.append("\(evidence.kassasDrained) kassas drained, expected at least \(minimum)")
        }
        if let minimum = expect.minKassasReturned, evidence.kassasReturned < minimum {
            failures.append("\(evidence.kassasReturned) drained kassas took receipts again, expected at least \(minimum)")
        }
        if let minimum = expect.minQueuesSpilled, evidence.queuesSpilled < minimum {
            failures.append("\(evidence.queuesSpilled) tenant queues grew past a dispatcher's window, expected at least \(minimum)")
        }
        guard let truth else { return failures + ["the ground-truth check did not run"] }
        if expect.checkerMustFail == true {
            // A drill that breaks the protocol on purpose passes when the checker catches it.
            if truth.passed { failures.append("the protocol was broken on purpose but the checker found nothing") }
            return failures
        }
        if truth.lost > expect.lost { failures.append("\(truth.lost) receipts lost (allowed \(expect.lost))") }
        if truth.duplicated > expect.duplicated { failures.append("\(truth.duplicated) receipts duplicated (allowed \(expect.duplicated))") }
        if truth.unexpected > 0 { failures.append("\(truth.unexpected) unexpected fiscal documents") }
        if truth.reportMismatches > 0 { failures.append("\(truth.reportMismatches) reports disagree with the FN archive") }
        if truth.inFlight > (expect.maxInFlight ?? 0) {
            failures.append("\(truth.inFlight) receipts still in flight at the end (allowed \(expect.maxInFlight ?? 0))")
        }
        if truth.failed > (expect.maxFailed ?? 0) {
            failures.append("\(truth.failed) receipts failed (allowed \(expect.maxFailed ?? 0))")
        }
        if truth.annulDocuments > (expect.maxAnnulled ?? 0) {
            failures.append("\(truth.annulDocuments) duplicate documents had to be annulled by refunds (allowed \(expect.maxAnnulled ?? 0))")
        }
        if !truth.passed && failures.isEmpty { failures.append("the checker found violations: \(truth.violations.prefix(3).joined(separator: "; "))") }
        for phase in phases where !phase.held {
            failures.append("steady state \(phase.phase): \(phase.notes.joined(separator: "; "))")
        }
        if let limit = expect.recoverWithinS {
            // A fault followed by the next one within the limit is judged together with it:
            // in a storm only the recovery after the last fault of the storm is measurable.
            let judged = faults.indices.filter { i in
                i == faults.count - 1 || faults[i + 1].atS > (faults[i].endS ?? faults[i].atS) + limit
            }
            for i in judged {
                let (fault, seconds) = (faults[i], recovery.secondsPerFault.indices.contains(i) ? recovery.secondsPerFault[i] : nil)
                guard let seconds else {
                    failures.append("no recovery after \(fault.kind) \(fault.target) at \(fault.atS) s")
                    continue
                }
                if seconds > limit { failures.append("recovery after \(fault.kind) \(fault.target) at \(fault.atS) s took \(seconds) s (limit \(limit) s)") }
            }
        }
        return failures
    }

    // MARK: Rendering

    public func json() throws -> Data {
        let encoder = JSONEncoder()
        encoder.outputFormatting = [.prettyPrinted, .sortedKeys]
        encoder.dateEncodingStrategy = .iso8601
        encoder.keyEncodingStrategy = .convertToSnakeCase
        return try encoder.encode(self)
    }

    /// The report as Markdown, for people.
    public func markdown(plotFile: String?) -> String {
        var md = "# Drill: \(drill)\n\n\(summary)\n\n"
        md += "**Verdict: \(passed ? "PASSED" : "FAILED")**"
        md += failures.isEmpty ? "\n\n" : "\n\n" + failures.map { "- \($0)" }.joined(separator: "\n") + "\n\n"
        md += "Seed \(seed); started \(Self.iso(startedAt)), finished \(Self.iso(finishedAt)).\n\n"
        if let plotFile { md += "![timeline](\(plotFile))\n\n" }
        md += "## Load\n\n"
        md += "| offered | for | tenants | posted | acknowledged | done | failed | still waiting | p50 | p99 | max |\n"
        md += "|---|---|---|---|---|---|---|---|---|---|---|\n"
        let l = loadSummary
        md += "| \(load.rate)/s | \(load.durationS) s | \(load.tenants.map(String.init) ?? "all") | \(l.sent) | \(l.accepted) | \(l.done) | \(l.failed) | \(l.stillWaiting) "
        md += "| \(l.latency.p50) ms | \(l.latency.p99) ms | \(l.latency.max) ms |\n\n"
        md += "## Faults\n\n| at | until | kind | target | what |\n|---|---|---|---|---|\n"
        for (i, f) in faults.enumerated() {
            let recovered = recovery.secondsPerFault.indices.contains(i) ? recovery.secondsPerFault[i].map { String(format: "%.0f s", $0) } ?? "not recovered" : "–"
            md += "| \(String(format: "%.1f", f.atS)) s | \(f.endS.map { String(format: "%.1f s", $0) } ?? "never") | \(f.kind) | \(f.target) | \(f.detail); recovered in \(recovered) |\n"
        }
        md += "\nTime to recover (throughput back to 90% of \(recovery.steadyDonePerSecond)/s): "
        md += recovery.maxS.map { String(format: "%.0f s at most", $0) } ?? (faults.isEmpty ? "no faults" : "not every fault recovered while sending") + "\n\n"
        if !recovery.backAfterStartS.isEmpty {
            let figures = recovery.backAfterStartS.map { $0.map { String(format: "%.0f s", $0) } ?? "not back while sending" }
            md += "\n\nThroughput back to 90% counted from each fault's start: \(figures.joined(separator: ", "))"
        }
        if !registryFailoverS.isEmpty {
            md += "\n\nRegistry failover (primary killed → writes accepted again): "
                + registryFailoverS.map { String(format: "%.1f s", $0) }.joined(separator: ", ")
        }
        md += "\n\n## Steady-state hypothesis\n\n| phase | seconds | throughput ratio | worst 1 s p99 | expected | held |\n|---|---|---|---|---|---|\n"
        let expected = ["before": hypothesis.before, "during": hypothesis.during, "after": hypothesis.after]
        for p in phases {
            let e = expected[p.phase]
            let want = [e?.minThroughputRatio.map { "≥ \($0)" }, e?.maxP99Ms.map { "p99 ≤ \($0) ms" }].compactMap { $0 }.joined(separator: ", ")
            md += "| \(p.phase) | \(p.fromS)–\(p.toS) | \(p.throughputRatio.map { String(format: "%.2f", $0) } ?? "–") | \(p.worstP99Ms.map { "\($0) ms" } ?? "–") "
            md += "| \(want.isEmpty ? "–" : want) | \(p.held ? "yes" : "**no**")\(p.notes.isEmpty ? "" : " (" + p.notes.joined(separator: "; ") + ")") |\n"
        }
        md += "\n## Ground truth (FN archives vs acknowledged receipts)\n\n"
        if let t = groundTruth {
            md += "| acknowledged | done | failed | in flight | lost | duplicated | unexpected | report mismatches | receipt documents | annul documents |\n"
            md += "|---|---|---|---|---|---|---|---|---|---|\n"
            md += "| \(t.acknowledged) | \(t.done) | \(t.failed) | \(t.inFlight) (\(t.inFlightInDoubt) in doubt) | \(t.lost) | \(t.duplicated) | \(t.unexpected) | \(t.reportMismatches) | \(t.receiptDocuments) | \(t.annulDocuments) |\n\n"
            md += "Expected: lost ≤ \(expect.lost), duplicated ≤ \(expect.duplicated), in flight ≤ \(expect.maxInFlight ?? 0), "
            md += "annulled duplicates ≤ \(expect.maxAnnulled ?? 0)"
            md += expect.checkerMustFail == true ? "; the protocol is broken on purpose, so the checker must find violations.\n\n" : ".\n\n"
            if !t.violations.isEmpty {
                md += "Violations (first \(t.violations.count)):\n\n" + t.violations.map { "- \($0)" }.joined(separator: "\n") + "\n\n"
            }
        } else {
            md += "The check did not run.\n\n"
        }
        md += "## Protocol evidence (dispatcher logs)\n\n"
        md += "- receipts in doubt found in the FN archive and recorded: \(evidence.reconciledRecorded)\n"
        md += "- receipts in doubt the FN archive showed were never made: \(evidence.reconciledAbsent)\n"
        md += "- leases lost to another dispatcher: \(evidence.leasesLost)\n"
        md += "- second documents found for recorded receipts (annulled by refunds): \(evidence.secondDocuments)\n"
        md += "- kassas drained before they failed: \(evidence.kassasDrained), taking receipts again since: \(evidence.kassasReturned); "
            + "assemblies or racks marked suspect: \(evidence.domainsSuspect)\n"
        md += "- tenant queues grown past a dispatcher's window (the rest waited in the registry): \(evidence.queuesSpilled)\n"
        if let aborted { md += "\nAborted: \(aborted)\n" }
        return md
    }

    /// The figures that matter, as one compact JSON object (the last line of `--json`).
    public func summaryLine(reportDirectory: String) -> String {
        var figures: [String: JSONValue] = [
            "drill": .string(drill), "passed": .bool(passed), "seed": .number(Double(seed)),
            "failures": .array(failures.map(JSONValue.string)), "faults": .number(Double(faults.count)),
            "acknowledged": .number(Double(loadSummary.accepted)), "report": .string(reportDirectory),
            "reconciled_recorded": .number(Double(evidence.reconciledRecorded)),
            "reconciled_absent": .number(Double(evidence.reconciledAbsent)),
            "queues_spilled": .number(Double(evidence.queuesSpilled)),
            "kassas_drained": .number(Double(evidence.kassasDrained)),
            "kassas_returned": .number(Double(evidence.kassasReturned)),
            "max_recovery_s": recovery.maxS.map(JSONValue.number) ?? .null,
            "registry_failover_s": registryFailoverS.max().map(JSONValue.number) ?? .null,
            "back_after_start_s": recovery.backAfterStartS.contains { $0 == nil } ? .null
                : recovery.backAfterStartS.compactMap { $0 }.max().map(JSONValue.number) ?? .null,
        ]
        if let t = groundTruth {
            figures["ground_truth"] = .object([
                "passed": .bool(t.passed), "acknowledged": .number(Double(t.acknowledged)), "done": .number(Double(t.done)),
                "failed": .number(Double(t.failed)), "in_flight": .number(Double(t.inFlight)), "lost": .number(Double(t.lost)),
                "duplicated": .number(Double(t.duplicated)), "unexpected": .number(Double(t.unexpected)),
                "report_mismatches": .number(Double(t.reportMismatches)), "receipt_documents": .number(Double(t.receiptDocuments)),
                "annul_documents": .number(Double(t.annulDocuments)),
            ])
        }
        return JSONValue.object(figures).serialized()
    }

    /// What the plot script draws: per-second throughput and p99, and the faults as spans.
    public func plotInput() throws -> Data {
        struct Plot: Encodable {
            var title: String
            var seconds: [Int]
            var accepted: [Int]
            var done: [Int]
            var p99Ms: [Int?]
            var offered: Double
            var sendEnd: Double
            var faults: [FaultEvent]
            /// Each tenant's receipts done per second (a tenant spanning both sites must keep
            /// going through a site's loss).
            var doneByTenant: [String: [Int]]
        }
        let seconds = timeline.seconds
        let tenants = Set(seconds.flatMap { ($0.doneByTenant ?? [:]).keys }).sorted()
        let byTenant = Dictionary(uniqueKeysWithValues: tenants.map { code in (code, seconds.map { $0.doneByTenant?[code] ?? 0 }) })
        let plot = Plot(title: "\(drill) (seed \(seed))", seconds: seconds.map(\.second), accepted: seconds.map(\.accepted), done: seconds.map(\.done),
                        p99Ms: seconds.map(\.p99Milliseconds), offered: load.rate, sendEnd: load.durationS, faults: faults,
                        doneByTenant: byTenant)
        let encoder = JSONEncoder()
        encoder.keyEncodingStrategy = .convertToSnakeCase
        return try encoder.encode(plot)
    }

    static func iso(_ date: Date) -> String {
        ISO8601DateFormatter().string(from: date)
    }
}
