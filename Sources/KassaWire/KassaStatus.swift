import Foundation

/// A module's FN state: the result of `status`, `register`, `hello`, `open_shift` and `close_shift`.
public struct KassaStatus: Sendable, Codable, Equatable {
    public var fnSerial: String
    /// Documents the FN can hold in all.
    public var fnCapacity: Int64
    public var documentsUsed: Int64
    /// The number of the newest document in the archive (0 before the first).
    public var lastDocumentNumber: Int64
    public var fnExpiresAt: Date
    /// Null until `register`.
    public var registrationNumber: String?
    /// Null until `register`.
    public var inn: String?
    /// Null until `register`.
    public var paymentAddress: String?
    /// Tax systems (`osn`, `usn_income`, ...) the kassa is registered with; null until `register`.
    public var sno: [String]?
    public var shiftOpen: Bool
    /// The current shift's number, or the last one's when closed (0 before the first shift).
    public var shiftNumber: Int64
    /// When the current shift was opened; null when no shift is open.
    public var shiftOpenedAt: Date?
    public var receiptsInShift: Int64
    /// Documents the FN holds that the OFD (fiscal data operator) has not acknowledged yet.
    public var undeliveredDocuments: Int64
    /// When the oldest of them was made; nil when nothing is queued. On the wire the key is
    /// absent then (not null), and answers from modules that predate it decode as nil.
    public var oldestUndeliveredAt: Date?
    /// The highest lease epoch this module has seen; commands with a lower epoch are refused.
    public var highestEpoch: Int64

    public init(
        fnSerial: String, fnCapacity: Int64, documentsUsed: Int64, lastDocumentNumber: Int64,
        fnExpiresAt: Date, registrationNumber: String?, inn: String?, paymentAddress: String?,
        sno: [String]?, shiftOpen: Bool, shiftNumber: Int64, shiftOpenedAt: Date?,
        receiptsInShift: Int64, undeliveredDocuments: Int64, oldestUndeliveredAt: Date?, highestEpoch: Int64
    ) {
        self.fnSerial = fnSerial
        self.fnCapacity = fnCapacity
        self.documentsUsed = documentsUsed
        self.lastDocumentNumber = lastDocumentNumber
        self.fnExpiresAt = fnExpiresAt
        self.registrationNumber = registrationNumber
        self.inn = inn
        self.paymentAddress = paymentAddress
        self.sno = sno
        self.shiftOpen = shiftOpen
        self.shiftNumber = shiftNumber
        self.shiftOpenedAt = shiftOpenedAt
        self.receiptsInShift = receiptsInShift
        self.undeliveredDocuments = undeliveredDocuments
        self.oldestUndeliveredAt = oldestUndeliveredAt
        self.highestEpoch = highestEpoch
    }

    /// The same, with nothing said about when the undelivered documents were made (nil): the
    /// shape callers used before `oldestUndeliveredAt` existed.
    public init(
        fnSerial: String, fnCapacity: Int64, documentsUsed: Int64, lastDocumentNumber: Int64,
        fnExpiresAt: Date, registrationNumber: String?, inn: String?, paymentAddress: String?,
        sno: [String]?, shiftOpen: Bool, shiftNumber: Int64, shiftOpenedAt: Date?,
        receiptsInShift: Int64, undeliveredDocuments: Int64, highestEpoch: Int64
    ) {
        self.init(
            fnSerial: fnSerial, fnCapacity: fnCapacity, documentsUsed: documentsUsed,
            lastDocumentNumber: lastDocumentNumber, fnExpiresAt: fnExpiresAt, registrationNumber: registrationNumber,
            inn: inn, paymentAddress: paymentAddress, sno: sno, shiftOpen: shiftOpen, shiftNumber: shiftNumber,
            shiftOpenedAt: shiftOpenedAt, receiptsInShift: receiptsInShift, undeliveredDocuments: undeliveredDocuments,
            oldestUndeliveredAt: nil, highestEpoch: highestEpoch)
    }

