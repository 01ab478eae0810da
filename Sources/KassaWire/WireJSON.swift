import Foundation
import NIOCore

/// JSON settings shared by both ends of the wire and by the archive file.
public enum WireJSON {
    /// Compact, sorted keys (stable lines are easier to diff and grep), `/` not escaped (URLs).
    public static func makeEncoder() -> JSONEncoder {
        let encoder = JSONEncoder()
        encoder.outputFormatting = [.sortedKeys, .withoutEscapingSlashes]
        return encoder
    }

    public static func makeDecoder() -> JSONDecoder {
        JSONDecoder()
    }

    /// `value` as one protocol line: compact JSON and a `\n`. A sell request or a fiscal
    /// document's answer is written by hand (`HandWrittenJSON`), anything else by `JSONEncoder`.
    public static func line(_ value: some Encodable) throws -> ByteBuffer {
        if let message = value as? any HandWrittenLine, let line = message.handWrittenLine() { return line }
        var data = try makeEncoder().encode(value)
        data.append(UInt8(ascii: "\n"))
        return ByteBuffer(bytes: data)
    }

    static func lineBuffer(_ json: [UInt8]) -> ByteBuffer {
        var buffer = ByteBuffer()
        buffer.reserveCapacity(json.count + 1)
        buffer.writeBytes(json)
        buffer.writeInteger(UInt8(ascii: "\n"))
        return buffer
    }

    /// "args.items[0].price: expected Int64 but found a string" — what a decoding error says, with
    /// where, for `bad_request` texts and log lines.
    public static func describe(_ error: any Error) -> String {
        guard let error = error as? DecodingError else { return "\(error)" }
        switch error {
        case .typeMismatch(let type, let context):
            return at(context.codingPath, "expected \(typeName(type)); \(context.debugDescription)")
        case .valueNotFound(let type, let context):
            return at(context.codingPath, "expected \(typeName(type)), found null")
        case .keyNotFound(let key, let context):
            return at(context.codingPath + [key], "missing")
        case .dataCorrupted(let context):
            var text = context.debugDescription
            if let underlying = context.underlyingError { text += " (\(underlying))" }
            return at(context.codingPath, text)
        @unknown default:
            return "\(error)"
        }
    }

    /// `items[0].price` for a coding path.
    public static func path(_ codingPath: [any CodingKey]) -> String {
        var text = ""
        for key in codingPath {
            if let index = key.intValue {
                text += "[\(index)]"
            } else {
                text += (text.isEmpty ? "" : ".") + key.stringValue
            }
        }
        return text
    }

    private static func at(_ codingPath: [any CodingKey], _ text: String) -> String {
        let where_ = path(codingPath)
        return where_.isEmpty ? text : "\(where_): \(text)"
    }

    private static func typeName(_ type: Any.Type) -> String {
        switch type {
        case is Int64.Type, is Int.Type, is UInt32.Type: "an integer"
        case is String.Type: "a string"
        case is Bool.Type: "a boolean"
        default: "\(type)"
        }
    }
}
