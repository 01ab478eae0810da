import Foundation
import KassaWire
import Testing

@testable import KassaEmulator

@Suite("FiscalDrive rules")
struct FiscalDriveTests {
    let now = Fixture.start

    @Test func firstSaleOpensTheShift() throws {
        var drive = Fixture.drive()
        let documents = try drive.sell(Fixture.receipt(), epoch: 1, now: now)
        #expect(documents.map(\.kind) == [.openShift, .receipt])
        #expect(documents.map(\.fiscalDocumentNumber) == [1, 2])
        let receipt = try #require(documents.last)
        #expect(receipt.fiscalReceiptNumber == 1)
        #expect(receipt.shiftNumber == 1)
        #expect(receipt.jobID == "3f2a0000-0000-4000-8000-000000000001")
        #expect(receipt.total == 30000)
        #expect(drive.shift.isOpen && drive.shift.receipts == 1 && drive.shift.openedAt == now)
        #expect(drive.documentsUsed == 2 && drive.lastDocumentNumber == 2)

        let second = try drive.sell(Fixture.receipt(job: "second"), epoch: 1, now: now + 5)
        #expect(second.map(\.kind) == [.receipt])
        #expect(second.first?.fiscalReceiptNumber == 2)
        #expect(second.first?.fiscalDocumentNumber == 3)
    }

    @Test func documentDateTimeIsMoscowTime() throws {
        var drive = Fixture.drive()
        // 2026-11-23T10:15:02Z
        let at = Date(timeIntervalSince1970: 1_795_428_902)
        let receipt = try #require(try drive.sell(Fixture.receipt(), epoch: 0, now: at).last)
        #expect(receipt.datetime == "23.11.2026 13:15:02")
        #expect(WireTime.parseDocumentDateTime(receipt.datetime) == at)
        #expect(WireTime.iso8601(at) == "2026-11-23T10:15:02Z")
        #expect(WireTime.parseISO8601("2026-11-23T10:15:02Z") == at)
    }

    @Test func shiftOlderThan24HoursIsRefusedUntilClosed() throws {
        var drive = Fixture.drive()
        _ = try drive.sell(Fixture.receipt(), epoch: 1, now: now)
        let almost = now + 24 * 3600 - 1
        _ = try drive.sell(Fixture.receipt(job: "b"), epoch: 1, now: almost)
        let late = now + 24 * 3600
        #expect(Fixture.refusal { _ = try drive.sell(Fixture.receipt(job: "c"), epoch: 1, now: late) } == .shiftExpired)
        #expect(drive.lastDocumentNumber == 3)

        let z = try #require(try drive.closeShift(epoch: 1, now: late))
        #expect(z.kind == .closeShift && z.receiptsInShift == 2 && z.shiftNumber == 1)
        let next = try drive.sell(Fixture.receipt(job: "c"), epoch: 1, now: late + 1)
        #expect(next.map(\.kind) == [.openShift, .receipt])
        #expect(next.last?.shiftNumber == 2)
        #expect(next.last?.fiscalReceiptNumber == 1)
    }

    @Test func shiftCommandsAreNoOpsWhenAlreadyInThatState() throws {
        var drive = Fixture.drive()
        #expect(try drive.closeShift(epoch: 0, now: now) == nil)
        #expect(try drive.openShift(epoch: 0, now: now)?.kind == .openShift)
        #expect(try drive.openShift(epoch: 0, now: now) == nil)
        #expect(drive.lastDocumentNumber == 1)
    }

    @Test func capacityKeepsRoomForTheZReport() throws {
        // 5 documents: open shift, 3 receipts, and the Z-report.
        var drive = Fixture.drive(capacity: 5)
        for job in ["a", "b", "c"] {
            _ = try drive.sell(Fixture.receipt(job: job), epoch: 0, now: now)
        }
        #expect(drive.documentsUsed == 4)
        #expect(Fixture.refusal { _ = try drive.sell(Fixture.receipt(job: "d"), epoch: 0, now: now) } == .fnFull)
        #expect(try drive.closeShift(epoch: 0, now: now) != nil)
        #expect(drive.documentsUsed == 5)
        #expect(Fixture.refusal { _ = try drive.openShift(epoch: 0, now: now) } == .fnFull)

        // A receipt that must open a shift needs two documents plus the reserve.
        var small = Fixture.drive(capacity: 2)
        #expect(Fixture.refusal { _ = try small.sell(Fixture.receipt(), epoch: 0, now: now) } == .fnFull)
        #expect(small.documentsUsed == 0)
    }

