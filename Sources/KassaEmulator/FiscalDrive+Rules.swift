import Foundation
import KassaWire

/// The FN's rules. Each takes the time as a parameter; each either refuses with a
/// `KassaWireError` (no document made) or changes the counters and returns the signed
/// documents that the caller must archive before answering.
extension FiscalDrive {
    /// A shift must be closed (Z-report) at most 24 h after it was opened.
    public static let maximumShiftAge: TimeInterval = 24 * 3600

    // MARK: Epoch fencing

    /// Fences lease holders: refuses an epoch lower than the highest seen, and raises the highest
    /// seen to `epoch` otherwise. Every command that carries an epoch goes through here first, so
    /// a newer lease holder's first command fences all older ones.
    public mutating func observe(epoch: Int64) throws(KassaWireError) {
        if epoch < highestEpoch {
            throw KassaWireError(
                .staleEpoch,
                "epoch \(epoch) is older than \(highestEpoch), the highest this kassa has seen: the sender's lease is gone")
        }
        highestEpoch = epoch
    }

    // MARK: Registration

    /// Stores (or replaces) the registration. Re-registering with the same values changes nothing.
    public mutating func register(_ request: RegisterRequest) throws(KassaWireError) {
        let innDigits = request.inn.utf8.allSatisfy { $0 >= 48 && $0 <= 57 }
        guard innDigits, request.inn.utf8.count == 10 || request.inn.utf8.count == 12 else {
            throw .badRequest("args.inn: expected 10 or 12 digits, found \"\(request.inn)\"")
        }
        guard !request.paymentAddress.isEmpty else { throw .badRequest("args.payment_address: expected an address") }
        guard !request.sno.isEmpty, request.sno.allSatisfy({ !$0.isEmpty }) else {
            throw .badRequest("args.sno: expected at least one tax system, e.g. [\"osn\"]")
        }
        guard !request.registrationNumber.isEmpty else {
            throw .badRequest("args.registration_number: expected the registration number")
        }
        registration = Registration(
            inn: request.inn, paymentAddress: request.paymentAddress, sno: request.sno,
            registrationNumber: request.registrationNumber)
    }

    // MARK: Shifts

    /// Opens a shift; nil (a no-op) if one is open.
    public mutating func openShift(epoch: Int64, now: Date) throws(KassaWireError) -> FiscalDocument? {
        try observe(epoch: epoch)
        guard !shift.isOpen else { return nil }
        let registration = try requireRegistration()
        try checkExpiry(now: now)
        try checkRoom(for: 1)
        return makeShiftOpening(registration: registration, now: now)
    }

    /// Closes the shift with a Z-report; nil (a no-op) if none is open. Allowed on an expired FN
    /// and with an expired shift (that is how one gets out of `shift_expired`); always has room,
    /// because every other document leaves one free for it.
    public mutating func closeShift(epoch: Int64, now: Date) throws(KassaWireError) -> FiscalDocument? {
        try observe(epoch: epoch)
        guard shift.isOpen else { return nil }
        let registration = try requireRegistration()
        guard documentsUsed < capacity else {
            throw KassaWireError(.fnFull, "FN \(serial) is full: \(documentsUsed) of \(capacity) documents used")
        }
        var document = FiscalDocument(
            kind: .closeShift, fiscalDocumentNumber: lastDocumentNumber + 1, shiftNumber: shift.number,
            datetime: WireTime.documentDateTime(now), fnSerial: serial,
            registrationNumber: registration.registrationNumber, receiptsInShift: shift.receipts)
        sign(&document)
        apply(document, at: now)
        return document
    }

    // MARK: Receipts

    /// Every check `sell` makes after the epoch, without changing anything: the module runs it
    /// before spending the service time, so a refusal is answered at once.
    ///
    /// Order: shape (`bad_request`), registration, FN expiry, FN capacity, shift age, INN,
    /// payment address, sno, arithmetic.
    public func checkSell(_ receipt: SellRequest, now: Date) throws(KassaWireError) {
        try ReceiptChecks.checkShape(receipt)
        let registration = try requireRegistration()
        try checkExpiry(now: now)
        try checkRoom(for: shift.isOpen ? 1 : 2)
        if shift.isOpen, let openedAt = shift.openedAt, now.timeIntervalSince(openedAt) >= Self.maximumShiftAge {
            throw KassaWireError(
                .shiftExpired,
                "shift \(shift.number) was opened at \(WireTime.iso8601(openedAt)), 24 h or more ago: close it first")
        }
        if receipt.inn != registration.inn {
            throw KassaWireError(
                .innMismatch, "receipt INN \(receipt.inn) does not match the FN's INN \(registration.inn)")
        }
        if receipt.paymentAddress != registration.paymentAddress {
            throw KassaWireError(
                .paymentAddressMismatch,
                "receipt payment_address \"\(receipt.paymentAddress)\" does not match the registered \"\(registration.paymentAddress)\" character for character"
            )
        }
        if !registration.sno.contains(receipt.sno) {
            throw KassaWireError(
                .snoNotRegistered,
                "receipt sno \(receipt.sno) is not registered; the kassa is registered with \(registration.sno.joined(separator: ", "))"
            )
        }
        try ReceiptChecks.checkArithmetic(receipt)
    }

