import Synchronization

/// Whether the node is draining: readiness fails first so the load balancer stops sending,
/// then in-flight requests finish.
public final class DrainState: Sendable {
    private let draining = Atomic<Bool>(false)
    public init() {}
    public var isDraining: Bool { draining.load(ordering: .relaxed) }
    public func beginDraining() { draining.store(true, ordering: .relaxed) }
}
