import Foundation
import KassaWire

/// How long a new FN lasts.
public enum FiscalDriveLifetime: Sendable, Equatable {
    /// Calendar months (UTC) from creation; a real FN lasts 13.
    case months(Int)
    /// A fixed span, for tests of expiry.
    case duration(Duration)

    public static let standard = FiscalDriveLifetime.months(13)

    /// The expiry of an FN created at `createdAt`.
    public func expiry(from createdAt: Date) -> Date {
        switch self {
        case .months(let months):
            var calendar = Calendar(identifier: .gregorian)
            calendar.timeZone = .gmt
            return calendar.date(byAdding: .month, value: months, to: createdAt)
                ?? createdAt.addingTimeInterval(Double(months) * 30.5 * 86400)
        case .duration(let duration):
            let (seconds, attoseconds) = duration.components
            return createdAt.addingTimeInterval(Double(seconds) + Double(attoseconds) / 1e18)
        }
    }
}

/// The fiscal drive (FN) of one kassa module: its identity, counters, registration and shift.
///
/// A value with pure rules (see `FiscalDrive+Rules.swift`): every rule takes the time as a
/// parameter and either refuses with a `KassaWireError` or returns the documents to archive.
/// Persisting them is the module's job. The archive itself is not held here: only the counters
/// are, so thousands of drives fit in one process.
public struct FiscalDrive: Sendable, Equatable {
    /// What the kassa was registered with at the tax service.
    public struct Registration: Sendable, Codable, Equatable {
        public var inn: String
        public var paymentAddress: String
        public var sno: [String]
        public var registrationNumber: String

        public init(inn: String, paymentAddress: String, sno: [String], registrationNumber: String) {
            self.inn = inn
            self.paymentAddress = paymentAddress
            self.sno = sno
            self.registrationNumber = registrationNumber
        }

        enum CodingKeys: String, CodingKey {
            case inn, sno
            case paymentAddress = "payment_address"
            case registrationNumber = "registration_number"
        }
    }

    /// The shift: open or closed, its number and how many receipts it holds.
    public struct Shift: Sendable, Codable, Equatable {
        public var isOpen: Bool
        /// The current shift's number, or the last one's when closed; 0 before the first.
        public var number: Int64
        public var openedAt: Date?
        public var receipts: Int64

        public init(isOpen: Bool = false, number: Int64 = 0, openedAt: Date? = nil, receipts: Int64 = 0) {
            self.isOpen = isOpen
            self.number = number
            self.openedAt = openedAt
            self.receipts = receipts
        }

        enum CodingKeys: String, CodingKey {
            case number, receipts
            case isOpen = "open"
            case openedAt = "opened_at"
        }

        public init(from decoder: any Decoder) throws {
            let c = try decoder.container(keyedBy: CodingKeys.self)
            isOpen = try c.decode(Bool.self, forKey: .isOpen)
            number = try c.decode(Int64.self, forKey: .number)
            openedAt = try c.decodeIfPresent(String.self, forKey: .openedAt).flatMap(WireTime.parseISO8601)
            receipts = try c.decode(Int64.self, forKey: .receipts)
        }

        public func encode(to encoder: any Encoder) throws {
            var c = encoder.container(keyedBy: CodingKeys.self)
            try c.encode(isOpen, forKey: .isOpen)
            try c.encode(number, forKey: .number)
            try c.encode(openedAt.map(WireTime.iso8601), forKey: .openedAt)
            try c.encode(receipts, forKey: .receipts)
        }
    }

    /// Documents a new FN holds by default.
    public static let standardCapacity: Int64 = 250_000

