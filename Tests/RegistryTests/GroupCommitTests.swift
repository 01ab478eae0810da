import Foundation
import Synchronization
import Testing

@testable import Registry

/// Group commit on its own: who waits, and how batches form.
struct GroupCommitTests {
    /// A batch that does not return until the test lets it, recording the batches it saw and
    /// announcing each one as it is held.
    final class HeldBatches: Sendable {
        let seen = Mutex<[[Int]]>([])
        private let releases = Mutex<[CheckedContinuation<Void, Never>]>([])
        let held: AsyncStream<Void>
        private let announce: AsyncStream<Void>.Continuation

        init() {
            (held, announce) = AsyncStream<Void>.makeStream()
        }

        func run(_ inputs: [Int]) async -> [Result<Int, any Error>] {
            seen.withLock { $0.append(inputs) }
            await withCheckedContinuation { continuation in
                releases.withLock { $0.append(continuation) }
                announce.yield()
            }
            return inputs.map { .success($0 * 10) }
        }

        /// Lets every held batch go.
        func release() {
            releases.withLock { held in
                defer { held.removeAll() }
                return held
            }.forEach { $0.resume() }
        }
    }

    @Test func callsArrivingWhileABatchRunsGoTogetherNext() async throws {
        let commit = GroupCommit<Int, Int>(maxInFlight: 1, maxBatch: 100)
        let batches = HeldBatches()
        var held = batches.held.makeAsyncIterator()
        try await withThrowingTaskGroup(of: (Int, Int).self) { group in
            group.addTask { (1, try await commit.run(1) { await batches.run($0) }) }
            // The first goes alone at once; the others arrive while it is held.
            _ = await held.next()
            for value in 2...6 {
                group.addTask { (value, try await commit.run(value) { await batches.run($0) }) }
            }
            // Nothing announces a call's arrival in the queue: look, a bounded number of times.
            for _ in 0..<2000 where commit.waitingCount < 5 { try await Task.sleep(for: .milliseconds(1)) }
            #expect(commit.waitingCount == 5)
            batches.release()
            _ = await held.next()
            batches.release()
            var answers: [Int: Int] = [:]
            for try await (value, answer) in group { answers[value] = answer }
            #expect(answers == [1: 10, 2: 20, 3: 30, 4: 40, 5: 50, 6: 60])
        }
        let seen = batches.seen.withLock { $0 }
        #expect(seen.count == 2)
        #expect(seen.first == [1])
        #expect(seen.last.map { Set($0) } == Set(2...6))
    }

    @Test func aBatchAnsweringTooFewFailsTheRest() async throws {
        let commit = GroupCommit<Int, Int>(maxInFlight: 1, maxBatch: 10)
        await #expect(throws: RegistryError.self) {
            try await commit.run(1) { _ in [] }
        }
        // The next call is not stuck behind the failed batch.
        #expect(try await commit.run(2) { inputs in inputs.map { .success($0) } } == 2)
    }
}

extension RegistryTests {
    /// Six kassas leased by "B" at epoch 1 and six registered jobs.
    static func batchScene(_ registry: Registry) async throws -> (kassas: [Int64], jobs: [UUID]) {
        let tenant = try await tenant(registry)
        var kassas: [Int64] = []
        var jobs: [UUID] = []
        for slot in 1...6 {
            let kassa = try await registry.insertKassa(placement(tenantID: tenant.id, slot: slot, fn: "99990789000\(10 + slot)"),
                                                       lastDocumentNumber: 10)
            _ = try #require(try await registry.acquireLease(kassaID: kassa.id, owner: "B", ttl: .seconds(60)))
            kassas.append(kassa.id)
            let job = UUID()
            try await registry.registerJob(uuid: job, tenantID: tenant.id, groupCode: tenant.groupCode, externalID: "order-\(slot)",
                                           operation: "sell", acceptedAt: Date(), callbackURL: nil)
            jobs.append(job)
        }
        return (kassas, jobs)
    }

    @Test func aBatchOfIntentsAnswersEachWriteAsIfAlone() async throws {
        let (registry, _) = try await Self.registry()
        defer { registry.close() }
        let (kassas, jobs) = try await Self.batchScene(registry)
        let writes = [
            IntentWrite(kassaID: kassas[0], jobUUID: jobs[0], epoch: 1, lastDocumentNumber: 10, allowElsewhere: false),
            IntentWrite(kassaID: kassas[1], jobUUID: jobs[1], epoch: 9, lastDocumentNumber: 10, allowElsewhere: false),   // fenced
            IntentWrite(kassaID: kassas[2], jobUUID: UUID(), epoch: 1, lastDocumentNumber: 10, allowElsewhere: false),    // unknown job
            IntentWrite(kassaID: kassas[3], jobUUID: jobs[0], epoch: 1, lastDocumentNumber: 10, allowElsewhere: false),   // on kassa 0 already
            IntentWrite(kassaID: kassas[0], jobUUID: jobs[0], epoch: 1, lastDocumentNumber: 10, allowElsewhere: false),   // a repeat
            IntentWrite(kassaID: kassas[4], jobUUID: jobs[4], epoch: 1, lastDocumentNumber: 10, allowElsewhere: false),
        ]
        let rows = try await registry.writeIntentRows(writes).map { try $0.get() }
        #expect(rows.count == 6)
        #expect(try rows[0].bool("inserted"))
        #expect(try !rows[1].bool("fence_held") && rows[1].optionalInt64("seen_epoch") == 1)
        #expect(try !rows[2].bool("job_found"))
        // The fourth write sees the first one's intent: each step of the batch takes a fresh snapshot.
        #expect(try rows[3].optionalInt64("elsewhere") == kassas[0])
        #expect(try !rows[4].bool("inserted") && rows[4].optionalUUID("held_job") == jobs[0])
        #expect(try rows[5].bool("inserted"))
        #expect(try await registry.intents(kassaIDs: kassas).map(\.jobUUID) == [jobs[0], jobs[4]])
    }

