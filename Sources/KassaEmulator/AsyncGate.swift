import NIOConcurrencyHelpers
import NIOCore

/// A first-come, first-served async lock: one holder at a time, waiters resumed in arrival order.
///
/// An actor alone does not serialize a module's commands — it is re-entered at every `await`
/// (the service time, the disk) — while the FN is a serial device that works on one command
/// at a time, in the order they came.
final class AsyncGate: Sendable {
    private struct Waiter {
        let id: UInt64
        let continuation: CheckedContinuation<Bool, Never>
    }

    private struct State {
        var held = false
        var waiters = CircularBuffer<Waiter>()
        var nextID: UInt64 = 0
    }

    private let state = NIOLockedValueBox(State())

    /// Waits for the gate. Not cancellable: a command the module has read is carried out.
    func acquire() async {
        _ = await withCheckedContinuation { (continuation: CheckedContinuation<Bool, Never>) in
            if enqueue(continuation) != nil { return }
            continuation.resume(returning: true)
        }
    }

    /// Waits for the gate at most `timeout`: true if the caller now holds it (and must release
    /// it), false if it gave up. For the control plane, which must answer even when a hung
    /// command holds the FN (`hang_after_fiscalizing`) and would otherwise wait forever.
    func acquire(within timeout: Duration) async -> Bool {
        await withCheckedContinuation { (continuation: CheckedContinuation<Bool, Never>) in
            guard let id = enqueue(continuation) else { return continuation.resume(returning: true) }
            // Only a caller that has to wait pays for a timer; it is started after the waiter is
            // queued, so it always finds either the waiter or nothing (the gate was handed over).
            Task {
                try? await Task.sleep(for: timeout)
                self.giveUp(id)
            }
        }
    }

    /// Hands the gate to the longest waiter, or leaves it open.
    func release() {
        let next = state.withLockedValue { state -> CheckedContinuation<Bool, Never>? in
            guard let next = state.waiters.popFirst() else {
                state.held = false
                return nil
            }
            return next.continuation
        }
        next?.resume(returning: true)
    }

    /// Takes the gate if it is open (nil), else queues `continuation` and returns its id.
    private func enqueue(_ continuation: CheckedContinuation<Bool, Never>) -> UInt64? {
        state.withLockedValue { state in
            if !state.held {
                state.held = true
                return nil
            }
            let id = state.nextID
            state.nextID += 1
            state.waiters.append(Waiter(id: id, continuation: continuation))
            return id
        }
    }

    /// Resumes waiter `id` empty-handed if it is still waiting.
    private func giveUp(_ id: UInt64) {
        let waiter = state.withLockedValue { state -> CheckedContinuation<Bool, Never>? in
            guard let i = state.waiters.firstIndex(where: { $0.id == id }) else { return nil }
            return state.waiters.remove(at: i).continuation
        }
        waiter?.resume(returning: false)
    }
}
