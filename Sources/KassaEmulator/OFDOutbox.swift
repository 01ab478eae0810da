import NIOConcurrencyHelpers

/// The modules of a fleet that have documents for the OFD, for the fleet's one delivery loop.
///
/// A module puts itself here when it queues a document (or its link comes back with a backlog)
/// and is taken off when the loop delivers; the loop sleeps on the outbox while it is empty. So
/// an idle fleet has no timer running at all, however many modules it has, and a busy one costs
/// one delivery per busy module per interval.
final class OFDOutbox: Sendable {
    private struct State {
        var pending: [ObjectIdentifier: KassaModule] = [:]
        /// The delivery loop, while it waits for work.
        var waiter: CheckedContinuation<Void, Never>?
    }

    private let state = NIOLockedValueBox(State())

    /// Adds a module with documents to deliver (once, however often it is called before the
    /// next `takeAll`), and wakes the loop.
    func enqueue(_ module: KassaModule) {
        let waiter = state.withLockedValue { state -> CheckedContinuation<Void, Never>? in
            state.pending[ObjectIdentifier(module)] = module
            defer { state.waiter = nil }
            return state.waiter
        }
        waiter?.resume()
    }

    /// Returns once a module is waiting for delivery, or when the task is cancelled. One caller
    /// at a time (the fleet's delivery loop).
    func waitForWork() async {
        await withTaskCancellationHandler {
            await withCheckedContinuation { (continuation: CheckedContinuation<Void, Never>) in
                let resumeNow = state.withLockedValue { state -> Bool in
                    // Cancelled before the waiter was stored: the handler found nothing to resume.
                    if !state.pending.isEmpty || Task.isCancelled { return true }
                    state.waiter = continuation
                    return false
                }
                if resumeNow { continuation.resume() }
            }
        } onCancel: {
            let waiter = state.withLockedValue { state -> CheckedContinuation<Void, Never>? in
                defer { state.waiter = nil }
                return state.waiter
            }
            waiter?.resume()
        }
    }

    /// The modules waiting for delivery; the outbox is empty afterwards.
    func takeAll() -> [KassaModule] {
        state.withLockedValue { state in
            defer { state.pending.removeAll(keepingCapacity: true) }
            return Array(state.pending.values)
        }
    }
}