    enum CodingKeys: String, CodingKey {
        case fnSerial = "fn_serial"
        case fnCapacity = "fn_capacity"
        case documentsUsed = "documents_used"
        case lastDocumentNumber = "last_document_number"
        case fnExpiresAt = "fn_expires_at"
        case registrationNumber = "registration_number"
        case inn
        case paymentAddress = "payment_address"
        case sno
        case shiftOpen = "shift_open"
        case shiftNumber = "shift_number"
        case shiftOpenedAt = "shift_opened_at"
        case receiptsInShift = "receipts_in_shift"
        case undeliveredDocuments = "undelivered_documents"
        case oldestUndeliveredAt = "oldest_undelivered_at"
        case highestEpoch = "highest_epoch"
    }

    public init(from decoder: any Decoder) throws {
        let c = try decoder.container(keyedBy: CodingKeys.self)
        fnSerial = try c.decode(String.self, forKey: .fnSerial)
        fnCapacity = try c.decode(Int64.self, forKey: .fnCapacity)
        documentsUsed = try c.decode(Int64.self, forKey: .documentsUsed)
        lastDocumentNumber = try c.decode(Int64.self, forKey: .lastDocumentNumber)
        fnExpiresAt = try c.decodeISO8601(forKey: .fnExpiresAt)
        registrationNumber = try c.decodeIfPresent(String.self, forKey: .registrationNumber)
        inn = try c.decodeIfPresent(String.self, forKey: .inn)
        paymentAddress = try c.decodeIfPresent(String.self, forKey: .paymentAddress)
        sno = try c.decodeIfPresent([String].self, forKey: .sno)
        shiftOpen = try c.decode(Bool.self, forKey: .shiftOpen)
        shiftNumber = try c.decode(Int64.self, forKey: .shiftNumber)
        shiftOpenedAt = try c.decodeISO8601IfPresent(forKey: .shiftOpenedAt)
        receiptsInShift = try c.decode(Int64.self, forKey: .receiptsInShift)
        undeliveredDocuments = try c.decodeIfPresent(Int64.self, forKey: .undeliveredDocuments) ?? 0
        oldestUndeliveredAt = try c.decodeISO8601IfPresent(forKey: .oldestUndeliveredAt)
        highestEpoch = try c.decode(Int64.self, forKey: .highestEpoch)
    }

    /// Encodes every key, with explicit nulls, except `oldest_undelivered_at`, which is absent
    /// when nothing is queued; times as ISO 8601 strings whatever the encoder's date strategy.
    public func encode(to encoder: any Encoder) throws {
        var c = encoder.container(keyedBy: CodingKeys.self)
        try c.encode(fnSerial, forKey: .fnSerial)
        try c.encode(fnCapacity, forKey: .fnCapacity)
        try c.encode(documentsUsed, forKey: .documentsUsed)
        try c.encode(lastDocumentNumber, forKey: .lastDocumentNumber)
        try c.encode(WireTime.iso8601(fnExpiresAt), forKey: .fnExpiresAt)
        try c.encode(registrationNumber, forKey: .registrationNumber)
        try c.encode(inn, forKey: .inn)
        try c.encode(paymentAddress, forKey: .paymentAddress)
        try c.encode(sno, forKey: .sno)
        try c.encode(shiftOpen, forKey: .shiftOpen)
        try c.encode(shiftNumber, forKey: .shiftNumber)
        try c.encode(shiftOpenedAt.map(WireTime.iso8601), forKey: .shiftOpenedAt)
        try c.encode(receiptsInShift, forKey: .receiptsInShift)
        try c.encode(undeliveredDocuments, forKey: .undeliveredDocuments)
        // Absent rather than null: added after the first clients, and "nothing queued" is the
        // common case, so most answers carry no extra key.
        try c.encodeIfPresent(oldestUndeliveredAt.map(WireTime.iso8601), forKey: .oldestUndeliveredAt)
        try c.encode(highestEpoch, forKey: .highestEpoch)
    }
}
