import KassaModel

extension FiscalDocument {
    /// The text the fiscal sign (`fiscal_document_attribute`, FPD) is computed over: the
    /// document's JSON object without the `fiscal_document_attribute` key, in one fixed form that
    /// any outside tool can reproduce: keys sorted by code point, no whitespace, integers as plain
    /// digits, strings as raw UTF-8 with only `"` `\` and control characters escaped (`\b \f \n \r
    /// \t`, others as lowercase `\u00xx`). A checker recomputes it from an `archive.jsonl` line
    /// with Python's
    /// `json.dumps({k: v for k, v in doc.items() if k != "fiscal_document_attribute"}, sort_keys=True, separators=(",", ":"), ensure_ascii=False)`.
    public var canonicalText: String {
        // The document's own writer (its keys already in that order), without the sign.
        var w = JSONWriter(capacity: 768)
        write(to: &w, withSign: false)
        return String(decoding: w.bytes, as: UTF8.self)
    }
}
