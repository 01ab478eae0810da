import KassaModel
/// A JSON value with one fixed serialization, so that a fiscal sign computed here can be checked
/// by any outside tool: object keys sorted by code point, no whitespace, integers as plain digits,
/// strings as raw UTF-8 with only `"` `\` and control characters escaped (`\b \f \n \r \t`, others
/// as lowercase `\u00xx`). That is exactly Python's
/// `json.dumps(v, sort_keys=True, separators=(",", ":"), ensure_ascii=False)`.
enum CanonicalJSON: Sendable, Equatable, Decodable {
    case null
    case bool(Bool)
    case integer(Int64)
    case number(Double)
    case string(String)
    case array([CanonicalJSON])
    case object([String: CanonicalJSON])

    init(from decoder: any Decoder) throws {
        let c = try decoder.singleValueContainer()
        if c.decodeNil() {
            self = .null
        } else if let value = try? c.decode(Bool.self) {
            self = .bool(value)
        } else if let value = try? c.decode(Int64.self) {
            self = .integer(value)
        } else if let value = try? c.decode(Double.self) {
            self = .number(value)
        } else if let value = try? c.decode(String.self) {
            self = .string(value)
        } else if let value = try? c.decode([CanonicalJSON].self) {
            self = .array(value)
        } else {
            self = .object(try c.decode([String: CanonicalJSON].self))
        }
    }

    var serialized: String {
        var out = ""
        write(to: &out)
        return out
    }

    func write(to out: inout String) {
        switch self {
        case .null: out += "null"
        case .bool(let value): out += value ? "true" : "false"
        case .integer(let value): out += String(value)
        case .number(let value): out += value == value.rounded() && abs(value) < 1e15 ? String(Int64(value)) : "\(value)"
        case .string(let value): JSONValue.writeString(value, to: &out)
        case .array(let values):
            out += "["
            for (i, value) in values.enumerated() {
                if i > 0 { out += "," }
                value.write(to: &out)
            }
            out += "]"
        case .object(let members):
            out += "{"
            // Code point order, which is UTF-8 byte order (Swift's String `<` compares grapheme
            // clusters under Unicode normalization, which is not what Python does).
            let keys = members.keys.sorted { $0.utf8.lexicographicallyPrecedes($1.utf8) }
            for (i, key) in keys.enumerated() {
                if i > 0 { out += "," }
                JSONValue.writeString(key, to: &out)
                out += ":"
                members[key]?.write(to: &out)
            }
            out += "}"
        }
    }

}

extension FiscalDocument {
    /// The text the fiscal sign (`fiscal_document_attribute`, FPD) is computed over: the
    /// document's JSON object without the `fiscal_document_attribute` key, in the canonical form
    /// of `CanonicalJSON` (sorted keys, no whitespace). A checker can recompute it from an
    /// `archive.jsonl` line with Python's
    /// `json.dumps({k: v for k, v in doc.items() if k != "fiscal_document_attribute"}, sort_keys=True, separators=(",", ":"), ensure_ascii=False)`.
    public var canonicalText: String {
        // The same writer and key order as the document's own JSON, without the sign.
        var w = JSONWriter(capacity: 768)
        write(to: &w, withSign: false)
        return String(decoding: w.bytes, as: UTF8.self)
    }
}
