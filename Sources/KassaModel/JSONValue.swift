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

    /// Parses UTF-8 JSON text. Throws `JSONValue.ParseError` saying what is wrong and where
    /// (line and column).
    public static func parse(_ bytes: some Sequence<UInt8>) throws(ParseError) -> JSONValue {
        let read = { (buffer: UnsafeBufferPointer<UInt8>) in
            Result { () throws(ParseError) -> JSONValue in
                var reader = JSONReader(buffer)
                return try reader.document()
            }
        }
        if let parsed = bytes.withContiguousStorageIfAvailable(read) { return try parsed.get() }
        return try Array(bytes).withUnsafeBufferPointer(read).get()
    }

    public struct ParseError: Error, Sendable, CustomStringConvertible {
        public let reason: String
        public var description: String { reason }
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

extension JSONValue {
    /// Compact JSON text with keys sorted, so output is stable for tests and logs (`JSONWriter`).
    public func serialized() -> String {
        var w = JSONWriter()
        w.value(self)
        return String(decoding: w.bytes, as: UTF8.self)
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
