import KassaModel
import Foundation

/// What one second of a run saw: receipts acknowledged, finished, and how long the finished
/// ones took from acknowledgement to `done`. Drills plot these against their faults.
public struct LoadSecond: Sendable, Codable, Equatable {
    /// Whole seconds since the run's first scheduled post.
    public var second: Int
    public var accepted = 0
    public var done = 0
    public var failed = 0
    /// Receipts done in this second by tenant (group code): a tenant's own throughput.
    public var doneByTenant: [String: Int]?
    /// Acknowledgement → done of the receipts that reached `done` in this second.
    public var p50Milliseconds: Int?
    public var p99Milliseconds: Int?
    public var maxMilliseconds: Int?

    public init(second: Int) {
        self.second = second
    }
}

/// A run's seconds, in order, and when it started on the wall clock (to line up with faults).
public struct LoadTimeline: Sendable, Codable, Equatable {
    public var startedAt: Date
    public var seconds: [LoadSecond]

    public init(startedAt: Date, seconds: [LoadSecond]) {
        self.startedAt = startedAt
        self.seconds = seconds
    }
}

/// Counts per second as they happen; latencies are kept per second until the timeline is built.
struct TimelineRecorder: Sendable {
    private struct Bucket: Sendable {
        var accepted = 0
        var done = 0
        var failed = 0
        var latencies: [Int] = []
        var doneByTenant: [String: Int] = [:]
    }

    let start: ContinuousClock.Instant
    private var buckets: [Int: Bucket] = [:]

    init(start: ContinuousClock.Instant) {
        self.start = start
    }

    private func second(_ instant: ContinuousClock.Instant) -> Int {
        max(0, Int((instant - start).inSeconds.rounded(.down)))
    }

    mutating func accepted(at instant: ContinuousClock.Instant) {
        buckets[second(instant), default: Bucket()].accepted += 1
    }

    mutating func done(at instant: ContinuousClock.Instant, latencyMilliseconds: Int, tenant: String? = nil) {
        let s = second(instant)
        buckets[s, default: Bucket()].done += 1
        if let tenant { buckets[s, default: Bucket()].doneByTenant[tenant, default: 0] += 1 }
        buckets[s, default: Bucket()].latencies.append(latencyMilliseconds)
    }

    mutating func failed(at instant: ContinuousClock.Instant) {
        buckets[second(instant), default: Bucket()].failed += 1
    }

    /// Receipts done per second and the p99 of their latency over the last `window` whole
    /// seconds before `now` (the current, partial second excluded).
    func recent(window: Int, now: ContinuousClock.Instant) -> (donePerSecond: Double, p99Milliseconds: Int?) {
        let current = second(now)
        let range = max(0, current - window)..<current
        guard !range.isEmpty else { return (0, nil) }
        var done = 0
        var latencies: [Int] = []
        for s in range {
            guard let bucket = buckets[s] else { continue }
            done += bucket.done
            latencies += bucket.latencies
        }
        return (Double(done) / Double(range.count), Percentiles.nearestRank(99, sorted: latencies.sorted()))
    }

    /// Every second from 0 to the last one with anything in it.
    func everySecond() -> [LoadSecond] {
        guard let last = buckets.keys.max() else { return [] }
        return (0...last).map { s in
            var entry = LoadSecond(second: s)
            guard let bucket = buckets[s] else { return entry }
            entry.accepted = bucket.accepted
            entry.done = bucket.done
            entry.failed = bucket.failed
            entry.doneByTenant = bucket.doneByTenant.isEmpty ? nil : bucket.doneByTenant
            let sorted = bucket.latencies.sorted()
            entry.p50Milliseconds = Percentiles.nearestRank(50, sorted: sorted)
            entry.p99Milliseconds = Percentiles.nearestRank(99, sorted: sorted)
            entry.maxMilliseconds = sorted.last
            return entry
        }
    }
}