    @Test func expiredDriveRefusesReceiptsButClosesItsShift() throws {
        var drive = Fixture.drive(lifetime: .duration(.seconds(3600)))
        #expect(drive.expiresAt == now + 3600)
        _ = try drive.sell(Fixture.receipt(), epoch: 0, now: now)
        #expect(Fixture.refusal { _ = try drive.sell(Fixture.receipt(job: "x"), epoch: 0, now: now + 3600) } == .fnExpired)
        #expect(try drive.closeShift(epoch: 0, now: now + 3600) != nil)
        #expect(Fixture.refusal { _ = try drive.openShift(epoch: 0, now: now + 3600) } == .fnExpired)
    }

    @Test func everyDocumentIsQueuedForTheOFDUntilDelivered() throws {
        var drive = Fixture.drive()
        #expect(drive.undeliveredDocuments == 0 && drive.status.oldestUndeliveredAt == nil)
        _ = try drive.sell(Fixture.receipt(job: "a"), epoch: 0, now: now + 0.7)
        _ = try drive.sell(Fixture.receipt(job: "b"), epoch: 0, now: now + 10)
        // Open shift and two receipts; the oldest is the first document's time, to the second.
        #expect(drive.undeliveredDocuments == 3)
        #expect(drive.status.oldestUndeliveredAt == now)
        #expect(drive.deliverAllToOFD() == 3)
        #expect(drive.undeliveredDocuments == 0 && drive.status.oldestUndeliveredAt == nil)
        _ = try #require(try drive.closeShift(epoch: 0, now: now + 20))
        #expect(drive.undeliveredDocuments == 1 && drive.status.oldestUndeliveredAt == now + 20)
        #expect(drive.ofdDeliveredThrough == 3)
    }

    @Test func wearSetsDocumentsLeftAndExpiry() throws {
        var drive = Fixture.drive(capacity: 100)
        drive.setDocumentsLeft(3)
        #expect(drive.documentsUsed == 97)
        // Three fit: open shift, one receipt, and the Z-report kept free.
        _ = try drive.sell(Fixture.receipt(job: "a"), epoch: 0, now: now)
        #expect(Fixture.refusal { _ = try drive.sell(Fixture.receipt(job: "b"), epoch: 0, now: now) } == .fnFull)
        #expect(try drive.closeShift(epoch: 0, now: now) != nil)
        #expect(drive.documentsUsed == drive.capacity)
        drive.setDocumentsLeft(500)
        #expect(drive.documentsUsed == 0)

        drive.setExpiry(now + 60.9)
        #expect(drive.expiresAt == now + 60)
        _ = try drive.sell(Fixture.receipt(job: "c"), epoch: 0, now: now + 59)
        #expect(Fixture.refusal { _ = try drive.sell(Fixture.receipt(job: "d"), epoch: 0, now: now + 60) } == .fnExpired)
    }

    @Test func standardLifetimeIsThirteenMonths() {
        let drive = FiscalDrive(serial: "1", createdAt: WireTime.parseISO8601("2026-11-23T00:00:00Z") ?? now)
        #expect(WireTime.iso8601(drive.expiresAt) == "2027-12-23T00:00:00Z")
    }

    @Test func mismatchesAreRefusedAndTenantFixable() {
        var drive = Fixture.drive()
        var wrongINN = Fixture.receipt()
        wrongINN.inn = "7700000000"
        var wrongAddress = Fixture.receipt()
        wrongAddress.paymentAddress = "https://shop.example/"
        var wrongSNO = Fixture.receipt()
        wrongSNO.sno = "patent"
        let cases: [(SellRequest, KassaErrorCode)] = [
            (wrongINN, .innMismatch), (wrongAddress, .paymentAddressMismatch), (wrongSNO, .snoNotRegistered),
        ]
        for (receipt, code) in cases {
            #expect(Fixture.refusal { _ = try drive.sell(receipt, epoch: 0, now: now) } == code)
            #expect(code.isTenantFixable)
        }
        #expect(drive.lastDocumentNumber == 0)
        #expect(!drive.shift.isOpen)
        #expect(KassaErrorCode.innMismatch.driverCode == 2003)
        #expect(KassaErrorCode.paymentAddressMismatch.driverCode == 2007)
        #expect(!KassaErrorCode.shiftExpired.isTenantFixable)
    }

