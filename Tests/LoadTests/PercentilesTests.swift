import Testing

@testable import Load

@Suite("Percentiles")
struct PercentilesTests {
    @Test("nearest rank over 1...100")
    func hundredSamples() {
        let sorted = Array(1...100)
        #expect(Percentiles.nearestRank(50, sorted: sorted) == 50)
        #expect(Percentiles.nearestRank(95, sorted: sorted) == 95)
        #expect(Percentiles.nearestRank(99, sorted: sorted) == 99)
        #expect(Percentiles.nearestRank(100, sorted: sorted) == 100)
        #expect(Percentiles.nearestRank(0, sorted: sorted) == 1)
    }

    @Test("small and empty sample sets")
    func edges() {
        #expect(Percentiles.nearestRank(50, sorted: []) == nil)
        #expect(Percentiles.nearestRank(99, sorted: [7]) == 7)
        #expect(Percentiles.nearestRank(50, sorted: [1, 2]) == 1)
        #expect(Percentiles.nearestRank(51, sorted: [1, 2]) == 2)
        // p99 of 10 samples is the maximum: 9.9 rounds up to rank 10.
        #expect(Percentiles.nearestRank(99, sorted: Array(1...10)) == 10)
    }

    @Test("latency summary sorts its input")
    func summary() {
        let samples = (1...1000).reversed().map { $0 }
        let summary = LatencySummary(milliseconds: samples)
        #expect(summary == LatencySummary(count: 1000, p50: 500, p95: 950, p99: 990, max: 1000))
        #expect(LatencySummary(milliseconds: []) == LatencySummary(count: 0, p50: 0, p95: 0, p99: 0, max: 0))
    }
}
