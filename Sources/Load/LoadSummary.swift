/// The outcome of one load run. Counts are of receipts (or posts, where stated), never of
/// HTTP attempts unless the name says so.
public struct LoadSummary: Sendable, Codable, Equatable {
    /// The run's external_id prefix (`load-<runID>-<n>`).
    public var runID: String = ""

    /// Posts scheduled and sent (fresh, duplicate and invalid; retries not counted again).
    public var sent = 0
    /// Fresh receipts the server acknowledged with a uuid and `status: wait`.
    public var accepted = 0
    /// Accepted receipts whose report reached `done`.
    public var done = 0
    /// Accepted receipts whose report reached `fail`.
    public var failed = 0
    /// `"<code>: <text>"` → count, for `failed`.
    public var failedByReason: [String: Int] = [:]
    /// Accepted receipts still neither done nor failed when the drain timeout ran out.
    public var stillWaiting = 0

    /// Posts that deliberately re-sent an accepted external_id.
    public var duplicatesSent = 0
    /// Duplicates answered with code 33 (or an idempotent 200) and the original uuid.
    public var duplicatesRefused = 0
    /// Duplicates answered with another uuid, none, or accepted as new: an idempotency bug.
    public var duplicatesWithWrongUUID = 0

    /// Deliberately schema-invalid posts.
    public var invalidSent = 0
    /// Invalid posts refused with code 32, as expected.
    public var invalidRefused = 0
    /// Invalid posts that were accepted, or refused with another code than 32.
    public var invalidMisanswered = 0
    /// `"<flaw>: <answer>"` → count, for `invalidMisanswered`.
    public var invalidMisansweredByReason: [String: Int] = [:]

    /// Posts that failed unexpectedly: non-2xx answers other than the expected ones,
    /// unreadable answers, transport errors.
    public var rejected = 0
    /// `"HTTP <status> <code>: <text>"` or `"transport: …"` → count, for `rejected`.
    public var rejectedByReason: [String: Int] = [:]

    /// 503 answers (HTTP attempts); each was retried after `Retry-After`.
    public var backpressure503 = 0
    /// Posts given up because their next retry would have run past the end of the run.
    public var backpressureAbandoned = 0
    /// Tokens re-fetched after an ExpiredToken (code 11) answer.
    public var tokenRefreshes = 0

    /// New external_ids that were given a uuid already handed out in this run.
    public var uuidReused = 0
    /// `done` reports whose `payload.total` or `external_id` differs from what was sent.
    public var reportMismatches = 0
    /// Report polls that failed for other reasons than `wait`/`done`/`fail` (attempts).
    public var reportErrors = 0
    /// Reason → count, for `reportErrors`.
    public var reportErrorsByReason: [String: Int] = [:]

    /// From acceptance (the POST's answer arriving) to the first poll that saw `done`.
    public var latency = LatencySummary(milliseconds: [])
    /// Round trip of the POSTs that were accepted.
    public var postLatency = LatencySummary(milliseconds: [])

    /// Wall time of the send phase (first scheduled post to the last post issued).
    public var sendDurationSeconds = 0.0
    /// Wall time of the whole run, drain included.
    public var runDurationSeconds = 0.0
    /// Posts per second asked for.
    public var offeredRate = 0.0
    /// Accepted receipts per second of send phase.
    public var achievedRate = 0.0
    /// How late the scheduler issued its most delayed post; large values mean the
    /// generator itself, not the server, limited the offered rate.
    public var maxScheduleLagMilliseconds = 0

    public init() {}
}
