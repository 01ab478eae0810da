import Foundation
import KassaModel
import Registry

/// The optional body of `POST /{group_code}/resend`:
/// `{"uuids": [...], "error_code": N, "error_type": "...", "from": "dd.mm.yyyy HH:MM:SS",
///   "to": "...", "limit": N}`, every key optional (null counts as absent). An empty body
/// re-sends every failed receipt of the group, up to `ResendFilter.maxLimit`.
///
/// `from` (inclusive) and `to` (exclusive) bound when the receipt was accepted, in Moscow time
/// like every ATOL timestamp. Unknown keys are refused: a misspelt filter must not widen a
/// resend to every failed receipt.
enum ResendRequest {
    static let fields = ["uuids", "error_code", "error_type", "from", "to", "limit"]
    /// ATOL's error types.
    static let errorTypes = ["agent", "driver", "system", "timeout", "unknown"]

    /// The filter, or an error 32 naming each bad field path and the expected form.
    static func filter(fromBody body: [UInt8]) -> Result<ResendFilter, ATOLError> {
        let isBlank = body.allSatisfy { $0 == UInt8(ascii: " ") || $0 == UInt8(ascii: "\n") || $0 == UInt8(ascii: "\r") || $0 == UInt8(ascii: "\t") }
        if isBlank { return .success(ResendFilter()) }
        guard let json = try? JSONValue.parse(body) else {
            return .failure(problem("(body)", "valid JSON: an object with optional \(fields.joined(separator: ", "))"))
        }
        return filter(from: json)
    }

    static func filter(from json: JSONValue) -> Result<ResendFilter, ATOLError> {
        guard case .object(let object) = json else {
            return .failure(problem("(body)", "a JSON object with optional \(fields.joined(separator: ", ")), got \(json.typeName)"))
        }
        var problems: [(String, String)] = []
        var filter = ResendFilter()
        for key in object.keys.sorted() where !fields.contains(key) {
            problems.append((key, "not a resend field (expected one of \(fields.joined(separator: ", ")))"))
        }
        switch object["uuids"] {
        case nil, .null?: break
        case .array(let items)? where (1...ResendFilter.maxLimit).contains(items.count):
            var uuids: [UUID] = []
            for (index, item) in items.enumerated() {
                if case .string(let text) = item, let uuid = UUID(uuidString: text) {
                    uuids.append(uuid)
                } else {
                    problems.append(("uuids[\(index)]", "a uuid (8-4-4-4-12 hex digits)"))
                }
            }
            filter.uuids = uuids
        default:
            problems.append(("uuids", "an array of 1 to \(ResendFilter.maxLimit) uuids"))
        }
        switch integer(object["error_code"], in: 0...Int(Int32.max)) {
        case .absent: break
        case .value(let code): filter.errorCode = code
        case .invalid: problems.append(("error_code", "an integer from 0 to \(Int32.max)"))
        }
        switch object["error_type"] {
        case nil, .null?: break
        case .string(let type)? where errorTypes.contains(type): filter.errorType = type
        default: problems.append(("error_type", "one of \(errorTypes.joined(separator: ", "))"))
        }
        for key in ["from", "to"] {
            switch object[key] {
            case nil, .null?: break
            case .string(let text)? where ATOLTimestamp.parse(text) != nil:
                if key == "from" { filter.from = ATOLTimestamp.parse(text) } else { filter.to = ATOLTimestamp.parse(text) }
            default: problems.append((key, "a time \(ATOLTimestamp.expectedForm) (Moscow time)"))
            }
        }
        if let from = filter.from, let to = filter.to, from >= to {
            problems.append(("to", "a time later than from"))
        }
        switch integer(object["limit"], in: 1...ResendFilter.maxLimit) {
        case .absent: break
        case .value(let limit): filter.limit = limit
        case .invalid: problems.append(("limit", "an integer from 1 to \(ResendFilter.maxLimit)"))
        }
        guard problems.isEmpty else {
            return .failure(ATOLError(.incomingValidation, "fields: " + problems.map { "\($0.0): \($0.1)" }.joined(separator: "; ")))
        }
        return .success(filter)
    }

    private enum IntegerField {
        case absent, value(Int), invalid
    }

    private static func integer(_ value: JSONValue?, in range: ClosedRange<Int>) -> IntegerField {
        switch value {
        case nil, .null?: return .absent
        case .number(let number)? where number.rounded() == number && number >= Double(range.lowerBound) && number <= Double(range.upperBound):
            return .value(Int(number))
        default: return .invalid
        }
    }

    private static func problem(_ path: String, _ expected: String) -> ATOLError {
        ATOLError(.incomingValidation, "fields: \(path): \(expected)")
    }
}
