/// Nearest-rank percentiles over integer samples.
///
/// Exact rather than approximated: a run holds at most a few hundred thousand samples,
/// and sorting those once per report is cheap.
public enum Percentiles {
    /// The nearest-rank percentile `p` (0...100) of ascending `sorted` samples: the
    /// smallest sample such that at least p% of samples are ≤ it. Nil when empty.
    public static func nearestRank(_ p: Double, sorted: [Int]) -> Int? {
        guard !sorted.isEmpty else { return nil }
        let clamped = min(max(p, 0), 100)
        let rank = Int((clamped / 100 * Double(sorted.count)).rounded(.up))
        return sorted[min(max(rank, 1), sorted.count) - 1]
    }
}

/// p50 / p95 / p99 / max of a set of millisecond samples.
public struct LatencySummary: Sendable, Codable, Equatable {
    public var count: Int
    public var p50: Int
    public var p95: Int
    public var p99: Int
    public var max: Int

    public init(count: Int, p50: Int, p95: Int, p99: Int, max: Int) {
        self.count = count
        self.p50 = p50
        self.p95 = p95
        self.p99 = p99
        self.max = max
    }

    /// Summarises samples in any order; all zeros when there are none.
    public init(milliseconds samples: [Int]) {
        let sorted = samples.sorted()
        self.init(
            count: sorted.count,
            p50: Percentiles.nearestRank(50, sorted: sorted) ?? 0,
            p95: Percentiles.nearestRank(95, sorted: sorted) ?? 0,
            p99: Percentiles.nearestRank(99, sorted: sorted) ?? 0,
            max: sorted.last ?? 0
        )
    }
}
