import KassaModel

/// Which modules a fault is set on: one module (by FN serial, name or port), every module of an
/// assembly, rack or site, or the whole fleet. In JSON, an object with exactly one key:
/// `{"fn_serial": "..."}`, `{"name": "..."}`, `{"port": 21005}`, `{"assembly": "..."}`,
/// `{"rack": "..."}`, `{"site": "..."}` or `{"all": true}`.
public enum FaultTarget: Sendable, Equatable, CustomStringConvertible {
    case fnSerial(String)
    case name(String)
    case port(Int)
    case assembly(String)
    case rack(String)
    case site(String)
    case all

    /// The JSON keys, in the order error messages list them.
    public static let keys = ["fn_serial", "name", "port", "assembly", "rack", "site", "all"]

    /// Reads a target from its JSON form; the error names the field (`target` or `target.<key>`).
    public init(json: JSONValue?) throws(FaultRequestError) {
        let expected = "an object with exactly one of \(Self.keys.joined(separator: ", ")), e.g. {\"assembly\": \"A1-1\"}"
        guard let json else { throw FaultRequestError(field: "target", expected: expected, found: "nothing") }
        guard case .object(let fields) = json, fields.count == 1, let (key, value) = fields.first else {
            let found: String
            if case .object(let fields) = json {
                found = fields.isEmpty ? "no key" : "keys \(fields.keys.sorted().joined(separator: ", "))"
            } else {
                found = json.typeName
            }
            throw FaultRequestError(field: "target", expected: expected, found: found)
        }
        func text() throws(FaultRequestError) -> String {
            guard case .string(let text) = value, !text.isEmpty else {
                throw FaultRequestError(field: "target.\(key)", expected: "a non-empty string", found: value.serialized())
            }
            return text
        }
        switch key {
        case "fn_serial": self = .fnSerial(try text())
        case "name": self = .name(try text())
        case "assembly": self = .assembly(try text())
        case "rack": self = .rack(try text())
        case "site": self = .site(try text())
        case "port":
            guard case .number(let number) = value, number == number.rounded(), (1...65535).contains(number) else {
                throw FaultRequestError(field: "target.port", expected: "a port number 1-65535", found: value.serialized())
            }
            self = .port(Int(number))
        case "all":
            guard value == .bool(true) else {
                throw FaultRequestError(field: "target.all", expected: "true", found: value.serialized())
            }
            self = .all
        default:
            throw FaultRequestError(field: "target", expected: expected, found: "key \(key)")
        }
    }

    /// Whether the module in `slot` is one of the target's.
    public func matches(_ slot: ModuleSlot) -> Bool {
        switch self {
        case .fnSerial(let serial): slot.fnSerial == serial
        case .name(let name): slot.name == name
        case .port(let port): slot.port == port
        case .assembly(let assembly): slot.assembly == assembly
        case .rack(let rack): slot.rack == rack
        case .site(let site): slot.site == site
        case .all: true
        }
    }

    /// The target as it was given, e.g. `assembly A1-1` (for messages and logs).
    public var description: String {
        switch self {
        case .fnSerial(let serial): "fn_serial \(serial)"
        case .name(let name): "name \(name)"
        case .port(let port): "port \(port)"
        case .assembly(let assembly): "assembly \(assembly)"
        case .rack(let rack): "rack \(rack)"
        case .site(let site): "site \(site)"
        case .all: "all"
        }
    }
}
