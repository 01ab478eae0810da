import Foundation
import KassaModel
import Testing

@testable import Dispatcher

@Suite struct ReceiptQueueTests {
    func job(_ n: Int) -> ReceiptJob {
        ReceiptJob(uuid: JobID.derive(groupCode: "g", externalID: "e-\(n)"), groupCode: "g", tenantID: 1, operation: .sell,
                   externalID: "e-\(n)", acceptedAt: Date(timeIntervalSince1970: 1_700_000_000), timestamp: Date(timeIntervalSince1970: 1_700_000_000),
                   callbackURL: nil,
                   receipt: Receipt(client: .init(email: "a@b.c"), company: .init(inn: "7707083893", paymentAddress: "x"),
                                    items: [.init(name: "n", price: 1, quantity: 1000, sum: 1, paymentMethod: "full_payment",
                                                  paymentObject: "commodity", vat: "none")],
                                    payments: [.init(type: 1, sum: 1)], total: 1))
    }

    func queued(_ n: Int) -> ReceiptQueue.Queued {
        ReceiptQueue.Queued(job: job(n), offset: Int64(n))
    }

    /// The uuids in the order a desk would take them: held first, then spilled.
    func order(_ queue: ReceiptQueue) -> [UUID] {
        queue.held.map(\.job.uuid) + queue.spilled.map(\.uuid)
    }

    @Test func pastTheWindowAdmittedJobsAreKeptByUUIDInOrder() {
        var queue = ReceiptQueue()
        for n in 0..<10 { queue.append(queued(n), admitted: true, window: 4) }
        #expect(queue.held.count == 4)
        #expect(queue.spilled.map(\.offset) == [4, 5, 6, 7, 8, 9])
        #expect(queue.count == 10)
        #expect(order(queue) == (0..<10).map { job($0).uuid })
    }

    @Test func aJobTheRegistryMayNotHaveIsHeldWhateverTheWindow() {
        var queue = ReceiptQueue()
        for n in 0..<4 { queue.append(queued(n), admitted: true, window: 2) }
        // Admission failed (the registry was away): its body is only here.
        let unadmitted = queue.append(queued(4), admitted: false, window: 2)
        #expect(!unadmitted)
        // A refund of ours has no offset: never spilled either.
        let refund = queue.append(ReceiptQueue.Queued(job: job(5), offset: nil), admitted: true, window: 2)
        #expect(!refund)
        #expect(queue.held.map(\.offset) == [0, 1, 4, nil])
        #expect(queue.spilled.map(\.offset) == [2, 3])
    }

    @Test func onceAnythingIsSpilledNewJobsQueueBehindIt() {
        var queue = ReceiptQueue()
        for n in 0..<3 { queue.append(queued(n), admitted: true, window: 2) }
        _ = queue.removeFirst()
        _ = queue.removeFirst()
        // The window has room again, but job 2 waits in the registry: job 3 must not pass it.
        let spilled = queue.append(queued(3), admitted: true, window: 2)
        #expect(spilled)
        #expect(queue.spilled.map(\.offset) == [2, 3])
    }

    @Test func readBackStartsBelowHalfTheWindowOneBatchAtATime() throws {
        var queue = ReceiptQueue()
        for n in 0..<12 { queue.append(queued(n), admitted: true, window: 4) }
        let atFour = queue.nextReadBack(window: 4)
        #expect(atFour == nil, "4 held: not below half the window")
        _ = queue.removeFirst()
        _ = queue.removeFirst()
        let atTwo = queue.nextReadBack(window: 4)
        #expect(atTwo == nil, "2 held: not below half the window")
        _ = queue.removeFirst()
        let next = queue.nextReadBack(window: 4)
        let batch = try #require(next)
        #expect(batch.map(\.offset) == [4, 5, 6], "fills the window back up")
        let second = queue.nextReadBack(window: 4)
        #expect(second == nil, "one batch at a time")
        #expect(queue.count == 9)
        // A job arriving during the read-back goes behind the spilled ones.
        let spilled = queue.append(queued(12), admitted: true, window: 4)
        #expect(spilled)
        _ = queue.removeFirst()
        queue.readBack(batch.map { queued(Int($0.offset)) })
        #expect(queue.held.map(\.offset) == [4, 5, 6])
        #expect(queue.spilled.map(\.offset) == [7, 8, 9, 10, 11, 12])
        #expect(queue.readingBack == 0)
    }

    @Test func aFailedReadBackPutsTheBatchBackInFront() throws {
        var queue = ReceiptQueue()
        for n in 0..<6 { queue.append(queued(n), admitted: true, window: 2) }
        _ = queue.removeFirst()
        _ = queue.removeFirst()
        let next = queue.nextReadBack(window: 2)
        let batch = try #require(next)
        #expect(batch.map(\.offset) == [2, 3])
        queue.readBackFailed(batch)
        #expect(queue.spilled.map(\.offset) == [2, 3, 4, 5])
        #expect(queue.readingBack == 0)
        let again = queue.nextReadBack(window: 2)
        #expect(again?.map(\.offset) == [2, 3])
    }

    @Test func expiryTakesHeldAndSpilledJobsAlike() {
        var queue = ReceiptQueue()
        for n in 0..<6 { queue.append(queued(n), admitted: true, window: 3) }
        let late: Set<UUID> = [job(1).uuid, job(4).uuid]
        let expired = queue.removeExpired(held: { late.contains($0.job.uuid) }, spilled: { late.contains($0) })
        #expect(expired.held.map(\.offset) == [1])
        #expect(expired.spilled.map(\.offset) == [4])
        #expect(queue.held.map(\.offset) == [0, 2])
        #expect(queue.spilled.map(\.offset) == [3, 5])
        queue.respill(expired.spilled[0])
        #expect(queue.spilled.map(\.offset) == [4, 3, 5])
    }
}
