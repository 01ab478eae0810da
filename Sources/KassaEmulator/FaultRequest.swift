import KassaModel

/// A `POST /faults` body: `{"fault": "hang", "target": {...}, "count": 3}` (`count` optional).
public struct FaultRequest: Sendable, Equatable {
    public var fault: ModuleFault
    public var target: FaultTarget
    /// For `drop_answer_after_fiscalizing`: how many sells, then the module is normal again
    /// (nil: until cleared). For `hang_after_fiscalizing` only 1 (the default) is allowed.
    public var count: Int?

    public init(fault: ModuleFault, target: FaultTarget, count: Int? = nil) {
        self.fault = fault
        self.target = target
        self.count = count
    }

    static let keys: Set<String> = ["fault", "target", "count"]

    /// Reads a request body; the error names the first bad field and the form it needs.
    public init(body: some Sequence<UInt8>) throws(FaultRequestError) {
        let json: JSONValue
        do {
            json = try JSONValue.parse(body)
        } catch {
            throw FaultRequestError(
                field: "body", expected: "a JSON object {\"fault\": ..., \"target\": {...}, \"count\": n}",
                found: "\(error)")
        }
        guard case .object(let fields) = json else {
            throw FaultRequestError(field: "body", expected: "a JSON object", found: json.typeName)
        }
        // A misspelt key must not quietly widen or change what is faulted.
        if let unknown = fields.keys.sorted().first(where: { !Self.keys.contains($0) }) {
            throw FaultRequestError(field: unknown, expected: "only the keys fault, target, count", found: "an unknown key")
        }
        let faults = ModuleFault.allCases.map(\.rawValue).joined(separator: ", ")
        guard case .string(let name)? = fields["fault"], let fault = ModuleFault(rawValue: name) else {
            throw FaultRequestError(field: "fault", expected: "one of \(faults)", found: fields["fault"]?.serialized() ?? "nothing")
        }
        let target = try FaultTarget(json: fields["target"])
        var count: Int?
        if let value = fields["count"], value != .null {
            guard fault.takesCount else {
                throw FaultRequestError(
                    field: "count", expected: "no count for \(fault.rawValue) (only drop_answer_after_fiscalizing and hang_after_fiscalizing take one)",
                    found: value.serialized())
            }
            guard case .number(let number) = value, number == number.rounded(), number >= 1, number <= 1_000_000 else {
                throw FaultRequestError(field: "count", expected: "a whole number 1-1000000", found: value.serialized())
            }
            if fault == .hangAfterFiscalizing, number != 1 {
                throw FaultRequestError(
                    field: "count", expected: "1 for hang_after_fiscalizing (it trips on one sell and holds until cleared)",
                    found: value.serialized())
            }
            count = Int(number)
        }
        self.init(fault: fault, target: target, count: count)
    }
}

/// Why a control plane request was refused: the field, the form it needs, what came instead.
public struct FaultRequestError: Error, Sendable, Equatable, CustomStringConvertible {
    /// `body`, `fault`, `target`, `target.port`, `count`, ...
    public var field: String
    public var expected: String
    public var found: String

    public init(field: String, expected: String, found: String) {
        self.field = field
        self.expected = expected
        self.found = found
    }

    public var description: String { "\(field): expected \(expected), found \(found)" }
}
