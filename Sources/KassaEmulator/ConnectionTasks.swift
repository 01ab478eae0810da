import NIOConcurrencyHelpers

/// The tasks serving one module's connections, so they can all be ended at once (the module
/// goes down, the fleet stops) and awaited.
///
/// A connection that arrives while they are closed is still given a task, cancelled at once:
/// its serving code closes it rather than leaving it to NIO to drop.
final class ConnectionTasks: Sendable {
    private struct State {
        var tasks: [UInt64: Task<Void, Never>] = [:]
        var nextID: UInt64 = 0
        var open = true
    }

    private let state = NIOLockedValueBox(State())

    /// Serves a connection in a task of its own (cancelled at once while closed).
    func start(_ serve: @escaping @Sendable () async -> Void) {
        state.withLockedValue { state in
            let id = state.nextID
            state.nextID += 1
            let task = Task {
                await serve()
                self.finished(id)
            }
            if state.open {
                state.tasks[id] = task
            } else {
                task.cancel()
            }
        }
    }

    /// Ends every connection (their tasks are cancelled) and waits for them; until `reopen`,
    /// new connections are ended as they come.
    func closeAll() async {
        let tasks = state.withLockedValue { state in
            state.open = false
            return Array(state.tasks.values)
        }
        for task in tasks { task.cancel() }
        for task in tasks { await task.value }
    }

    /// Serves new connections again (before the socket is bound again).
    func reopen() {
        state.withLockedValue { $0.open = true }
    }

    private func finished(_ id: UInt64) {
        state.withLockedValue { _ = $0.tasks.removeValue(forKey: id) }
    }
}
