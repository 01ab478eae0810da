import NIOConcurrencyHelpers
import NIOCore

/// Which way bytes travel on a link: from the side that connected to the target, or back.
enum RelayDirection: Sendable {
    case toTarget
    case toClient
}

/// A link's state while it runs: its conditions, its open connections (each served by a task
/// of its own) and the bytes forwarded each way.
///
/// The relays read the conditions for every chunk, so they live behind a lock rather than in
/// an actor: no hop per chunk. `Link` serializes the changes.
final class LinkRuntime: Sendable {
    private struct State {
        var conditions: LinkConditions
        var connections: [UInt64: (connection: ProxyConnection, task: Task<Void, Never>)] = [:]
        var nextID: UInt64 = 0
        /// False once the link stopped: connections still arriving are closed at once.
        var serving = true
        var bytesToTarget: UInt64 = 0
        var bytesToClient: UInt64 = 0
    }

    private let state: NIOLockedValueBox<State>

    init(conditions: LinkConditions) {
        state = NIOLockedValueBox(State(conditions: conditions))
    }

    var conditions: LinkConditions { state.withLockedValue { $0.conditions } }

    /// The delay for the next chunk (latency with jitter).
    func delay() -> Duration {
        state.withLockedValue { $0.conditions }.sampleDelay()
    }

    func forwarded(_ bytes: Int, _ direction: RelayDirection) {
        state.withLockedValue { state in
            switch direction {
            case .toTarget: state.bytesToTarget &+= UInt64(bytes)
            case .toClient: state.bytesToClient &+= UInt64(bytes)
            }
        }
    }

    /// Open connections and bytes forwarded to the target and back.
    var traffic: (openConnections: Int, bytesToTarget: UInt64, bytesToClient: UInt64) {
        state.withLockedValue { ($0.connections.count, $0.bytesToTarget, $0.bytesToClient) }
    }

    /// Serves a newly accepted connection in a task of its own, as the link's state says: a
    /// blackholed link silences it from the start; a reset or stopped link ends it at once.
    /// Registration and the state check happen under one lock, so a connection cannot slip
    /// past a state change that happens while it is being accepted.
    func admit(client: any Channel, serve: @escaping @Sendable (ProxyConnection) async -> Void) {
        state.withLockedValue { state in
            let id = state.nextID
            state.nextID += 1
            let connection = ProxyConnection(id: id, client: client)
            if state.conditions.state == .blackhole { connection.silence() }
            let task = Task {
                await serve(connection)
                self.finished(id)
            }
            if !state.serving {
                connection.close()
                task.cancel()
            } else if state.conditions.state == .reset {
                connection.abort()
                task.cancel()
            } else {
                state.connections[id] = (connection, task)
            }
        }
    }

    private func finished(_ id: UInt64) {
        state.withLockedValue { _ = $0.connections.removeValue(forKey: id) }
    }

    /// Makes `change` and returns the conditions before and after, and the connections it
    /// ends (with their relays' tasks): all of them when the link is reset; when a blackhole lifts, those it silenced
    /// (their peers have long given up on them). A new blackhole silences every connection.
    func apply(_ change: LinkChange) -> (
        old: LinkConditions, new: LinkConditions, ending: [(connection: ProxyConnection, task: Task<Void, Never>)]
    ) {
        state.withLockedValue { state in
            let old = state.conditions
            let new = change.applied(to: old)
            state.conditions = new
            let open = Array(state.connections.values)
            var ending: [(connection: ProxyConnection, task: Task<Void, Never>)] = []
            switch (old.state, new.state) {
            case (_, .reset):
                ending = open
            case (.blackhole, .up):
                ending = open.filter(\.connection.isSilenced)
            case (_, .blackhole):
                for (connection, _) in open { connection.silence() }
            default:
                break
            }
            return (old, new, ending)
        }
    }

    /// Ends every connection (new ones are closed as they come) and waits for their tasks.
    func stop() async {
        let open = state.withLockedValue { state in
            state.serving = false
            return Array(state.connections.values)
        }
        for (connection, task) in open {
            connection.close()
            task.cancel()
        }
        for (_, task) in open { await task.value }
    }
}
