import Foundation
import Testing

@testable import Chaos

/// Every drill file in chaos/drills (and its folders) parses and validates: a typo in a shipped
/// drill shows here, not an hour into a run.
@Suite struct ShippedDrillsTests {
    static let root = URL(fileURLWithPath: #filePath).deletingLastPathComponent().deletingLastPathComponent().deletingLastPathComponent()

    static var drillFiles: [String] {
        let base = root.appendingPathComponent("chaos/drills").path
        let files = FileManager.default.enumerator(atPath: base)?.compactMap { $0 as? String } ?? []
        return files.filter { $0.hasSuffix(".yaml") }.sorted().map { "\(base)/\($0)" }
    }

    @Test func thereAreDrillsForOneSiteAndForTwo() {
        let names = Self.drillFiles.map { URL(fileURLWithPath: $0).lastPathComponent }
        #expect(names.contains("dispatcher-kill.yaml"))
        #expect(Self.drillFiles.filter { $0.contains("/two-sites/") }.count >= 6)
    }

    @Test(arguments: drillFiles)
    func aShippedDrillParses(_ path: String) throws {
        let drill = try Drill.load(path: path)
        #expect(!drill.faults.isEmpty)
        #expect(drill.expect.lost == 0 && drill.expect.duplicated == 0)
    }

    @Test(arguments: [
        ("{kind: kassa, domain: shelf, fault: down, at_s: 1}", "faults[0].domain"),
        ("{kind: kassa, name: A1-1, fault: down, at_s: 1}", "faults[0].name"),
        ("{kind: wan, at_s: 1}", "faults[0].latency_ms"),
        ("{kind: wan, latency_ms: 70000, at_s: 1}", "faults[0].latency_ms"),
        ("{kind: wan, state: melted, at_s: 1}", "faults[0].state"),
        ("{kind: site, at_s: 1}", "faults[0].target"),
    ])
    func aTwoSiteFaultNamesItsWrongField(_ fault: String, _ field: String) {
        let yaml = """
            name: x
            summary: x
            load: {rate: 10, duration_s: 10}
            faults:
              - \(fault)
            hypothesis: {before: {}, during: {}, after: {}}
            abort: {}
            expect: {lost: 0, duplicated: 0}
            """
        do {
            _ = try Drill.parse(yaml, source: "x.yaml")
            Issue.record("\(fault) was accepted")
        } catch {
            guard case .invalid(_, let reported, _) = error else {
                Issue.record("unexpected \(error)")
                return
            }
            #expect(reported == field)
        }
    }
}
