import KassaModel

/// What a `POST /faults` sets: a fault of the module itself, or the state of its OFD link,
/// which is kept apart (see `OFDLink`) so both can hold at once.
public enum FaultKind: Sendable, Equatable, CustomStringConvertible {
    /// `none`, `hang`, ...: replaces the module's fault. `none` also brings the OFD link up,
    /// so it still means "this module works normally".
    case module(ModuleFault)
    /// `ofd_down` / `ofd_up`: the OFD link only; the module's fault stays as it is.
    case ofdLink(OFDLink)

    /// The names the control plane's JSON uses, in the order error messages list them.
    public static let names = ModuleFault.allCases.map(\.rawValue) + OFDLink.allCases.reversed().map { "ofd_\($0.rawValue)" }

    public init?(name: String) {
        if let fault = ModuleFault(rawValue: name) {
            self = .module(fault)
        } else if name.hasPrefix("ofd_"), let link = OFDLink(rawValue: String(name.dropFirst(4))) {
            self = .ofdLink(link)
        } else {
            return nil
        }
    }

    /// `hang`, `ofd_down`, ...
    public var name: String {
        switch self {
        case .module(let fault): fault.rawValue
        case .ofdLink(let link): "ofd_\(link.rawValue)"
        }
    }

    public var description: String { name }

    /// Whether `count` applies (`ModuleFault.takesCount`).
    public var takesCount: Bool {
        if case .module(let fault) = self { fault.takesCount } else { false }
    }
}

/// A `POST /faults` body: `{"fault": "hang", "target": {...}, "count": 3}` (`count` optional).
public struct FaultRequest: Sendable, Equatable {
    public var fault: FaultKind
    public var target: FaultTarget
    /// For `drop_answer_after_fiscalizing`: how many sells, then the module is normal again
    /// (nil: until cleared). For `hang_after_fiscalizing` only 1 (the default) is allowed.
    public var count: Int?

    public init(fault: FaultKind, target: FaultTarget, count: Int? = nil) {
        self.fault = fault
        self.target = target
        self.count = count
    }

    /// A request for a fault of the module itself.
    public init(fault: ModuleFault, target: FaultTarget, count: Int? = nil) {
        self.init(fault: .module(fault), target: target, count: count)
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
        let faults = FaultKind.names.joined(separator: ", ")
        guard case .string(let name)? = fields["fault"], let fault = FaultKind(name: name) else {
            throw FaultRequestError(field: "fault", expected: "one of \(faults)", found: fields["fault"]?.serialized() ?? "nothing")
        }
        let target = try FaultTarget(json: fields["target"])
        var count: Int?
        if let value = fields["count"], value != .null {
            guard fault.takesCount else {
                throw FaultRequestError(
                    field: "count", expected: "no count for \(fault.name) (only drop_answer_after_fiscalizing and hang_after_fiscalizing take one)",
                    found: value.serialized())
            }
            guard case .number(let number) = value, number == number.rounded(), number >= 1, number <= 1_000_000 else {
                throw FaultRequestError(field: "count", expected: "a whole number 1-1000000", found: value.serialized())
            }
            if fault == .module(.hangAfterFiscalizing), number != 1 {
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
