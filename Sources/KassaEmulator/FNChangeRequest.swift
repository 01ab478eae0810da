import KassaModel

/// A `POST /fn` body, for drills of worn FNs:
/// `{"target": {...}, "documents_left": 50, "expires_in_s": 3600}`, with at least one of
/// `documents_left` and `expires_in_s`.
public struct FNChangeRequest: Sendable, Equatable {
    public var target: FaultTarget
    /// Documents that still fit before the FN is full (documents used = capacity − this).
    public var documentsLeft: Int64?
    /// Seconds from now (the emulator's clock) until the FN expires; 0 expires it at once.
    public var expiresIn: Int64?

    /// The largest `expires_in_s`: ten years, far past any FN's life and far from `Date`'s limits.
    public static let maximumExpiresIn: Int64 = 10 * 366 * 86400
    /// The largest `documents_left` the parser takes; each FN then checks it against its capacity.
    public static let maximumDocumentsLeft: Int64 = 1_000_000_000

    public init(target: FaultTarget, documentsLeft: Int64? = nil, expiresIn: Int64? = nil) {
        self.target = target
        self.documentsLeft = documentsLeft
        self.expiresIn = expiresIn
    }

    static let keys: Set<String> = ["target", "documents_left", "expires_in_s"]

    /// Reads a request body; the error names the first bad field and the form it needs.
    public init(body: some Sequence<UInt8>) throws(FaultRequestError) {
        let form = "a JSON object {\"target\": {...}, \"documents_left\": n, \"expires_in_s\": s} with at least one of documents_left, expires_in_s"
        let json: JSONValue
        do {
            json = try JSONValue.parse(body)
        } catch {
            throw FaultRequestError(field: "body", expected: form, found: "\(error)")
        }
        guard case .object(let fields) = json else {
            throw FaultRequestError(field: "body", expected: form, found: json.typeName)
        }
        // A misspelt key must not quietly change nothing (or something else).
        if let unknown = fields.keys.sorted().first(where: { !Self.keys.contains($0) }) {
            throw FaultRequestError(
                field: unknown, expected: "only the keys target, documents_left, expires_in_s", found: "an unknown key")
        }
        let target = try FaultTarget(json: fields["target"])
        let documentsLeft = try Self.wholeNumber(
            fields["documents_left"], field: "documents_left", in: 0...Self.maximumDocumentsLeft,
            expected: "a whole number of documents 0-\(Self.maximumDocumentsLeft) (at most the FN's capacity), e.g. 50")
        let expiresIn = try Self.wholeNumber(
            fields["expires_in_s"], field: "expires_in_s", in: 0...Self.maximumExpiresIn,
            expected: "a whole number of seconds 0-\(Self.maximumExpiresIn) from now, e.g. 3600")
        guard documentsLeft != nil || expiresIn != nil else {
            throw FaultRequestError(field: "body", expected: form, found: "neither documents_left nor expires_in_s")
        }
        self.init(target: target, documentsLeft: documentsLeft, expiresIn: expiresIn)
    }

    /// The field's whole number in `range`, or nil when the field is absent.
    private static func wholeNumber(
        _ value: JSONValue?, field: String, in range: ClosedRange<Int64>, expected: String
    ) throws(FaultRequestError) -> Int64? {
        guard let value else { return nil }
        guard case .number(let number) = value, number == number.rounded(),
            number >= Double(range.lowerBound), number <= Double(range.upperBound)
        else {
            throw FaultRequestError(field: field, expected: expected, found: value.serialized())
        }
        return Int64(number)
    }
}
