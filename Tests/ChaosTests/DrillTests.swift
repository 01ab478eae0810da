import Foundation
import Testing

@testable import Chaos

@Suite struct DrillTests {
    static let killDrill = """
        name: kill
        summary: kill a dispatcher now and then
        load: {rate: 50, duration_s: 60, tenants: 2}
        faults:
          - {kind: kill, target: dispatcher, at_s: 10, times: 5, every_s: [2, 6], restart_after_s: 1}
          - {kind: kassa, fault: hang, kassas: 2, at_s: 20, for_s: 5}
        hypothesis:
          before: {min_throughput_ratio: 0.9, max_p99_ms: 2500}
          during: {min_throughput_ratio: 0.3}
          after: {min_throughput_ratio: 0.9, max_p99_ms: 2500}
        abort: {max_p99_ms: 60000, for_s: 20, stall_s: 60}
        expect: {lost: 0, duplicated: 0, recover_within_s: 30}
        """

    @Test func parsesADrillFile() throws {
        let drill = try Drill.parse(Self.killDrill, source: "kill.yaml")
        #expect(drill.load.rate == 50)
        #expect(drill.load.tenants == 2)
        #expect(drill.faults.count == 2)
        #expect(drill.faults[0].kind == .kill)
        #expect(drill.faults[0].everyS == [2, 6])
        #expect(drill.faults[1].fault == "hang")
        #expect(drill.hypothesis.before.maxP99Ms == 2500)
        #expect(drill.expect.recoverWithinS == 30)
    }

    @Test func namesTheFieldThatIsWrong() {
        let broken = Self.killDrill.replacingOccurrences(of: "fault: hang", with: "fault: melt")
        #expect {
            try Drill.parse(broken, source: "x.yaml")
        } throws: { error in
            "\(error)".contains("faults[1].fault") && "\(error)".contains("hang_after_fiscalizing")
        }
        let missing = Self.killDrill.replacingOccurrences(of: "rate: 50, ", with: "")
        #expect {
            try Drill.parse(missing, source: "x.yaml")
        } throws: { error in
            "\(error)".contains("load.rate") && "\(error)".contains("required")
        }
    }

    @Test func theScheduleIsReproducibleFromTheSeed() throws {
        let drill = try Drill.parse(Self.killDrill, source: "kill.yaml")
        let first = drill.schedule(seed: 7).map(\.at)
        #expect(first == drill.schedule(seed: 7).map(\.at))
        #expect(first != drill.schedule(seed: 8).map(\.at))
        #expect(first.count == 6)
        #expect(first == first.sorted())
        // Repeats land within [2, 6] s of each other.
        let kills = drill.schedule(seed: 7).filter { $0.spec.kind == .kill }.map(\.at)
        for (a, b) in zip(kills, kills.dropFirst()) { #expect((2...6).contains(b - a)) }
    }
}
