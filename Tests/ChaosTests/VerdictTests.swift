import Foundation
import Load
import Testing

@testable import Chaos

@Suite struct VerdictTests {
    static func drill(_ expect: String = "{lost: 0, duplicated: 0, recover_within_s: 10}") throws -> Drill {
        try Drill.parse("""
            name: t
            summary: s
            load: {rate: 10, duration_s: 40, duplicate_ratio: 0}
            faults: [{kind: kill, target: dispatcher, at_s: 10}]
            hypothesis:
              before: {min_throughput_ratio: 0.9, max_p99_ms: 2000}
              during: {min_throughput_ratio: 0.1}
              after: {min_throughput_ratio: 0.9}
            abort: {}
            expect: \(expect)
            """, source: "t.yaml")
    }

    /// 10 done per second, except `gap` seconds with nothing done.
    static func timeline(gap: Range<Int>, p99: Int = 1000) -> [LoadSecond] {
        (0..<40).map { s in
            var second = LoadSecond(second: s)
            second.done = gap.contains(s) ? 0 : 10
            second.p99Milliseconds = gap.contains(s) ? nil : p99
            return second
        }
    }

    static let kill = FaultEvent(kind: "kill", target: "dispatcher-a1", atS: 10, endS: 11, detail: "kill -9")

    static func truth(lost: Int = 0, duplicated: Int = 0, annulled: Int = 0, inFlight: Int = 0, failed: Int = 0, passed: Bool = true) -> GroundTruthFigures {
        GroundTruthFigures(acknowledged: 100, done: 100 - inFlight - failed, failed: failed, inFlight: inFlight, inFlightInDoubt: 0, lost: lost,
                           duplicated: duplicated, unexpected: 0, reportMismatches: 0, receiptDocuments: 100, annulDocuments: annulled,
                           passed: passed, violations: [], text: "")
    }

    static let evidence = ProtocolEvidence(reconciledRecorded: 0, reconciledAbsent: 0, leasesLost: 0, secondDocuments: 0)

    @Test func phasesAndRecoveryAreMeasuredAroundTheFaults() throws {
        let judge = SteadyStateJudge(drill: try Self.drill(), timeline: Self.timeline(gap: 10..<16))
        let phases = judge.phases(faults: [Self.kill])
        #expect(phases.map(\.phase) == ["before", "during", "after"])
        #expect(phases[0].fromS == 3 && phases[0].toS == 10 && phases[0].held)
        #expect(phases[0].throughputRatio == 1)
        #expect(phases[1].fromS == 10 && phases[1].toS == 12)
        #expect(phases[1].held == false, "nothing was done while the fault lasted")
        #expect(phases[2].fromS == 21 && phases[2].held)
        let recovery = judge.recovery(faults: [Self.kill])
        #expect(recovery.steadyDonePerSecond == 10)
        #expect(recovery.secondsPerFault == [5])
    }

    @Test func aSlowSecondBreaksTheHypothesis() throws {
        let judge = SteadyStateJudge(drill: try Self.drill(), timeline: Self.timeline(gap: 0..<0, p99: 2500))
        let before = judge.phases(faults: [Self.kill])[0]
        #expect(!before.held)
        #expect(before.notes.contains { $0.contains("2500 ms") })
    }

    @Test func theVerdictNamesWhatFailed() throws {
        let drill = try Self.drill()
        let judge = SteadyStateJudge(drill: drill, timeline: Self.timeline(gap: 10..<12))
        let phases = judge.phases(faults: [Self.kill]).map { p -> PhaseVerdict in var p = p; p.held = true; return p }
        let recovery = judge.recovery(faults: [Self.kill])
        func verdict(_ truth: GroundTruthFigures?, aborted: String? = nil) -> [String] {
            DrillReport.verdict(expect: drill.expect, phases: phases, recovery: recovery, truth: truth, evidence: Self.evidence,
                                aborted: aborted, faults: [Self.kill])
        }
        #expect(verdict(Self.truth()) == [])
        #expect(verdict(Self.truth(lost: 1, passed: false)).contains { $0.contains("1 receipts lost") })
        #expect(verdict(Self.truth(duplicated: 2, passed: false)).contains { $0.contains("2 receipts duplicated") })
        #expect(verdict(Self.truth(annulled: 1)).contains { $0.contains("annulled") }, "under wait, an annulled duplicate is a failure")
        #expect(verdict(Self.truth(inFlight: 3)).contains { $0.contains("in flight") })
        #expect(verdict(Self.truth(failed: 1)).contains { $0.contains("failed") })
        #expect(verdict(nil).contains { $0.contains("did not run") })
        #expect(verdict(Self.truth(), aborted: "stall").contains { $0.contains("aborted") })
    }