    @Test func aBatchOfCommitsWithOneBadDocumentFailsOnlyThatOne() async throws {
        let (registry, _) = try await Self.registry()
        defer { registry.close() }
        let (kassas, jobs) = try await Self.batchScene(registry)
        for index in 0..<3 {
            try await registry.writeIntent(kassaID: kassas[index], jobUUID: jobs[index], epoch: 1, lastDocumentNumber: 10)
        }
        let commits = [
            ResultCommit(result: Self.document(11, fn: "FN-A"), jobUUID: jobs[0], kassaID: kassas[0], epoch: 1),
            // The same FN document claimed for a second job: the whole statement fails on it.
            ResultCommit(result: Self.document(11, fn: "FN-A"), jobUUID: jobs[1], kassaID: kassas[1], epoch: 1),
            ResultCommit(result: Self.document(11, fn: "FN-C"), jobUUID: jobs[2], kassaID: kassas[2], epoch: 7),   // fenced
        ]
        let results = await registry.commitResultRows(commits)
        #expect(results.count == 3)
        #expect(try results[0].get().bool("inserted"))
        #expect {
            try results[1].get()
        } throws: { error in
            guard case RegistryError.conflict = error else { return false }
            return true
        }
        #expect(try !results[2].get().bool("fence_held"))
        #expect(try await registry.finishedJobs(uuids: jobs) == [jobs[0]])
        #expect(try await registry.intents(kassaIDs: kassas).map(\.jobUUID) == [jobs[1], jobs[2]])
    }

    @Test func concurrentCallsGetTheirOwnOutcomes() async throws {
        let (registry, _) = try await Self.registry(poolSize: 2)
        defer { registry.close() }
        let (kassas, jobs) = try await Self.batchScene(registry)
        // Twelve calls at once on two connections: whichever batches they form, each caller
        // gets the outcome its own write has.
        let outcomes = try await withThrowingTaskGroup(of: (Int, Bool).self) { group in
            for index in 0..<12 {
                group.addTask {
                    do {
                        let epoch: Int64 = index < 6 ? 1 : 5
                        try await registry.writeIntent(kassaID: kassas[index % 6], jobUUID: jobs[index % 6], epoch: epoch, lastDocumentNumber: 10)
                        return (index, true)
                    } catch RegistryError.fenced {
                        return (index, false)
                    }
                }
            }
            return try await group.reduce(into: [Int: Bool]()) { $0[$1.0] = $1.1 }
        }
        #expect(outcomes == Dictionary(uniqueKeysWithValues: (0..<12).map { ($0, $0 < 6) }))
        let recorded = try await withThrowingTaskGroup(of: CommitOutcome.self) { group in
            for index in 0..<6 {
                group.addTask {
                    try await registry.commitResult(Self.document(11 + Int64(index), fn: "FN-\(index)"), jobUUID: jobs[index],
                                                    kassaID: kassas[index], epoch: 1)
                }
            }
            return try await group.reduce(into: [CommitOutcome]()) { $0.append($1) }
        }
        #expect(recorded == Array(repeating: .recorded, count: 6))
        #expect(try await registry.finishedJobs(uuids: jobs) == Set(jobs))
    }

    @Test func concurrentRepeatChecksAnswerEachJob() async throws {
        let (registry, _) = try await Self.registry(poolSize: 2)
        defer { registry.close() }
        let (_, jobs) = try await Self.batchScene(registry)
        let asked = jobs + (0..<6).map { _ in UUID() }
        let answers = try await withThrowingTaskGroup(of: (UUID, String).self) { group in
            for uuid in asked { group.addTask { (uuid, try await registry.groupCode(ofJob: uuid) ?? "unknown") } }
            return try await group.reduce(into: [UUID: String]()) { $0[$1.0] = $1.1 }
        }
        #expect(answers == Dictionary(uniqueKeysWithValues: asked.map { ($0, jobs.contains($0) ? "shop1" : "unknown") }))
        // One at a time, each check is a batch of one (the prepared single-key statement).
        #expect(try await registry.groupCode(ofJob: jobs[0]) == "shop1")
        #expect(try await registry.groupCode(ofJob: UUID()) == nil)
    }

    @Test func aBatchOfRepeatChecksAnswersTheJobsItKnows() async throws {
        let (registry, _) = try await Self.registry()
        defer { registry.close() }
        let (_, jobs) = try await Self.batchScene(registry)
        let unknown = UUID()
        // Two or more: the list form; one: the single-key form.
        #expect(try await registry.groupCodes(ofJobs: [jobs[0], unknown, jobs[3]]) == [jobs[0]: "shop1", jobs[3]: "shop1"])
        #expect(try await registry.groupCodes(ofJobs: [unknown, UUID()]) == [:])
        #expect(try await registry.groupCodes(ofJobs: [jobs[5]]) == [jobs[5]: "shop1"])
        #expect(try await registry.groupCodes(ofJobs: [unknown]) == [:])
    }
}
