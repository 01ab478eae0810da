/// SplitMix64: a tiny, fast generator whose output depends only on its seed.
///
/// Used instead of the standard library's `random(in:using:)` helpers, whose
/// algorithm is not guaranteed to stay the same across Swift versions: a seed
/// must reproduce the same receipts on any toolchain.
public struct SeededRandom: RandomNumberGenerator, Sendable {
    private var state: UInt64

    /// Creates a generator; equal seeds give equal sequences.
    public init(seed: UInt64) {
        state = seed
    }

    /// Creates a generator for one item of a numbered stream, independent of every
    /// other item, so receipt `n` can be regenerated without generating 0..<n.
    public init(seed: UInt64, stream: UInt64) {
        var mixer = SeededRandom(seed: seed ^ (stream &* 0xD1B5_4A32_D192_ED03))
        state = mixer.next()
    }

    public mutating func next() -> UInt64 {
        state &+= 0x9E37_79B9_7F4A_7C15
        var z = state
        z = (z ^ (z >> 30)) &* 0xBF58_476D_1CE4_E5B9
        z = (z ^ (z >> 27)) &* 0x94D0_49BB_1331_11EB
        return z ^ (z >> 31)
    }

    /// A uniform integer in `range` (multiply-high reduction; the bias is far below
    /// anything a load test could notice).
    public mutating func int(in range: ClosedRange<Int>) -> Int {
        let span = UInt64(range.upperBound - range.lowerBound) &+ 1
        if span == 0 { return Int(truncatingIfNeeded: next()) }  // the full 64-bit range
        let offset = next().multipliedFullWidth(by: span).high
        return range.lowerBound + Int(offset)
    }

    /// A uniform double in [0, 1) built from the top 53 bits.
    public mutating func unit() -> Double {
        Double(next() >> 11) * 0x1.0p-53
    }

    /// True with probability `probability` (clamped to [0, 1]).
    public mutating func chance(_ probability: Double) -> Bool {
        unit() < probability
    }

    /// One element of a non-empty array (only ever called with constant tables).
    mutating func pick<T>(_ options: [T]) -> T {
        options[int(in: 0...(options.count - 1))]
    }
}
