import NIOConcurrencyHelpers
import NIOCore

/// A first-come, first-served async lock: one holder at a time, waiters resumed in arrival order.
///
/// An actor alone does not serialize a module's commands — it is re-entered at every `await`
/// (the service time, the disk) — while the FN is a serial device that works on one command
/// at a time, in the order they came.
final class AsyncGate: Sendable {
    private struct State {
        var held = false
        var waiters = CircularBuffer<CheckedContinuation<Void, Never>>()
    }

    private let state = NIOLockedValueBox(State())

    /// Waits for the gate. Not cancellable: a command the module has read is carried out.
    func acquire() async {
        await withCheckedContinuation { (continuation: CheckedContinuation<Void, Never>) in
            let enterNow = state.withLockedValue { state in
                if !state.held {
                    state.held = true
                    return true
                }
                state.waiters.append(continuation)
                return false
            }
            if enterNow { continuation.resume() }
        }
    }

    /// Hands the gate to the longest waiter, or leaves it open.
    func release() {
        let next = state.withLockedValue { state -> CheckedContinuation<Void, Never>? in
            guard let next = state.waiters.popFirst() else {
                state.held = false
                return nil
            }
            return next
        }
        next?.resume()
    }
}
