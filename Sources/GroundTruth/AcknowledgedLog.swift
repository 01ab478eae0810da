import Foundation

/// One receipt the load tool posted, from its acknowledged log (`kassa load --ack-log`).
public struct AcknowledgedPost: Sendable, Codable, Equatable {
    /// The job uuid (lowercase), derived from group code and external_id.
    public var uuid: String
    public var groupCode: String
    public var externalID: String
    public var operation: String
    /// The receipt total in kopecks, when the line carried one.
    public var totalKopecks: Int64?
    /// When the post was answered (or gave up), as the log wrote it.
    public var acceptedAt: String?
    /// True when at least one line of this uuid has no status: the API accepted the receipt and
    /// owes it exactly one document or a failure. False when every line says `unanswered`: the
    /// answer never came, so a document is allowed but not owed.
    public var acknowledged: Bool

    public init(uuid: String, groupCode: String, externalID: String = "", operation: String = "sell",
                totalKopecks: Int64? = nil, acceptedAt: String? = nil, acknowledged: Bool = true) {
        self.uuid = uuid.lowercased()
        self.groupCode = groupCode
        self.externalID = externalID
        self.operation = operation
        self.totalKopecks = totalKopecks
        self.acceptedAt = acceptedAt
        self.acknowledged = acknowledged
    }

    enum CodingKeys: String, CodingKey {
        case uuid
        case groupCode = "group_code"
        case externalID = "external_id"
        case operation
        case totalKopecks = "total"
        case acceptedAt = "accepted_at"
        case acknowledged
    }
}

/// The load tool's record of what it posted: JSON lines
/// `{"uuid","group_code","external_id","operation","total","accepted_at"}`, plus
/// `"status":"unanswered"` for posts whose answer never came. A uuid on several lines is one
/// receipt; it is acknowledged if any of its lines is.
public struct AcknowledgedLog: Sendable, Equatable {
    /// One per uuid, in the order first seen.
    public var posts: [AcknowledgedPost]
    /// An unterminated, unreadable last line (the load tool was killed mid-write) was skipped.
    public var tornLastLine: Bool

    public init(posts: [AcknowledgedPost], tornLastLine: Bool = false) {
        self.posts = posts
        self.tornLastLine = tornLastLine
    }

    /// The posts the API acknowledged.
    public var acknowledged: [AcknowledgedPost] { posts.filter(\.acknowledged) }
    /// The posts whose answer never came (and were never acknowledged on another line).
    public var unanswered: [AcknowledgedPost] { posts.filter { !$0.acknowledged } }

    /// Reads the log at `path`.
    public static func read(path: String) throws(GroundTruthError) -> AcknowledgedLog {
        guard let data = FileManager.default.contents(atPath: path) else {
            throw .unreadable(path: path, reason: "cannot read the acknowledged log")
        }
        return try parse(Array(data), path: path)
    }

    /// Parses the log's bytes; `path` names lines in errors.
    public static func parse(_ bytes: [UInt8], path: String) throws(GroundTruthError) -> AcknowledgedLog {
        var posts: [AcknowledgedPost] = []
        var position: [String: Int] = [:]
        var tornLastLine = false
        let endsWithNewline = bytes.last == UInt8(ascii: "\n")
        let lines = bytes.split(separator: UInt8(ascii: "\n"), omittingEmptySubsequences: false)
        for (index, line) in lines.enumerated() {
            if line.allSatisfy({ $0 == UInt8(ascii: " ") || $0 == UInt8(ascii: "\r") }) { continue }
            let isUnterminatedLast = index == lines.count - 1 && !endsWithNewline
            let entry: LogLine
            do {
                entry = try JSONDecoder().decode(LogLine.self, from: Data(line))
            } catch {
                if isUnterminatedLast {
                    tornLastLine = true
                    continue
                }
                throw .badLogLine(path: path, line: index + 1, reason: "expected a JSON object with string uuid and group_code: \(error)")
            }
            let acknowledged: Bool
            switch entry.status {
            case nil: acknowledged = true
            case "unanswered": acknowledged = false
            case let other?: throw .badLogLine(path: path, line: index + 1, reason: "unknown status \"\(other)\"")
            }
            guard !entry.uuid.isEmpty, !entry.groupCode.isEmpty else {
                throw .badLogLine(path: path, line: index + 1, reason: "empty uuid or group_code")
            }
            let post = AcknowledgedPost(
                uuid: entry.uuid, groupCode: entry.groupCode, externalID: entry.externalID ?? "",
                operation: entry.operation ?? "sell", totalKopecks: entry.total.map { Int64(($0 * 100).rounded()) },
                acceptedAt: entry.acceptedAt, acknowledged: acknowledged)
            if let existing = position[post.uuid] {
                if post.acknowledged && !posts[existing].acknowledged { posts[existing] = post }
            } else {
                position[post.uuid] = posts.count
                posts.append(post)
            }
        }
        return AcknowledgedLog(posts: posts, tornLastLine: tornLastLine)
    }
}

private struct LogLine: Decodable {
    var uuid: String
    var groupCode: String
    var externalID: String?
    var operation: String?
    var total: Double?
    var acceptedAt: String?
    var status: String?

    enum CodingKeys: String, CodingKey {
        case uuid, operation, total, status
        case groupCode = "group_code"
        case externalID = "external_id"
        case acceptedAt = "accepted_at"
    }
}