    @Test func unregisteredKassaRefuses() {
        var drive = FiscalDrive(serial: "1", createdAt: now)
        #expect(Fixture.refusal { _ = try drive.sell(Fixture.receipt(), epoch: 0, now: now) } == .notRegistered)
        #expect(Fixture.refusal { _ = try drive.openShift(epoch: 0, now: now) } == .notRegistered)
        #expect(Fixture.refusal {
            try drive.register(RegisterRequest(inn: "12", paymentAddress: "x", sno: ["osn"], registrationNumber: "1"))
        } == .badRequest)
    }

    @Test func arithmeticRoundsHalfUp() throws {
        // 0.5 kopeck rounds up: 333 × 1.500 = 499.5 → 500.
        #expect(ReceiptChecks.itemSum(price: 333, quantity: 1500) == 500)
        // 0.4 kopeck rounds down: 333 × 0.333 = 110.889 → 111; 100 × 0.004 = 0.4 → 0.
        #expect(ReceiptChecks.itemSum(price: 333, quantity: 333) == 111)
        #expect(ReceiptChecks.itemSum(price: 100, quantity: 4) == 0)
        #expect(ReceiptChecks.itemSum(price: 100, quantity: 5) == 1)
        #expect(ReceiptChecks.itemSum(price: .max, quantity: 2) == nil)

        var drive = Fixture.drive()
        _ = try drive.sell(Fixture.receipt(price: 333, quantity: 1500), epoch: 0, now: now)
        let wrongSum = Fixture.receipt(job: "b", price: 333, quantity: 1500, sum: 499)
        #expect(Fixture.refusal { _ = try drive.sell(wrongSum, epoch: 0, now: now) } == .invalidArithmetic)
        let wrongTotal = Fixture.receipt(job: "c", total: 30001)
        #expect(Fixture.refusal { _ = try drive.sell(wrongTotal, epoch: 0, now: now) } == .invalidArithmetic)
        let wrongPayments = Fixture.receipt(job: "d", paid: 29999)
        #expect(Fixture.refusal { _ = try drive.sell(wrongPayments, epoch: 0, now: now) } == .invalidArithmetic)
        let overflow = Fixture.receipt(job: "e", price: .max / 2, quantity: 4000, sum: 1)
        #expect(Fixture.refusal { _ = try drive.sell(overflow, epoch: 0, now: now) } == .invalidArithmetic)
    }

    @Test func malformedReceiptsAreBadRequests() {
        var drive = Fixture.drive()
        var noItems = Fixture.receipt()
        noItems.items = []
        var negative = Fixture.receipt()
        negative.items[0].quantity = -1000
        var noJob = Fixture.receipt()
        noJob.jobID = ""
        for receipt in [noItems, negative, noJob] {
            #expect(Fixture.refusal { _ = try drive.sell(receipt, epoch: 0, now: now) } == .badRequest)
        }
    }

    @Test func olderEpochsAreFenced() throws {
        var drive = Fixture.drive()
        try drive.observe(epoch: 4)
        #expect(drive.highestEpoch == 4)
        #expect(Fixture.refusal { try drive.observe(epoch: 3) } == .staleEpoch)
        #expect(Fixture.refusal { _ = try drive.sell(Fixture.receipt(), epoch: 3, now: now) } == .staleEpoch)
        #expect(Fixture.refusal { _ = try drive.openShift(epoch: 3, now: now) } == .staleEpoch)
        // A newer epoch on any fenced command raises the fence.
        _ = try drive.sell(Fixture.receipt(), epoch: 5, now: now)
        #expect(drive.highestEpoch == 5)
        #expect(Fixture.refusal { try drive.observe(epoch: 4) } == .staleEpoch)
        try drive.observe(epoch: 5)
    }

    @Test func fiscalSignDependsOnKeyAndText() throws {
        let keyA = Array(repeating: UInt8(1), count: 32)
        let keyB = Array(repeating: UInt8(2), count: 32)
        let text = "{\"kind\":\"receipt\"}"
        #expect(FiscalSign.compute(key: keyA, text: text) == FiscalSign.compute(key: keyA, text: text))
        #expect(FiscalSign.compute(key: keyA, text: text) != FiscalSign.compute(key: keyB, text: text))
        #expect(FiscalSign.compute(key: keyA, text: text) != FiscalSign.compute(key: keyA, text: text + " "))

        var a = Fixture.drive(key: keyA)
        var a2 = Fixture.drive(key: keyA)
        var b = Fixture.drive(key: keyB)
        let docA = try #require(try a.sell(Fixture.receipt(), epoch: 0, now: now).last)
        let docA2 = try #require(try a2.sell(Fixture.receipt(), epoch: 0, now: now).last)
        let docB = try #require(try b.sell(Fixture.receipt(), epoch: 0, now: now).last)
        #expect(docA.fiscalDocumentAttribute == docA2.fiscalDocumentAttribute)
        #expect(docA.fiscalDocumentAttribute != docB.fiscalDocumentAttribute)
        #expect(docA.fiscalDocumentAttribute == FiscalSign.compute(key: keyA, text: docA.canonicalText))
        #expect(FiscalSign.makeKey() != FiscalSign.makeKey())
        #expect(FiscalSign.makeKey().count == 32)
    }
}
