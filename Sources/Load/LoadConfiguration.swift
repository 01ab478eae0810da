import KassaModel
/// Everything one `kassa load` run needs.
public struct LoadConfiguration: Sendable {
    /// The API root up to and including the protocol version,
    /// e.g. `http://127.0.0.1:8080/possystem/v4` (a trailing slash is tolerated).
    public var baseURL: String
    /// Shops to post as; posts are spread over them round-robin.
    public var tenants: [TenantCredentials]
    /// Receipts per second offered in total (open loop: the schedule does not slow
    /// down when the server does).
    public var rate: Double
    /// Length of the send phase.
    public var duration: Duration
    /// How often each accepted, unfinished receipt is polled.
    public var reportPollInterval: Duration = .milliseconds(250)
    /// After the send phase, keep polling until every accepted receipt is done or
    /// failed, or until this much time has passed.
    public var drainTimeout: Duration = .seconds(120)
    /// Fraction of posts that deliberately re-send an earlier, accepted external_id;
    /// the server must refuse them with code 33 and the original uuid.
    public var duplicateRatio: Double = 0.02
    /// Fraction of posts that are deliberately schema-invalid; the server must refuse
    /// them with code 32. They never count as accepted.
    public var invalidRatio: Double = 0
    /// If set, a JSONL file with one line per acknowledged receipt
    /// (`uuid, group_code, external_id, operation, total, accepted_at`): the ground
    /// truth later checkers compare the fiscal side against. Truncated at start.
    public var acknowledgedLogPath: String?
    /// Makes the receipt stream reproducible.
    public var seed: UInt64
    /// Prefix of every external_id (`load-<runID>-<n>`). When nil a fresh one is made
    /// from the start time, so that re-running with the same seed does not collide
    /// with the previous run's external_ids.
    public var runID: String?
    /// Report requests in flight at once, at most.
    public var maxPollsInFlight: Int = 64
    /// Keep-alive connections to the ingress, at most (posts and polls share them).
    public var maxConnections: Int = 128
    /// Deadline for one HTTP exchange.
    public var requestTimeout: Duration = .seconds(30)
    /// Upper bound on a single `Retry-After` wait, so a misbehaving server cannot
    /// park a post past the end of the run.
    public var maxRetryAfter: Duration = .seconds(30)

    public init(
        baseURL: String,
        tenants: [TenantCredentials],
        rate: Double,
        duration: Duration,
        seed: UInt64,
        acknowledgedLogPath: String? = nil
    ) {
        self.baseURL = baseURL
        self.tenants = tenants
        self.rate = rate
        self.duration = duration
        self.seed = seed
        self.acknowledgedLogPath = acknowledgedLogPath
    }

    /// Rejects configurations that would make the run meaningless or unbounded.
    public func validate() throws(LoadError) {
        func bad(_ reason: String) -> LoadError { .invalidConfiguration(reason) }
        if tenants.isEmpty { throw bad("at least one tenant is required") }
        if !(rate > 0) || !rate.isFinite { throw bad("rate must be a positive number, got \(rate)") }
        if duration <= .zero { throw bad("duration must be positive, got \(duration)") }
        if drainTimeout < .zero { throw bad("drain timeout must not be negative") }
        if reportPollInterval <= .zero { throw bad("report poll interval must be positive") }
        for (name, ratio) in [("duplicate", duplicateRatio), ("invalid", invalidRatio)]
        where !(0...1).contains(ratio) {
            throw bad("\(name) ratio must be within 0...1, got \(ratio)")
        }
        if duplicateRatio + invalidRatio > 1 { throw bad("duplicate ratio + invalid ratio exceeds 1") }
        if maxPollsInFlight < 1 { throw bad("maxPollsInFlight must be at least 1") }
        if maxConnections < 1 { throw bad("maxConnections must be at least 1") }
        if !(baseURL.hasPrefix("http://") || baseURL.hasPrefix("https://")) {
            throw bad("base URL must start with http:// or https://, got \(baseURL)")
        }
        // Total count is rate × seconds; refuse absurd products that would overflow.
        if rate * duration.inSeconds > 1e9 { throw bad("rate × duration is over a billion receipts") }
    }
}
