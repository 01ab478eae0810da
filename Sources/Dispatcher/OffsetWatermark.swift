/// Tracks, per partition, which consumed offsets are durable (their outcome is in the registry)
/// and yields the offset that is safe to commit: the lowest offset not yet durable. Committing
/// past a job that is still in flight would lose it if this dispatcher died.
public struct OffsetWatermark: Sendable {
    /// Offsets consumed but not yet durable, per partition.
    private var pending: [Int32: Set<Int64>] = [:]
    /// The next offset after the highest consumed one, per partition.
    private var next: [Int32: Int64] = [:]
    /// The last offset handed out for commit, per partition, so unchanged ones are not re-committed.
    private var committed: [Int32: Int64] = [:]

    public init() {}

    /// A message at `offset` was consumed and is now in flight.
    public mutating func consumed(partition: Int32, offset: Int64) {
        pending[partition, default: []].insert(offset)
        next[partition] = max(next[partition] ?? 0, offset + 1)
    }

    /// The job at `offset` is durable (done, failed with a reason, or found already recorded).
    public mutating func durable(partition: Int32, offset: Int64) {
        pending[partition]?.remove(offset)
    }

    /// The offset to commit for `partition`: the lowest pending offset, or one past the highest
    /// consumed offset when nothing is pending. Nil when nothing was consumed.
    public func committable(partition: Int32) -> Int64? {
        if let lowest = pending[partition]?.min() { return lowest }
        return next[partition]
    }

    /// Offsets that moved since the last call, to be committed now.
    public mutating func takeCommits() -> [Int32: Int64] {
        var out: [Int32: Int64] = [:]
        for partition in next.keys {
            guard let offset = committable(partition: partition), committed[partition] != offset else { continue }
            out[partition] = offset
            committed[partition] = offset
        }
        return out
    }

    /// Forgets a partition that was revoked.
    public mutating func forget(partition: Int32) {
        pending[partition] = nil
        next[partition] = nil
        committed[partition] = nil
    }

    /// How many consumed jobs are not yet durable.
    public var inFlight: Int { pending.values.reduce(0) { $0 + $1.count } }
}
