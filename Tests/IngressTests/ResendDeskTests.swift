import Foundation
import KassaModel
import Logging
import Registry
import Testing

@testable import Ingress

/// The reopen → publish → restore sequence, with an in-memory store and publisher.
@Suite struct ResendDeskTests {
    static let tenantID: Int64 = 7

    /// What happened, in order, across the store and the publisher.
    actor Journal {
        private(set) var events: [String] = []
        func record(_ event: String) { events.append(event) }
    }

    /// Jobs by uuid: status, body, error and resend count, changed the way the registry does.
    actor FakeStore: ResendStore {
        struct Job {
            var status: String
            var body: String?
            var errorCode: Int?
            var acceptedAt: Date
            var resendCount = 0
        }
        var jobs: [UUID: Job]
        let journal: Journal
        /// Jobs another caller reopens first (the store skips them).
        var takenByOthers: Set<UUID> = []

        init(jobs: [UUID: Job], journal: Journal) {
            self.jobs = jobs
            self.journal = journal
        }

        func setTakenByOthers(_ uuids: Set<UUID>) { takenByOthers = uuids }

        func failedJobs(tenantID: Int64, filter: ResendFilter) async throws -> [FailedJob] {
            await journal.record("list")
            return jobs.filter { $0.value.status == "fail" && (filter.uuids?.contains($0.key) ?? true) }
                .sorted { $0.value.acceptedAt < $1.value.acceptedAt }
                .map { uuid, job in
                    FailedJob(uuid: uuid, externalID: "e-\(uuid)", body: job.body, errorCode: job.errorCode, errorType: "agent",
                              errorText: "INN", acceptedAt: job.acceptedAt, finishedAt: job.acceptedAt, resendCount: job.resendCount)
                }
        }

        func reopenForResend(uuids: [UUID], tenantID: Int64) async throws -> [ReopenedJob] {
            await journal.record("reopen \(uuids.count)")
            var reopened: [ReopenedJob] = []
            for uuid in uuids {
                guard var job = jobs[uuid], job.status == "fail", let body = job.body, !takenByOthers.contains(uuid) else { continue }
                job.status = "wait"
                job.resendCount += 1
                jobs[uuid] = job
                reopened.append(ReopenedJob(uuid: uuid, body: body, resendCount: job.resendCount, previousErrorCode: job.errorCode,
                                            previousErrorType: "agent", previousErrorText: "INN", previousKassaID: 1,
                                            previousFinishedAt: job.acceptedAt))
            }
            return reopened
        }

        func restoreFailure(_ reopened: ReopenedJob, tenantID: Int64) async throws -> Bool {
            await journal.record("restore \(reopened.uuid)")
            guard var job = jobs[reopened.uuid], job.status == "wait" else { return false }
            job.status = "fail"
            job.errorCode = reopened.previousErrorCode
            job.resendCount -= 1
            jobs[reopened.uuid] = job
            return true
        }

        func status(_ uuid: UUID) -> String? { jobs[uuid]?.status }
    }

    /// Acknowledges every job except those in `refused`; records what it published.
    final class FakePublisher: JobPublisher {
        let journal: Journal
        let refused: Set<UUID>
        let connected: Bool

        init(journal: Journal, refused: Set<UUID> = [], connected: Bool = true) {
            self.journal = journal
            self.refused = refused
            self.connected = connected
        }

        func publish(_ job: ReceiptJob) async throws(PublishFailure) {
            await journal.record("publish \(job.uuid) \(job.groupCode)")
            if refused.contains(job.uuid) { throw .unavailable("broker timed out") }
        }

        var isConnected: Bool { connected }
        func flush(timeout: Duration) async -> Bool { true }
    }

    static func body(_ uuid: UUID) throws -> String {
        let receipt = Receipt(
            client: .init(email: "buyer@example.com"),
            company: .init(inn: "7707083893", paymentAddress: "https://tea.example"),
            items: [.init(name: "Tea", price: 15_050, quantity: 2_000, sum: 30_100, paymentMethod: "full_payment",
                          paymentObject: "commodity", vat: "vat20")],
            payments: [.init(type: 1, sum: 30_100)], total: 30_100)
        let job = ReceiptJob(uuid: uuid, groupCode: "shop-tea", tenantID: tenantID, operation: .sell, externalID: "e-\(uuid)",
                             acceptedAt: Date(timeIntervalSince1970: 1_800_000_000), timestamp: Date(timeIntervalSince1970: 1_800_000_000),
                             callbackURL: nil, receipt: receipt)
        return String(decoding: job.encoded(), as: UTF8.self)
    }

    /// Four failed jobs (the last without a body) accepted a minute apart, and one done job.
    static func scene() throws -> (jobs: [UUID: FakeStore.Job], failed: [UUID], done: UUID) {
        let base = Date(timeIntervalSince1970: 1_800_000_000)
        let failed = (0..<4).map { _ in UUID() }
        var jobs: [UUID: FakeStore.Job] = [:]
        for (index, uuid) in failed.enumerated() {
            jobs[uuid] = .init(status: "fail", body: index == 3 ? nil : try body(uuid), errorCode: 2003,
                               acceptedAt: base.addingTimeInterval(Double(index) * 60))
        }
        let done = UUID()
        jobs[done] = .init(status: "done", body: try body(done), errorCode: nil, acceptedAt: base)
        return (jobs, failed, done)
    }

