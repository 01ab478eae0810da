import Foundation
import KassaModel
import Testing

/// The two-site drills at test size (chaos/drills/two-sites/ci) on their own two-site cluster:
/// Patroni and etcd, per site an emulator, an ingress and two dispatchers, the WAN link.
/// Serialized with the other drills (one suite), so no two drills share the machine's cores.
extension ClusterSuites.ChaosDrillTests {
    @Test(arguments: ["rack-power", "wan-latency", "site-loss"])
    func aTwoSiteDrillLosesAndDuplicatesNothing(_ drill: String) async throws {
        let outcome = try await run(drill, on: .twoSites, folder: "chaos/drills/two-sites/ci")
        #expect(outcome.status == 0, "drill \(drill) failed: \(outcome.output.suffix(3000))")
        #expect(outcome.passed)
        #expect(outcome.int("faults") ?? 0 > 0, "the drill brought no fault in")
        #expect(outcome.int("ground_truth", "acknowledged") ?? 0 > 500)
        #expect(outcome.int("ground_truth", "lost") == 0)
        #expect(outcome.int("ground_truth", "duplicated") == 0)
        #expect(outcome.int("ground_truth", "unexpected") == 0)
        #expect(outcome.int("ground_truth", "in_flight") == 0)
    }

    @Test func theRegistryFailsOverToTheOtherSiteLosingNothing() async throws {
        let outcome = try await run("registry-failover", on: .twoSites, folder: "chaos/drills/two-sites/ci")
        #expect(outcome.status == 0, "\(outcome.output.suffix(3000))")
        #expect(outcome.passed)
        #expect(outcome.int("ground_truth", "lost") == 0)
        #expect(outcome.int("ground_truth", "duplicated") == 0)
        #expect(outcome.int("ground_truth", "in_flight") == 0)
        // The failover was timed: from the kill until writes were accepted again.
        guard case .number(let failover)? = outcome.summary["registry_failover_s"] else {
            Issue.record("no registry failover time in \(outcome.summary)")
            return
        }
        #expect(failover > 0 && failover <= 25)
    }

    /// Site A cut from site B and from the registry primary (in B), then healed: site A's
    /// dispatchers leave the consumer group while cut off and rejoin after.
    @Test func aPartitionedSiteHandsItsPartitionsOverAndComesBack() async throws {
        let cluster = try await TestCluster.twoSites.start()
        let logs = ["a1", "a2"].map { cluster.directory.appendingPathComponent("logs/dispatcher-\($0).log") }
        func count(_ line: String) -> Int {
            logs.reduce(0) { total, log in
                let text = (try? String(contentsOf: log, encoding: .utf8)) ?? ""
                return total + text.components(separatedBy: line).count - 1
            }
        }
        let (leftBefore, rejoinedBefore) = (count("leaving the consumer group"), count("rejoining the consumer group"))
        let outcome = try await run("site-partition", on: .twoSites, folder: "chaos/drills/two-sites/ci")
        #expect(outcome.status == 0, "\(outcome.output.suffix(3000))")
        #expect(outcome.passed)
        #expect(outcome.int("ground_truth", "acknowledged") ?? 0 > 500)
        #expect(outcome.int("ground_truth", "lost") == 0)
        #expect(outcome.int("ground_truth", "duplicated") == 0)
        #expect(outcome.int("ground_truth", "in_flight") == 0)
        let (left, rejoined) = (count("leaving the consumer group") - leftBefore, count("rejoining the consumer group") - rejoinedBefore)
        #expect(left >= 2, "both of site A's dispatchers leave the group")
        #expect(rejoined == left, "and each rejoins once the WAN heals")
    }
}
