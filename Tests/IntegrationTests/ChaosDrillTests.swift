import Foundation
import KassaModel
import Testing

extension ClusterSuites {
    /// The drills of chaos/drills/ci (small versions of chaos/drills) against their own cluster,
    /// one at a time, through `kassa chaos run`: the ground-truth checker must find 0 lost and 0
    /// duplicated receipts, and must catch the drill that breaks the protocol on purpose.
    @Suite(.serialized) struct ChaosDrillTests {
        struct Outcome {
            let status: Int32
            let summary: JSONValue
            let output: String

            func int(_ path: String...) -> Int? {
                var value: JSONValue? = summary
                for key in path { value = value?[key] }
                if case .number(let n)? = value { return Int(n) }
                return nil
            }

            var passed: Bool { summary["passed"] == .bool(true) }
        }

        func run(_ drill: String, seed: Int = 42, on testCluster: TestCluster = .drills, folder: String = "chaos/drills/ci") async throws -> Outcome {
            let cluster = try await testCluster.start()
            let results = cluster.directory.appendingPathComponent("drill-results/\(drill)")
            let errors = cluster.directory.appendingPathComponent("drill-\(drill).stderr")
            let finished = try await ChildProcess.run(
                cluster.root.appendingPathComponent(".build/debug/kassa"),
                ["chaos", "run", "\(folder)/\(drill).yaml", "--cluster-dir", cluster.directory.path,
                 "--results", results.path, "--seed", "\(seed)", "--json"],
                currentDirectory: cluster.root, captureOutput: true, errors: .file(errors))
            let output = finished.output
            let last = output.split(separator: "\n").last.map(String.init) ?? ""
            let summary = (try? JSONValue.parse(Array(last.utf8))) ?? .null
            return Outcome(status: finished.status, summary: summary, output: output)
        }

        @Test(arguments: ["dispatcher-kill", "dispatcher-pause", "kassa-drop-answer", "emulator-restart", "topic-replay", "kassa-ofd-backlog"])
        func drillLosesAndDuplicatesNothing(_ drill: String) async throws {
            let outcome = try await run(drill)
            #expect(outcome.status == 0, "drill \(drill) failed: \(outcome.output.suffix(3000))")
            #expect(outcome.passed)
            #expect(outcome.int("faults") ?? 0 > 0, "the drill brought no fault in")
            #expect(outcome.int("ground_truth", "acknowledged") ?? 0 > 500)
            #expect(outcome.int("ground_truth", "lost") == 0)
            #expect(outcome.int("ground_truth", "duplicated") == 0)
            #expect(outcome.int("ground_truth", "unexpected") == 0)
            #expect(outcome.int("ground_truth", "in_flight") == 0)
            if drill == "kassa-drop-answer" {
                // Every dropped answer was a document made and not answered: found in the archive.
                #expect(outcome.int("reconciled_recorded") ?? 0 > 0)
            }
        }

        /// One tenant's kassas offered more than they can do, so none is ever idle, when the OFD link
        /// of four goes down: a busy kassa due for its health check reads its status between two
        /// receipts, so the four are drained all the same, and take receipts again once their
        /// backlog is delivered. (With the check only on idle kassas none was drained.)
        @Test func busyKassasWithAnOFDBacklogAreDrainedAndComeBack() async throws {
            let outcome = try await run("kassa-ofd-backlog-saturated")
            #expect(outcome.status == 0, "drill failed: \(outcome.output.suffix(3000))")
            #expect(outcome.passed)
            #expect(outcome.int("kassas_drained") ?? 0 >= 4)
            #expect(outcome.int("kassas_returned") ?? 0 >= 4)
            #expect(outcome.int("ground_truth", "acknowledged") ?? 0 > 500)
            #expect(outcome.int("ground_truth", "lost") == 0)
            #expect(outcome.int("ground_truth", "duplicated") == 0)
            #expect(outcome.int("ground_truth", "in_flight") == 0)
        }

        /// A tenant whose kassas are all down builds a backlog past what the dispatchers hold in
        /// memory (one receipt per kassa here); the rest waits in the registry, is read back as the
        /// kassas return, and every receipt is fiscalized once.
        @Test func aBacklogPastTheDispatchersWindowWaitsInTheRegistryAndLosesNothing() async throws {
            let outcome = try await run("tenant-backlog")
            #expect(outcome.status == 0, "\(outcome.output.suffix(3000))")
            #expect(outcome.int("queues_spilled") ?? 0 >= 1, "the backlog never grew past the window")
            #expect(outcome.int("ground_truth", "acknowledged") ?? 0 > 1500)
            #expect(outcome.int("ground_truth", "lost") == 0)
            #expect(outcome.int("ground_truth", "duplicated") == 0)
            #expect(outcome.int("ground_truth", "in_flight") == 0)
        }

        @Test func aHungKassaHoldsOnlyItsOwnReceipt() async throws {
            let outcome = try await run("kassa-hang-wait")
            #expect(outcome.status == 0, "\(outcome.output.suffix(3000))")
            #expect(outcome.int("ground_truth", "lost") == 0)
            #expect(outcome.int("ground_truth", "duplicated") == 0)
            // Under `wait`, the receipt on each hung kassa stays in flight; nothing else does.
            #expect((1...2).contains(outcome.int("ground_truth", "in_flight") ?? -1))
        }

        @Test func resendAndAnnulLeavesOneEffectiveSale() async throws {
            let outcome = try await run("kassa-hang-resend-annul")
            #expect(outcome.status == 0, "\(outcome.output.suffix(3000))")
            #expect(outcome.int("ground_truth", "lost") == 0)
            #expect(outcome.int("ground_truth", "duplicated") == 0)
            #expect(outcome.int("ground_truth", "in_flight") == 0)
            // Kassas that fiscalized and hung made duplicates once back; each is annulled by a refund.
            #expect(outcome.int("ground_truth", "annul_documents") ?? 0 >= 1)
        }

        @Test func theCheckerCatchesABrokenProtocol() async throws {
            let outcome = try await run("broken-skip-reconcile")
            // The drill passes because the checker failed: it found the duplicates.
            #expect(outcome.status == 0, "\(outcome.output.suffix(3000))")
            #expect(outcome.summary["ground_truth"]?["passed"] == .bool(false))
            #expect(outcome.int("ground_truth", "duplicated") ?? 0 > 0)
        }
    }
}