    /// Fiscalizes a receipt: the documents made, in order — an `open_shift` first if no shift was
    /// open, then the receipt.
    public mutating func sell(_ receipt: SellRequest, epoch: Int64, now: Date) throws(KassaWireError)
        -> [FiscalDocument]
    {
        try observe(epoch: epoch)
        try checkSell(receipt, now: now)
        let registration = try requireRegistration()
        var documents: [FiscalDocument] = []
        if !shift.isOpen {
            documents.append(makeShiftOpening(registration: registration, now: now))
        }
        var document = FiscalDocument(
            kind: .receipt, fiscalDocumentNumber: lastDocumentNumber + 1, fiscalReceiptNumber: shift.receipts + 1,
            shiftNumber: shift.number, datetime: WireTime.documentDateTime(now), fnSerial: serial,
            registrationNumber: registration.registrationNumber, jobID: receipt.jobID, operation: receipt.operation,
            total: receipt.total, inn: receipt.inn, paymentAddress: receipt.paymentAddress, sno: receipt.sno,
            client: receipt.client, items: receipt.items, payments: receipt.payments)
        document.annuls = receipt.annuls
        sign(&document)
        apply(document, at: now)
        documents.append(document)
        return documents
    }

    // MARK: Replay

    /// Brings the counters and the shift up to a document read back from the archive (the state
    /// file is written after the archive, so after a crash it may lag the archive by the last
    /// command's documents).
    public mutating func replay(_ document: FiscalDocument) throws(ReplayError) {
        guard document.fiscalDocumentNumber == lastDocumentNumber + 1 else {
            throw ReplayError(
                description: "document \(document.fiscalDocumentNumber) does not follow \(lastDocumentNumber)")
        }
        guard let time = WireTime.parseDocumentDateTime(document.datetime) else {
            throw ReplayError(
                description: "document \(document.fiscalDocumentNumber): unreadable datetime \"\(document.datetime)\"")
        }
        apply(document, at: time)
    }

    /// An archived document that cannot follow the state it is replayed onto.
    public struct ReplayError: Error, Sendable, CustomStringConvertible {
        public var description: String
    }

    // MARK: The OFD

    /// The OFD acknowledged every queued document (each with its receipt ticket): the queue is
    /// empty. Returns how many documents that was.
    @discardableResult
    public mutating func deliverAllToOFD() -> Int64 {
        let delivered = undeliveredDocuments
        undeliveredDocuments = 0
        oldestUndeliveredAt = nil
        return delivered
    }

    // MARK: Wear (drills)

    /// Makes the FN look worn so that exactly `left` more documents fit: documents used becomes
    /// capacity − `left` (clamped to 0...capacity). For drills of a nearly full FN; the archive
    /// is untouched and stays the truth about documents, so the counter may then differ from
    /// the archive's length. The capacity rules (one document kept for the Z-report) apply as
    /// to any FN.
    public mutating func setDocumentsLeft(_ left: Int64) {
        documentsUsed = capacity - min(max(left, 0), capacity)
    }

    /// Moves the FN's expiry (drills of an expiring FN), to the whole second, as the state file
    /// keeps it.
    public mutating func setExpiry(_ date: Date) {
        expiresAt = Date(timeIntervalSince1970: date.timeIntervalSince1970.rounded(.down))
    }

    // MARK: Pieces

    /// Counts a new document, queues it for the OFD and moves the shift along with it.
    mutating func apply(_ document: FiscalDocument, at time: Date) {
        lastDocumentNumber = document.fiscalDocumentNumber
        documentsUsed += 1
        // To the whole second, like the document's own datetime and the state file.
        if undeliveredDocuments == 0 {
            oldestUndeliveredAt = Date(timeIntervalSince1970: time.timeIntervalSince1970.rounded(.down))
        }
        undeliveredDocuments += 1
        switch document.kind {
        case .openShift:
            shift = Shift(isOpen: true, number: document.shiftNumber, openedAt: time, receipts: 0)
        case .receipt:
            shift.receipts += 1
        case .closeShift:
            shift = Shift(isOpen: false, number: document.shiftNumber, openedAt: nil, receipts: 0)
        }
    }

    private mutating func makeShiftOpening(registration: Registration, now: Date) -> FiscalDocument {
        var document = FiscalDocument(
            kind: .openShift, fiscalDocumentNumber: lastDocumentNumber + 1, shiftNumber: shift.number + 1,
            datetime: WireTime.documentDateTime(now), fnSerial: serial,
            registrationNumber: registration.registrationNumber)
        sign(&document)
        apply(document, at: now)
        return document
    }

    private func sign(_ document: inout FiscalDocument) {
        document.fiscalDocumentAttribute = FiscalSign.compute(key: secretKey, document: document)
    }

    private func requireRegistration() throws(KassaWireError) -> Registration {
        guard let registration else {
            throw KassaWireError(.notRegistered, "kassa with FN \(serial) is not registered (no INN, payment address)")
        }
        return registration
    }

    private func checkExpiry(now: Date) throws(KassaWireError) {
        if now >= expiresAt {
            throw KassaWireError(.fnExpired, "FN \(serial) expired at \(WireTime.iso8601(expiresAt)); replace it")
        }
    }

    /// Room for `documents` more, keeping one free for the Z-report that will close the shift.
    private func checkRoom(for documents: Int64) throws(KassaWireError) {
        if documentsUsed + documents + 1 > capacity {
            throw KassaWireError(
                .fnFull,
                "FN \(serial) is full: \(documentsUsed) of \(capacity) documents used, one kept for the closing Z-report; replace it"
            )
        }
    }
}
