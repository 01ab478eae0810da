import Foundation

/// Where the emulator gets the time, so the FN rules (24 h shifts, expiry) can be tested with
/// a clock the test moves.
public protocol KassaClock: Sendable {
    func now() -> Date
}

/// The host's clock.
public struct SystemClock: KassaClock {
    public init() {}
    public func now() -> Date { Date() }
}