    static let logger = Logger(label: "resend-desk-tests")

    @Test func reopensThenPublishesAndRestoresWhatKafkaRefused() async throws {
        let (jobs, failed, _) = try Self.scene()
        let journal = Journal()
        let store = FakeStore(jobs: jobs, journal: journal)
        let refused = failed[1]
        let desk = ResendDesk(store: store, publisher: FakePublisher(journal: journal, refused: [refused]), logger: Self.logger)

        let outcome = try await desk.resend(tenantID: Self.tenantID, filter: ResendFilter())
        #expect(outcome.resent == [failed[0], failed[2]])  // oldest accepted first
        #expect(outcome.matched.map(\.uuid) == failed)
        #expect(!outcome.dryRun)
        let reasons = Dictionary(uniqueKeysWithValues: outcome.notResent.map { ($0.uuid, $0.reason) })
        #expect(reasons.count == 2)
        #expect(reasons[refused]?.contains("broker timed out") == true)
        #expect(reasons[refused]?.contains("stays failed") == true)
        #expect(reasons[failed[3]]?.contains("before job bodies were stored") == true)

        #expect(await store.status(failed[0]) == "wait")
        #expect(await store.status(failed[2]) == "wait")
        #expect(await store.status(refused) == "fail")
        #expect(await store.status(failed[3]) == "fail")

        // Order: list, one reopen of the three with bodies, publishes (keyed by the group), then the restore.
        let events = await journal.events
        #expect(events.first == "list")
        #expect(events.dropFirst().first == "reopen 3")
        let publishes = events.filter { $0.hasPrefix("publish ") }
        #expect(Set(publishes) == Set([failed[0], failed[1], failed[2]].map { "publish \($0) shop-tea" }))
        let restoreIndex = try #require(events.firstIndex(of: "restore \(refused)"))
        let refusedPublishIndex = try #require(events.firstIndex(of: "publish \(refused) shop-tea"))
        #expect(refusedPublishIndex < restoreIndex)
        #expect(events.filter { $0.hasPrefix("restore") }.count == 1)
    }

    @Test func aDryRunChangesAndPublishesNothing() async throws {
        let (jobs, failed, _) = try Self.scene()
        let journal = Journal()
        let store = FakeStore(jobs: jobs, journal: journal)
        let desk = ResendDesk(store: store, publisher: FakePublisher(journal: journal), logger: Self.logger)
        let outcome = try await desk.resend(tenantID: Self.tenantID, filter: ResendFilter(), dryRun: true)
        #expect(outcome.dryRun)
        #expect(outcome.resent.isEmpty)
        #expect(outcome.matched.map(\.uuid) == failed)
        #expect(await journal.events == ["list"])
        for uuid in failed { #expect(await store.status(uuid) == "fail") }
    }

    @Test func withKafkaAwayNothingIsReopened() async throws {
        let (jobs, failed, _) = try Self.scene()
        let journal = Journal()
        let store = FakeStore(jobs: jobs, journal: journal)
        let desk = ResendDesk(store: store, publisher: FakePublisher(journal: journal, connected: false), logger: Self.logger)
        await #expect(throws: ResendFailure.self) {
            try await desk.resend(tenantID: Self.tenantID, filter: ResendFilter())
        }
        #expect(await journal.events == ["list"])
        for uuid in failed { #expect(await store.status(uuid) == "fail") }
    }

    @Test func requestedJobsThatAreNotFailedOrTakenByAnotherCallAreReportedNotResent() async throws {
        let (jobs, failed, done) = try Self.scene()
        let journal = Journal()
        let store = FakeStore(jobs: jobs, journal: journal)
        await store.setTakenByOthers([failed[2]])
        let desk = ResendDesk(store: store, publisher: FakePublisher(journal: journal), logger: Self.logger)
        let unknown = UUID()
        let outcome = try await desk.resend(tenantID: Self.tenantID,
                                            filter: ResendFilter(uuids: [failed[0], failed[2], done, unknown, unknown]))
        #expect(outcome.resent == [failed[0]])
        let reasons = Dictionary(uniqueKeysWithValues: outcome.notResent.map { ($0.uuid, $0.reason) })
        #expect(outcome.notResent.count == 3)  // the repeated unknown uuid is reported once
        #expect(reasons[done]?.contains("not a failed receipt") == true)
        #expect(reasons[unknown]?.contains("not a failed receipt") == true)
        #expect(reasons[failed[2]]?.contains("no longer failed") == true)
        #expect(await store.status(done) == "done")
    }

    @Test func nothingMatchingMeansNoRegistryWriteAndNoPublish() async throws {
        let journal = Journal()
        let store = FakeStore(jobs: [:], journal: journal)
        let desk = ResendDesk(store: store, publisher: FakePublisher(journal: journal, connected: false), logger: Self.logger)
        let outcome = try await desk.resend(tenantID: Self.tenantID, filter: ResendFilter(errorCode: 9999))
        #expect(outcome.resent.isEmpty && outcome.notResent.isEmpty && outcome.matched.isEmpty)
        #expect(await journal.events == ["list"])
    }
}
