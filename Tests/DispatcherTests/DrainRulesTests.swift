import Foundation
import KassaWire
import Testing

@testable import Dispatcher

@Suite struct DrainRulesTests {
    static let now = Date(timeIntervalSince1970: 1_800_000_000)

    static func status(used: Int64 = 1_000, capacity: Int64 = 250_000, expiresIn: TimeInterval = 400 * 86_400,
                       undelivered: Int64 = 0) -> KassaStatus {
        KassaStatus(
            fnSerial: "9999010010010001", fnCapacity: capacity, documentsUsed: used, lastDocumentNumber: used,
            fnExpiresAt: now.addingTimeInterval(expiresIn), registrationNumber: "0000010010010001", inn: "7707083893",
            paymentAddress: "https://shop.example", sno: ["osn"], shiftOpen: true, shiftNumber: 1, shiftOpenedAt: now,
            receiptsInShift: 10, undeliveredDocuments: undelivered, highestEpoch: 1)
    }

    let rules = DrainRules()

    @Test func aHealthyKassaKeepsTakingReceipts() {
        #expect(rules.verdict(Self.status(), now: Self.now) == nil)
    }

    @Test func anFNNearlyFullOrExpiringIsDrainedForService() {
        let full = rules.verdict(Self.status(used: 249_600), now: Self.now)
        #expect(full == .fnNearlyFull(documentsLeft: 400))
        #expect(full?.needsService == true)
        let expiring = rules.verdict(Self.status(expiresIn: 3_600), now: Self.now)
        #expect(expiring == .fnExpiring(at: Self.now.addingTimeInterval(3_600)))
        #expect(expiring?.needsService == true)
    }

    @Test func anOFDBacklogDrainsUntilItIsDownToHalf() {
        let backlog = rules.verdict(Self.status(undelivered: 1_001), now: Self.now)
        #expect(backlog == .ofdBacklog(undelivered: 1_001))
        #expect(backlog?.needsService == false)
        // At the limit it is fine for a kassa taking receipts...
        #expect(rules.verdict(Self.status(undelivered: 1_000), now: Self.now) == nil)
        // ...but a drained one waits until the backlog is down to half, so it does not flap.
        #expect(rules.verdict(Self.status(undelivered: 700), now: Self.now, drained: backlog) == .ofdBacklog(undelivered: 700))
        #expect(rules.verdict(Self.status(undelivered: 500), now: Self.now, drained: backlog) == nil)
    }

    @Test func theFNComesFirst() {
        // A full FN needs service whatever its OFD backlog.
        #expect(rules.verdict(Self.status(used: 249_900, undelivered: 5_000), now: Self.now) == .fnNearlyFull(documentsLeft: 100))
    }
}
