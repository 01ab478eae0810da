import KassaModel
/// A minimal JSON text builder.
///
/// Receipt bodies and log lines are written by hand rather than through `JSONEncoder`
/// so that numbers come out exactly as `DecimalText` formats them and key order is
/// stable (handy when diffing bodies or grepping logs).
struct JSONText: Sendable {
    private(set) var text = ""
    private var needsComma: [Bool] = [false]

    init() {}

    mutating func beginObject() { open("{") }
    mutating func endObject() { close("}") }
    mutating func beginArray() { open("[") }
    mutating func endArray() { close("]") }

    /// Starts an object member; the value must follow.
    mutating func key(_ name: String) {
        separate()
        text += Self.quoted(name)
        text += ":"
        // The value right after a key must not get its own comma.
        needsComma[needsComma.count - 1] = false
    }

    mutating func string(_ value: String) {
        separate()
        text += Self.quoted(value)
    }

    /// Writes pre-formatted number text (from `DecimalText` or an integer).
    mutating func number(_ literal: String) {
        separate()
        text += literal
    }

    mutating func number(_ value: Int) { number(String(value)) }

    mutating func null() {
        separate()
        text += "null"
    }

    mutating func field(_ name: String, _ value: String) {
        key(name)
        string(value)
    }

    mutating func field(_ name: String, number literal: String) {
        key(name)
        number(literal)
    }

    private mutating func open(_ bracket: String) {
        separate()
        text += bracket
        needsComma.append(false)
    }

    private mutating func close(_ bracket: String) {
        if needsComma.count > 1 { needsComma.removeLast() }
        text += bracket
        needsComma[needsComma.count - 1] = true
    }

    private mutating func separate() {
        if needsComma[needsComma.count - 1] { text += "," }
        needsComma[needsComma.count - 1] = true
    }

    /// RFC 8259 string escaping (the project's one JSON string writer).
    static func quoted(_ value: String) -> String {
        JSONValue.string(value).serialized()
    }
}