    public let serial: String
    /// The FN's own key for fiscal signs; made once, when the FN is created.
    public let secretKey: [UInt8]
    /// Documents the FN can hold in all.
    public let capacity: Int64
    public let createdAt: Date
    /// When the FN stops taking documents (a drill may move it, see `setExpiry`).
    public internal(set) var expiresAt: Date
    public internal(set) var documentsUsed: Int64
    public internal(set) var lastDocumentNumber: Int64
    public internal(set) var registration: Registration?
    public internal(set) var shift: Shift
    public internal(set) var highestEpoch: Int64
    /// Documents the OFD has not acknowledged yet: the newest `undeliveredDocuments` of the
    /// archive (every document is queued when made and the OFD takes them in order).
    public internal(set) var undeliveredDocuments: Int64
    /// When the oldest undelivered document was made; nil when none is queued. Delivery takes
    /// the whole queue at once, so the oldest is all the FN needs to remember besides the count.
    public internal(set) var oldestUndeliveredAt: Date?

    /// A new, empty FN.
    public init(
        serial: String, capacity: Int64 = FiscalDrive.standardCapacity, createdAt: Date,
        lifetime: FiscalDriveLifetime = .standard, secretKey: [UInt8] = FiscalSign.makeKey()
    ) {
        self.init(
            serial: serial, secretKey: secretKey, capacity: capacity, createdAt: createdAt,
            expiresAt: lifetime.expiry(from: createdAt), documentsUsed: 0, lastDocumentNumber: 0,
            registration: nil, shift: Shift(), highestEpoch: 0, undeliveredDocuments: 0, oldestUndeliveredAt: nil)
    }

    init(
        serial: String, secretKey: [UInt8], capacity: Int64, createdAt: Date, expiresAt: Date,
        documentsUsed: Int64, lastDocumentNumber: Int64, registration: Registration?, shift: Shift,
        highestEpoch: Int64, undeliveredDocuments: Int64, oldestUndeliveredAt: Date?
    ) {
        self.serial = serial
        self.secretKey = secretKey
        self.capacity = capacity
        self.createdAt = createdAt
        self.expiresAt = expiresAt
        self.documentsUsed = documentsUsed
        self.lastDocumentNumber = lastDocumentNumber
        self.registration = registration
        self.shift = shift
        self.highestEpoch = highestEpoch
        self.undeliveredDocuments = undeliveredDocuments
        self.oldestUndeliveredAt = oldestUndeliveredAt
    }

    /// The number of the last document the OFD acknowledged (0 before the first).
    var ofdDeliveredThrough: Int64 { lastDocumentNumber - undeliveredDocuments }

    /// The state as `status` reports it.
    public var status: KassaStatus {
        KassaStatus(
            fnSerial: serial, fnCapacity: capacity, documentsUsed: documentsUsed,
            lastDocumentNumber: lastDocumentNumber, fnExpiresAt: expiresAt,
            registrationNumber: registration?.registrationNumber, inn: registration?.inn,
            paymentAddress: registration?.paymentAddress, sno: registration?.sno, shiftOpen: shift.isOpen,
            shiftNumber: shift.number, shiftOpenedAt: shift.isOpen ? shift.openedAt : nil,
            receiptsInShift: shift.receipts, undeliveredDocuments: undeliveredDocuments,
            oldestUndeliveredAt: undeliveredDocuments > 0 ? oldestUndeliveredAt : nil, highestEpoch: highestEpoch)
    }
}

// MARK: - state.json

extension FiscalDrive: Codable {
    /// Bumped when the state file's shape changes incompatibly.
    static let stateFormat = 1

    enum CodingKeys: String, CodingKey {
        case format, capacity, registration, shift
        case serial = "fn_serial"
        case secretKey = "secret_key"
        case createdAt = "created_at"
        case expiresAt = "expires_at"
        case documentsUsed = "documents_used"
        case lastDocumentNumber = "last_document_number"
        case highestEpoch = "highest_epoch"
        case undeliveredDocuments = "undelivered_documents"
        case oldestUndeliveredAt = "oldest_undelivered_at"
    }