    @Test func drainAndBacklogDrillsNeedTheirEvidenceInTheLogs() throws {
        let drill = try Self.drill("{lost: 0, duplicated: 0, min_kassas_drained: 4, min_kassas_returned: 4, min_queues_spilled: 1}")
        let judge = SteadyStateJudge(drill: drill, timeline: Self.timeline(gap: 0..<0))
        func verdict(drained: Int, returned: Int, spilled: Int) -> [String] {
            var evidence = Self.evidence
            (evidence.kassasDrained, evidence.kassasReturned, evidence.queuesSpilled) = (drained, returned, spilled)
            return DrillReport.verdict(expect: drill.expect, phases: judge.phases(faults: [Self.kill]), recovery: judge.recovery(faults: [Self.kill]),
                                       truth: Self.truth(), evidence: evidence, aborted: nil, faults: [Self.kill])
        }
        #expect(verdict(drained: 4, returned: 4, spilled: 1) == [])
        #expect(verdict(drained: 0, returned: 0, spilled: 1) == ["0 kassas drained, expected at least 4",
                                                                  "0 drained kassas took receipts again, expected at least 4"])
        #expect(verdict(drained: 4, returned: 3, spilled: 1) == ["3 drained kassas took receipts again, expected at least 4"])
        #expect(verdict(drained: 4, returned: 4, spilled: 0) == ["0 tenant queues grew past a dispatcher's window, expected at least 1"])
    }

    @Test func aSlowOrMissingRegistryFailoverFailsTheDrill() throws {
        let drill = try Self.drill("{lost: 0, duplicated: 0, registry_failover_within_s: 30}")
        let judge = SteadyStateJudge(drill: drill, timeline: Self.timeline(gap: 0..<0))
        let killed = FaultEvent(kind: "registry", target: "pg-a1", atS: 10, endS: 11, detail: "kill -9 the primary")
        func verdict(_ failovers: [Double], _ fault: FaultEvent) -> [String] {
            DrillReport.verdict(expect: drill.expect, phases: judge.phases(faults: [fault]), recovery: judge.recovery(faults: [fault]),
                                truth: Self.truth(), evidence: Self.evidence, aborted: nil, faults: [fault], registryFailoverS: failovers)
        }
        #expect(verdict([12.4], killed) == [])
        #expect(verdict([12.4, 41.0], killed) == ["a registry failover took 41.0 s, more than 30 s"])
        var stuck = killed
        stuck.detail += "; writes did not resume within 90 s"
        #expect(verdict([], stuck) == ["the registry did not accept writes again after its primary was killed"])
    }

    @Test func aDrillThatBreaksTheProtocolPassesOnlyIfTheCheckerFails() throws {
        let drill = try Self.drill("{lost: 0, duplicated: 0, checker_must_fail: true}")
        let judge = SteadyStateJudge(drill: drill, timeline: Self.timeline(gap: 0..<0))
        func verdict(_ truth: GroundTruthFigures) -> [String] {
            DrillReport.verdict(expect: drill.expect, phases: judge.phases(faults: [Self.kill]), recovery: judge.recovery(faults: [Self.kill]),
                                truth: truth, evidence: Self.evidence, aborted: nil, faults: [Self.kill])
        }
        #expect(verdict(Self.truth(duplicated: 5, passed: false)) == [])
        #expect(verdict(Self.truth()).contains { $0.contains("found nothing") })
    }
}
