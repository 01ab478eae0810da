/// Arguments of `archive`: documents numbered above `after`, at most `limit` of them.
public struct ArchiveRequest: Sendable, Codable, Equatable {
    public static let defaultLimit = 1000
    public static let limitRange = 1...10_000

    /// Return documents with `fiscal_document_number > after` (0 = from the first).
    public var after: Int64
    /// At most this many documents (1...10000, default 1000).
    public var limit: Int

    public init(after: Int64, limit: Int = ArchiveRequest.defaultLimit) {
        self.after = after
        self.limit = limit
    }

    enum CodingKeys: String, CodingKey {
        case after, limit
    }

    public init(from decoder: any Decoder) throws {
        let c = try decoder.container(keyedBy: CodingKeys.self)
        after = try c.decodeIfPresent(Int64.self, forKey: .after) ?? 0
        limit = try c.decodeIfPresent(Int.self, forKey: .limit) ?? Self.defaultLimit
    }
}

/// The result of `archive`: documents in ascending number order, and the FN's newest number.
///
/// A page may hold fewer than `limit` documents: the module keeps an answer line near 1 MiB. Page
/// on from the last returned number until it reaches `lastDocumentNumber`.
public struct ArchivePage: Sendable, Codable, Equatable {
    public var documents: [FiscalDocument]
    public var lastDocumentNumber: Int64

    public init(documents: [FiscalDocument], lastDocumentNumber: Int64) {
        self.documents = documents
        self.lastDocumentNumber = lastDocumentNumber
    }

    enum CodingKeys: String, CodingKey {
        case documents
        case lastDocumentNumber = "last_document_number"
    }
}