    public init(from decoder: any Decoder) throws {
        let c = try decoder.container(keyedBy: CodingKeys.self)
        let format = try c.decode(Int.self, forKey: .format)
        guard format == Self.stateFormat else {
            throw DecodingError.dataCorruptedError(
                forKey: .format, in: c, debugDescription: "state format \(format); this build reads \(Self.stateFormat)")
        }
        serial = try c.decode(String.self, forKey: .serial)
        let hex = try c.decode(String.self, forKey: .secretKey)
        guard let key = Self.bytes(hex: hex), key.count == 32 else {
            throw DecodingError.dataCorruptedError(
                forKey: .secretKey, in: c, debugDescription: "expected 64 hex digits")
        }
        secretKey = key
        capacity = try c.decode(Int64.self, forKey: .capacity)
        createdAt = try c.decodeTime(forKey: .createdAt)
        expiresAt = try c.decodeTime(forKey: .expiresAt)
        documentsUsed = try c.decode(Int64.self, forKey: .documentsUsed)
        lastDocumentNumber = try c.decode(Int64.self, forKey: .lastDocumentNumber)
        registration = try c.decodeIfPresent(Registration.self, forKey: .registration)
        shift = try c.decode(Shift.self, forKey: .shift)
        highestEpoch = try c.decode(Int64.self, forKey: .highestEpoch)
        // Files written before the OFD link existed have 0 here and no time: nothing queued.
        undeliveredDocuments = try c.decodeIfPresent(Int64.self, forKey: .undeliveredDocuments) ?? 0
        oldestUndeliveredAt = try c.decodeIfPresent(String.self, forKey: .oldestUndeliveredAt).flatMap(WireTime.parseISO8601)
        guard (0...lastDocumentNumber).contains(undeliveredDocuments) else {
            throw DecodingError.dataCorruptedError(
                forKey: .undeliveredDocuments, in: c,
                debugDescription: "\(undeliveredDocuments) undelivered of \(lastDocumentNumber) documents")
        }
    }

    public func encode(to encoder: any Encoder) throws {
        var c = encoder.container(keyedBy: CodingKeys.self)
        try c.encode(Self.stateFormat, forKey: .format)
        try c.encode(serial, forKey: .serial)
        try c.encode(secretKey.map { String(format: "%02x", $0) }.joined(), forKey: .secretKey)
        try c.encode(capacity, forKey: .capacity)
        try c.encode(WireTime.iso8601(createdAt), forKey: .createdAt)
        try c.encode(WireTime.iso8601(expiresAt), forKey: .expiresAt)
        try c.encode(documentsUsed, forKey: .documentsUsed)
        try c.encode(lastDocumentNumber, forKey: .lastDocumentNumber)
        try c.encode(registration, forKey: .registration)
        try c.encode(shift, forKey: .shift)
        try c.encode(highestEpoch, forKey: .highestEpoch)
        try c.encode(undeliveredDocuments, forKey: .undeliveredDocuments)
        try c.encode(oldestUndeliveredAt.map(WireTime.iso8601), forKey: .oldestUndeliveredAt)
    }

    private static func bytes(hex: String) -> [UInt8]? {
        let digits = Array(hex.utf8)
        guard digits.count % 2 == 0 else { return nil }
        func value(_ d: UInt8) -> UInt8? {
            switch d {
            case 48...57: d - 48
            case 97...102: d - 87
            case 65...70: d - 55
            default: nil
            }
        }
        var out: [UInt8] = []
        out.reserveCapacity(digits.count / 2)
        var i = 0
        while i < digits.count {
            guard let high = value(digits[i]), let low = value(digits[i + 1]) else { return nil }
            out.append(high << 4 | low)
            i += 2
        }
        return out
    }
}

extension KeyedDecodingContainer {
    fileprivate func decodeTime(forKey key: Key) throws -> Date {
        guard let date = WireTime.parseISO8601(try decode(String.self, forKey: key)) else {
            throw DecodingError.dataCorruptedError(forKey: key, in: self, debugDescription: "expected an ISO 8601 time")
        }
        return date
    }
}
