import KassaModel
/// A snapshot of a running load test, delivered about once a second.
public struct LoadProgress: Sendable, Equatable {
    public enum Phase: String, Sendable {
        case sending
        case draining
    }

    public var phase: Phase
    /// Since the first scheduled post.
    public var elapsed: Duration
    public var sent: Int
    public var accepted: Int
    public var done: Int
    public var failed: Int
    /// Accepted and neither done nor failed yet.
    public var waiting: Int
    public var rejected: Int
    public var backpressure503: Int
    /// p99 of acceptance→done latency so far; nil before the first `done`.
    public var p99Milliseconds: Int?
    /// Receipts done per second over the last five whole seconds.
    public var recentDonePerSecond: Double
    /// p99 acceptance→done latency of the receipts done in the last five whole seconds.
    public var recentP99Milliseconds: Int?

    public init(
        phase: Phase, elapsed: Duration, sent: Int, accepted: Int, done: Int, failed: Int,
        waiting: Int, rejected: Int, backpressure503: Int, p99Milliseconds: Int?,
        recentDonePerSecond: Double = 0, recentP99Milliseconds: Int? = nil
    ) {
        self.recentDonePerSecond = recentDonePerSecond
        self.recentP99Milliseconds = recentP99Milliseconds
        self.phase = phase
        self.elapsed = elapsed
        self.sent = sent
        self.accepted = accepted
        self.done = done
        self.failed = failed
        self.waiting = waiting
        self.rejected = rejected
        self.backpressure503 = backpressure503
        self.p99Milliseconds = p99Milliseconds
    }

    /// One status line, e.g. for stderr.
    public var line: String {
        let secs = Int(elapsed.inSeconds.rounded(.down))
        let p99 = p99Milliseconds.map { "\($0) ms" } ?? "–"
        return "[\(phase.rawValue) \(secs)s] sent \(sent)  accepted \(accepted)  done \(done)  "
            + "failed \(failed)  waiting \(waiting)  rejected \(rejected)  503 \(backpressure503)  p99 \(p99)"
    }
}
