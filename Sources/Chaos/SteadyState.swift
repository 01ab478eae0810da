import Load

/// One fault as it happened: when it came and when it was over, in seconds since the load started.
public struct FaultEvent: Sendable, Codable, Equatable {
    public var kind: String
    /// The process or kassa(s) it hit.
    public var target: String
    public var atS: Double
    /// When the fault was lifted (process restarted or resumed, kassa fault cleared); nil while
    /// it lasts (a kassa that never comes back).
    public var endS: Double?
    public var detail: String

    enum CodingKeys: String, CodingKey {
        case kind, target, detail
        case atS = "at_s"
        case endS = "end_s"
    }
}

/// How one phase of the drill measured against its steady-state hypothesis.
public struct PhaseVerdict: Sendable, Codable, Equatable {
    public var phase: String
    /// Seconds since the load started, `[from, to)`.
    public var fromS: Int
    public var toS: Int
    /// Mean receipts done per second ÷ fresh receipts offered per second.
    public var throughputRatio: Double?
    /// The worst one-second p99 in the phase.
    public var worstP99Ms: Int?
    public var held: Bool
    public var notes: [String]

    enum CodingKeys: String, CodingKey {
        case phase, held, notes
        case fromS = "from_s"
        case toS = "to_s"
        case throughputRatio = "throughput_ratio"
        case worstP99Ms = "worst_p99_ms"
    }
}

/// How long throughput took to come back after each fault.
public struct Recovery: Sendable, Codable, Equatable {
    /// Per fault (in `faults` order): seconds from the fault's end until throughput was back
    /// to 90% of the steady state for three seconds; nil when it did not come back while sending.
    public var secondsPerFault: [Double?]
    /// The longest of those (nil if one never recovered).
    public var maxS: Double?
    /// The steady-state rate recovery is measured against (receipts done per second).
    public var steadyDonePerSecond: Double
    /// Per fault: seconds from the fault's start until throughput, having dipped below 90% of
    /// the steady state, was back above it (0 when it never dipped within 20 s of the start;
    /// nil when it did not come back while sending). For a site's loss this is the time until
    /// the surviving site carries the load.
    public var backAfterStartS: [Double?] = []

    enum CodingKeys: String, CodingKey {
        case secondsPerFault = "seconds_per_fault"
        case maxS = "max_s"
        case steadyDonePerSecond = "steady_done_per_second"
        case backAfterStartS = "back_after_start_s"
    }
}

/// Judges a run's timeline against the drill's hypothesis: before the first fault, while
/// faults last, and after the last one is over (plus the recovery allowance).
struct SteadyStateJudge {
    let drill: Drill
    let timeline: [LoadSecond]

    /// Fresh receipts offered per second (deliberate duplicates excluded).
    var freshRate: Double { drill.load.rate * (1 - (drill.load.duplicateRatio ?? 0.02)) }
    /// Sending ends here; after it, done per second falls for reasons of the load, not the system.
    var sendEnd: Int { Int(drill.load.durationS.rounded(.down)) }
    /// The first seconds are the pipeline filling up (a receipt takes about a second).
    static let warmUp = 3

    func phases(faults: [FaultEvent]) -> [PhaseVerdict] {
        let first = faults.map(\.atS).min().map { Int($0.rounded(.down)) } ?? sendEnd
        let lastEnd = faults.map { Int(($0.endS ?? $0.atS).rounded(.up)) }.max() ?? first
        let allowance = Int((drill.expect.recoverWithinS ?? 0).rounded(.up))
        return [
            judge("before", from: Self.warmUp, to: first, drill.hypothesis.before),
            judge("during", from: first, to: max(first, min(sendEnd, lastEnd + 1)), drill.hypothesis.during),
            judge("after", from: min(sendEnd, lastEnd + allowance), to: sendEnd, drill.hypothesis.after),
        ]
    }

    private func judge(_ phase: String, from: Int, to: Int, _ expected: Drill.SteadyState) -> PhaseVerdict {
        var verdict = PhaseVerdict(phase: phase, fromS: from, toS: to, throughputRatio: nil, worstP99Ms: nil, held: true, notes: [])
        let seconds = timeline.filter { $0.second >= from && $0.second < to }
        guard to > from, !seconds.isEmpty else {
            verdict.notes.append("not measured: the phase is empty")
            return verdict
        }
        let done = seconds.reduce(0) { $0 + $1.done }
        let ratio = Double(done) / Double(to - from) / freshRate
        verdict.throughputRatio = (ratio * 1000).rounded() / 1000
        verdict.worstP99Ms = seconds.compactMap(\.p99Milliseconds).max()
        if let minimum = expected.minThroughputRatio, ratio < minimum {
            verdict.held = false
            verdict.notes.append("throughput \(String(format: "%.2f", ratio)) of the offered rate, below \(minimum)")
        }
        if let maximum = expected.maxP99Ms, let worst = verdict.worstP99Ms, worst > maximum {
            verdict.held = false
            verdict.notes.append("a second's p99 reached \(worst) ms, above \(maximum) ms")
        }
        return verdict
    }

    /// Seconds until done per second (three-second mean) is back to 90% of the steady state,
    /// from the end of each fault.
    func recovery(faults: [FaultEvent]) -> Recovery {
        let first = faults.map(\.atS).min().map { Int($0.rounded(.down)) } ?? sendEnd
        let before = timeline.filter { $0.second >= Self.warmUp && $0.second < first }
        let steady = before.count >= 3 ? Double(before.reduce(0) { $0 + $1.done }) / Double(before.count) : freshRate
        var done = [Int](repeating: 0, count: max(sendEnd, 0))
        for second in timeline where second.second < done.count { done[second.second] = second.done }
        let perFault: [Double?] = faults.map { fault in
            let end = fault.endS ?? fault.atS
            var s = Int(end.rounded(.down))
            while s + 3 <= done.count {
                if Double(done[s] + done[s + 1] + done[s + 2]) / 3 >= 0.9 * steady {
                    return max(0, Double(s) - end)
                }
                s += 1
            }
            return nil
        }
        let longest: Double? = perFault.contains { $0 == nil } ? nil : perFault.compactMap { $0 }.max()
        func mean(_ s: Int) -> Double { Double(done[s] + done[s + 1] + done[s + 2]) / 3 }
        let fromStart: [Double?] = faults.map { fault in
            let start = Int(fault.atS.rounded(.down))
            guard let dip = (start..<min(start + 20, done.count - 2)).first(where: { mean($0) < 0.9 * steady }) else { return 0 }
            var s = dip
            while s + 3 <= done.count {
                if mean(s) >= 0.9 * steady { return max(0, Double(s) - fault.atS) }
                s += 1
            }
            return nil
        }
        var recovery = Recovery(secondsPerFault: perFault, maxS: longest, steadyDonePerSecond: (steady * 100).rounded() / 100)
        recovery.backAfterStartS = fromStart
        return recovery
    }
}
