import Foundation
import KassaModel
import KassaWire

/// Why a kassa stops taking receipts before it fails: an FN about to fill up or expire refuses
/// every sale once it does, and an FN whose documents cannot reach the OFD blocks itself after
/// 30 days (54-FZ). Draining early moves the tenant's receipts to its other kassas while this
/// one still answers, instead of learning it from failed sales.
public enum DrainReason: Sendable, Equatable, CustomStringConvertible {
    case fnNearlyFull(documentsLeft: Int64)
    case fnExpiring(at: Date)
    case ofdBacklog(undelivered: Int64)

    /// A full or expiring FN needs a new FN (an operator retires the kassa and places another);
    /// an OFD backlog clears by itself once the link is back.
    public var needsService: Bool {
        switch self {
        case .fnNearlyFull, .fnExpiring: true
        case .ofdBacklog: false
        }
    }

    public var description: String {
        switch self {
        case .fnNearlyFull(let left): "FN nearly full (\(left) documents left)"
        case .fnExpiring(let at): "FN expires at \(ISO8601DateFormatter().string(from: at))"
        case .ofdBacklog(let count): "\(count) documents not delivered to the OFD"
        }
    }
}

/// When a kassa is drained, from its `status`.
public struct DrainRules: Sendable, Equatable {
    /// Drain when fewer documents than this are left in the FN (a shift's close and the next
    /// open need room too).
    public var minDocumentsLeft: Int64 = 500
    /// Drain when the FN expires within this time.
    public var minLifetimeLeft: Duration = .seconds(72 * 3600)
    /// Drain when more documents than this wait for the OFD; take receipts again once the
    /// backlog is down to half of it (so a kassa near the limit does not flap).
    public var maxUndelivered: Int64 = 1000

    public init() {}

    /// The reason to drain the kassa, or nil when it may take receipts. `drained` is the
    /// reason it is drained for now, if it is.
    public func verdict(_ status: KassaStatus, now: Date, drained: DrainReason? = nil) -> DrainReason? {
        let left = status.fnCapacity - status.documentsUsed
        if left < minDocumentsLeft { return .fnNearlyFull(documentsLeft: left) }
        if status.fnExpiresAt.timeIntervalSince(now) < minLifetimeLeft.inSeconds { return .fnExpiring(at: status.fnExpiresAt) }
        let limit: Int64
        if case .ofdBacklog = drained { limit = maxUndelivered / 2 } else { limit = maxUndelivered }
        if status.undeliveredDocuments > limit { return .ofdBacklog(undelivered: status.undeliveredDocuments) }
        return nil
    }
}
