import Foundation

/// Reads a JSON object's members into typed values, naming the member's path in every error.
///
/// The counterpart of `JSONWriter` for documents this service wrote itself (a job from the
/// topic, a kassa's answer): shape checks only, with none of the ATOL field rules
/// `ReceiptValidator` applies to what shops send.
public struct JSONObjectReader: Sendable {
    /// Where this object is in its document, e.g. `receipt.items[2]`; empty at the top.
    public let path: String
    private let members: [String: JSONValue]

    public init(_ value: JSONValue, path: String = "") throws(JSONShapeError) {
        guard case .object(let members) = value else { throw JSONShapeError(path: path, expected: "an object", found: value) }
        self.path = path
        self.members = members
    }

    /// The raw member, nil when absent or null.
    public func value(_ key: String) -> JSONValue? {
        switch members[key] {
        case nil, .null?: nil
        case let value?: value
        }
    }

    public func string(_ key: String) throws(JSONShapeError) -> String {
        guard let text = try optionalString(key) else { throw missing(key, "a string") }
        return text
    }

    public func optionalString(_ key: String) throws(JSONShapeError) -> String? {
        guard let value = value(key) else { return nil }
        guard case .string(let text) = value else { throw wrong(key, "a string", value) }
        return text
    }

    public func int64(_ key: String) throws(JSONShapeError) -> Int64 {
        guard let number = try optionalInt64(key) else { throw missing(key, "an integer") }
        return number
    }

    /// A whole number a Double holds exactly (|n| ≤ 2^53).
    public func optionalInt64(_ key: String) throws(JSONShapeError) -> Int64? {
        guard let value = value(key) else { return nil }
        guard case .number(let number) = value, number == number.rounded(), abs(number) <= 9_007_199_254_740_992 else {
            throw wrong(key, "an integer", value)
        }
        return Int64(number)
    }

    public func double(_ key: String) throws(JSONShapeError) -> Double {
        guard let value = value(key) else { throw missing(key, "a number") }
        guard case .number(let number) = value else { throw wrong(key, "a number", value) }
        return number
    }

    public func uuid(_ key: String) throws(JSONShapeError) -> UUID {
        guard let id = try optionalUUID(key) else { throw missing(key, "a UUID") }
        return id
    }

    public func optionalUUID(_ key: String) throws(JSONShapeError) -> UUID? {
        guard let value = value(key) else { return nil }
        guard case .string(let text) = value, let id = UUID(uuidString: text) else { throw wrong(key, "a UUID", value) }
        return id
    }

    /// A string member that must be one of `T`'s raw values.
    public func enumeration<T: RawRepresentable>(_ key: String, _ type: T.Type) throws(JSONShapeError) -> T where T.RawValue == String {
        guard let value = try optionalEnumeration(key, type) else { throw missing(key, "a string") }
        return value
    }

    public func optionalEnumeration<T: RawRepresentable>(_ key: String, _ type: T.Type) throws(JSONShapeError) -> T?
    where T.RawValue == String {
        guard let text = try optionalString(key) else { return nil }
        guard let value = T(rawValue: text) else { throw wrong(key, "a known \(T.self) value", .string(text)) }
        return value
    }

    public func object(_ key: String) throws(JSONShapeError) -> JSONObjectReader {
        guard let object = try optionalObject(key) else { throw missing(key, "an object") }
        return object
    }

    public func optionalObject(_ key: String) throws(JSONShapeError) -> JSONObjectReader? {
        guard let value = value(key) else { return nil }
        return try JSONObjectReader(value, path: child(key))
    }

    /// Each element of an array member, read as an object.
    public func objects(_ key: String) throws(JSONShapeError) -> [JSONObjectReader] {
        guard let found = try optionalObjects(key) else { throw missing(key, "an array") }
        return found
    }

    public func optionalObjects(_ key: String) throws(JSONShapeError) -> [JSONObjectReader]? {
        guard let value = value(key) else { return nil }
        guard case .array(let elements) = value else { throw wrong(key, "an array", value) }
        var objects: [JSONObjectReader] = []
        objects.reserveCapacity(elements.count)
        for (index, element) in elements.enumerated() {
            objects.append(try JSONObjectReader(element, path: "\(child(key))[\(index)]"))
        }
        return objects
    }

    private func child(_ key: String) -> String {
        path.isEmpty ? key : "\(path).\(key)"
    }

    private func missing(_ key: String, _ expected: String) -> JSONShapeError {
        JSONShapeError(path: child(key), expected: expected, found: nil)
    }

    private func wrong(_ key: String, _ expected: String, _ found: JSONValue) -> JSONShapeError {
        JSONShapeError(path: child(key), expected: expected, found: found)
    }
}

/// A member of the wrong type, or missing: "receipt.items[0].price: expected an integer, found a string",
/// "receipt.total: missing (expected an integer)".
public struct JSONShapeError: Error, Sendable, Equatable, CustomStringConvertible {
    public var path: String
    public var expected: String
    /// The JSON type found; nil when the member is missing or null.
    public var foundType: String?

    public init(path: String, expected: String, found: JSONValue?) {
        self.path = path
        self.expected = expected
        self.foundType = found?.typeName
    }

    public var description: String {
        let place = path.isEmpty ? "(document)" : path
        guard let foundType else { return "\(place): missing (expected \(expected))" }
        return "\(place): expected \(expected), found \(foundType == "array" || foundType == "object" ? "an" : "a") \(foundType)"
    }
}
