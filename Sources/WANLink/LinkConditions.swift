/// Whether a link carries traffic.
public enum LinkState: String, Sendable, CaseIterable, Codable {
    /// Traffic flows (with the link's latency and jitter).
    case up
    /// A cut WAN where packets vanish: connections are accepted and read, nothing is forwarded
    /// or answered, and nothing is closed, so peers see timeouts rather than resets. Going back
    /// to `up` closes the connections that lived through it, as a real partition's TCP sessions
    /// usually die.
    case blackhole
    /// Open connections are reset and new ones refused (nothing listens) until the link leaves
    /// this state.
    case reset

    /// The states, for error messages.
    public static let list = allCases.map(\.rawValue).joined(separator: ", ")
}

/// What a link does to its traffic, changeable at run time.
public struct LinkConditions: Sendable, Equatable, CustomStringConvertible {
    public var state: LinkState
    /// Added one-way delay, in each direction, to every chunk.
    public var latencyMs: Int
    /// Each chunk's delay is the latency plus or minus up to this much (never below zero, and
    /// never overtaking an earlier chunk: the link is a pipe).
    public var jitterMs: Int

    /// The largest latency or jitter accepted: a minute is already far past any timeout the
    /// cluster uses, so more is a typo.
    public static let maxDelayMs = 60_000

    public init(state: LinkState = .up, latencyMs: Int = 0, jitterMs: Int = 0) {
        self.state = state
        self.latencyMs = latencyMs
        self.jitterMs = jitterMs
    }

    public var description: String { "\(state.rawValue), latency \(latencyMs) ms, jitter \(jitterMs) ms" }

    /// One chunk's delay: the latency with a uniformly drawn jitter, never negative.
    func sampleDelay() -> Duration {
        guard jitterMs > 0 else { return .milliseconds(latencyMs) }
        let microseconds = latencyMs * 1000 + Int.random(in: -jitterMs * 1000...jitterMs * 1000)
        return .microseconds(max(0, microseconds))
    }
}

/// A change to a link's conditions: only the fields given change.
public struct LinkChange: Sendable, Equatable {
    public var state: LinkState?
    public var latencyMs: Int?
    public var jitterMs: Int?

    public init(state: LinkState? = nil, latencyMs: Int? = nil, jitterMs: Int? = nil) {
        self.state = state
        self.latencyMs = latencyMs
        self.jitterMs = jitterMs
    }

    /// Changes nothing.
    public var isEmpty: Bool { state == nil && latencyMs == nil && jitterMs == nil }

    /// `conditions` with this change made.
    public func applied(to conditions: LinkConditions) -> LinkConditions {
        var changed = conditions
        if let state { changed.state = state }
        if let latencyMs { changed.latencyMs = latencyMs }
        if let jitterMs { changed.jitterMs = jitterMs }
        return changed
    }
}
