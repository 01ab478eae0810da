import Foundation

/// A parsed JSON document kept as a tree, so validation can walk it and name the exact field
/// path of every problem (Codable would stop at the first type mismatch with a vague path).
public enum JSONValue: Sendable, Equatable {
    case null
    case bool(Bool)
    case number(Double)
    case string(String)
    case array([JSONValue])
    case object([String: JSONValue])

    /// Parses UTF-8 JSON text. Throws `JSONValue.ParseError` with the parser's reason.
    public static func parse(_ bytes: some Sequence<UInt8>) throws -> JSONValue {
        let data = Data(bytes)
        let any: Any
        do {
            any = try JSONSerialization.jsonObject(with: data, options: [.fragmentsAllowed])
        } catch {
            throw ParseError(reason: "the body is not valid JSON")
        }
        return JSONValue(any)
    }

    public struct ParseError: Error, Sendable, CustomStringConvertible {
        public let reason: String
        public var description: String { reason }
    }

    init(_ any: Any) {
        // Containers and strings are tried first: casting a Swift container to NSNumber (or
        // NSNull) first bridges it, and everything in it, to Objective-C, which made this
        // conversion ten times the cost of the parse itself.
        switch any {
        case let o as [String: Any]:
            self = .object(o.mapValues(JSONValue.init))
        case let s as String:
            self = .string(s)
        case let a as [Any]:
            self = .array(a.map(JSONValue.init))
        case let n as NSNumber:
            // JSONSerialization gives NSNumber for both booleans and numbers; tell them apart by type.
            if isJSONBoolean(n) { self = .bool(n.boolValue) } else { self = .number(n.doubleValue) }
        default:
            self = .null  // NSNull
        }
    }

    public subscript(key: String) -> JSONValue? {
        if case .object(let o) = self { return o[key] }
        return nil
    }

    /// A short name of the JSON type, for error texts.
    public var typeName: String {
        switch self {
        case .null: "null"
        case .bool: "boolean"
        case .number: "number"
        case .string: "string"
        case .array: "array"
        case .object: "object"
        }
    }
}

/// True when the NSNumber came from a JSON `true`/`false`.
private func isJSONBoolean(_ n: NSNumber) -> Bool {
    // Foundation boxes JSON booleans with objCType "c"; integers are "i"/"q", decimals "d".
    // (`n is Bool` would also be true for 0 and 1.)
    let t = String(cString: n.objCType)
    return t == "c" || t == "B"
}

extension JSONValue {
    /// Compact JSON text with keys sorted, so output is stable for tests and logs.
    public func serialized() -> String {
        var out = ""
        write(to: &out)
        return out
    }

    private func write(to out: inout String) {
        switch self {
        case .null: out += "null"
        case .bool(let b): out += b ? "true" : "false"
        case .number(let d):
            if d == d.rounded(), abs(d) < 1e15 { out += String(Int64(d)) } else { out += "\(d)" }
        case .string(let s): JSONValue.writeString(s, to: &out)
        case .array(let a):
            out += "["
            for (i, v) in a.enumerated() {
                if i > 0 { out += "," }
                v.write(to: &out)
            }
            out += "]"
        case .object(let o):
            out += "{"
            for (i, key) in o.keys.sorted().enumerated() {
                if i > 0 { out += "," }
                JSONValue.writeString(key, to: &out)
                out += ":"
                o[key]?.write(to: &out)
            }
            out += "}"
        }
    }

    /// Appends `s` as a JSON string: raw UTF-8 with only `"`, `\` and control characters escaped
    /// (`\b \f \n \r \t`, others as lowercase `\u00xx`), as Python's `json.dumps(ensure_ascii=False)`
    /// writes it. The kassa's canonical document text depends on exactly this form.
    public static func writeString(_ s: String, to out: inout String) {
        out += "\""
        for scalar in s.unicodeScalars {
            switch scalar {
            case "\"": out += "\\\""
            case "\\": out += "\\\\"
            case "\u{08}": out += "\\b"
            case "\u{0C}": out += "\\f"
            case "\n": out += "\\n"
            case "\r": out += "\\r"
            case "\t": out += "\\t"
            case let c where c.value < 0x20:
                let hex = String(c.value, radix: 16)
                out += "\\u" + String(repeating: "0", count: 4 - hex.count) + hex
            default: out.unicodeScalars.append(scalar)
            }
        }
        out += "\""
    }
}

extension JSONValue: ExpressibleByStringLiteral, ExpressibleByIntegerLiteral, ExpressibleByBooleanLiteral,
    ExpressibleByDictionaryLiteral, ExpressibleByArrayLiteral, ExpressibleByNilLiteral
{
    public init(stringLiteral value: String) { self = .string(value) }
    public init(integerLiteral value: Int) { self = .number(Double(value)) }
    public init(booleanLiteral value: Bool) { self = .bool(value) }
    public init(dictionaryLiteral elements: (String, JSONValue)...) {
        self = .object(Dictionary(elements, uniquingKeysWith: { _, last in last }))
    }
    public init(arrayLiteral elements: JSONValue...) { self = .array(elements) }
    public init(nilLiteral: ()) { self = .null }

    /// A string, or null when nil.
    public static func string(_ s: String?) -> JSONValue { s.map(JSONValue.string) ?? .null }
    /// Kopecks as a JSON number of rubles.
    public static func money(_ k: Kopecks) -> JSONValue { .number(Double(k) / 100) }
}
