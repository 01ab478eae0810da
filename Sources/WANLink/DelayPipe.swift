import NIOConcurrencyHelpers
import NIOCore

/// One direction of a link: chunks go in stamped with the time they may come out, and come out
/// in the order they went in. A chunk that arrives while earlier ones are still delayed waits
/// behind them, however short its own delay (a pipe, not a queue that reorders), so jitter
/// and latency changes never reorder a TCP stream.
///
/// The pipe holds at most `capacity` bytes (always at least one chunk). A full pipe makes the
/// reader wait, the reader stops draining its channel, and NIO stops reading the socket: the
/// sender sees TCP's own backpressure instead of the proxy buffering without bound.
///
/// One producer (`push`, `finish`) and one consumer (`pop`). `close` abandons the pipe from
/// either side and wakes both; cancelling a waiting task closes it too.
final class DelayPipe: Sendable {
    struct Item: Sendable {
        let chunk: ByteBuffer
        /// When the chunk may be written on.
        let due: ContinuousClock.Instant
    }

    private struct State {
        var items = CircularBuffer<Item>()
        var bytes = 0
        var lastDue: ContinuousClock.Instant?
        var finished = false
        var closed = false
        var producer: CheckedContinuation<Void, Never>?
        var consumer: CheckedContinuation<Void, Never>?
    }

    /// The most bytes held at once (a single larger chunk is still taken when the pipe is empty).
    let capacity: Int
    private let state = NIOLockedValueBox(State())

    init(capacity: Int) {
        self.capacity = capacity
    }

    /// Bytes waiting in the pipe.
    var bytesHeld: Int { state.withLockedValue { $0.bytes } }

    /// Puts `chunk` in if there is room: it comes out `delay` from now, or right after the
    /// chunk before it if that is later. False when the pipe is full (or closed).
    func offer(_ chunk: ByteBuffer, delay: Duration, now: ContinuousClock.Instant = .now) -> Bool {
        let (taken, consumer): (Bool, CheckedContinuation<Void, Never>?) = state.withLockedValue { state in
            guard !state.closed, state.items.isEmpty || state.bytes < capacity else { return (false, nil) }
            var due = now + delay
            if let last = state.lastDue, last > due { due = last }
            state.lastDue = due
            state.items.append(Item(chunk: chunk, due: due))
            state.bytes += chunk.readableBytes
            defer { state.consumer = nil }
            return (true, state.consumer)
        }
        consumer?.resume()
        return taken
    }

    /// Puts `chunk` in, waiting for room. False when the pipe was closed (the chunk is dropped).
    func push(_ chunk: ByteBuffer, delay: Duration) async -> Bool {
        while true {
            if offer(chunk, delay: delay) { return true }
            if state.withLockedValue({ $0.closed }) { return false }
            await wait(\.producer) { state in state.closed || state.items.isEmpty || state.bytes < self.capacity }
        }
    }

    /// The next chunk, waiting for one; nil once the producer finished and the pipe is empty,
    /// or once it was closed (whatever it still held is dropped).
    func pop() async -> Item? {
        while true {
            let (item, producer, done): (Item?, CheckedContinuation<Void, Never>?, Bool) = state.withLockedValue { state in
                if state.closed { return (nil, nil, true) }
                guard let item = state.items.popFirst() else { return (nil, nil, state.finished) }
                state.bytes -= item.chunk.readableBytes
                defer { state.producer = nil }
                return (item, state.producer, false)
            }
            producer?.resume()
            if let item { return item }
            if done { return nil }
            await wait(\.consumer) { state in state.closed || state.finished || !state.items.isEmpty }
        }
    }

    /// No more chunks will be pushed; the consumer drains what is left.
    func finish() {
        let consumer = state.withLockedValue { state in
            state.finished = true
            defer { state.consumer = nil }
            return state.consumer
        }
        consumer?.resume()
    }

    /// Abandons the pipe: both sides stop waiting, held chunks are dropped.
    func close() {
        let (producer, consumer) = state.withLockedValue { state in
            state.closed = true
            defer {
                state.producer = nil
                state.consumer = nil
            }
            return (state.producer, state.consumer)
        }
        producer?.resume()
        consumer?.resume()
    }

    /// Suspends in `slot` until woken, unless `ready` already holds. Cancellation closes the
    /// pipe (a cancelled relay is being torn down), which wakes the waiter.
    private func wait(
        _ slot: WritableKeyPath<State, CheckedContinuation<Void, Never>?>, unless ready: @escaping @Sendable (State) -> Bool
    ) async {
        await withTaskCancellationHandler {
            await withCheckedContinuation { (continuation: CheckedContinuation<Void, Never>) in
                let now = state.withLockedValue { state in
                    if ready(state) { return true }
                    state[keyPath: slot] = continuation
                    return false
                }
                if now { continuation.resume() }
            }
        } onCancel: {
            close()
        }
    }
}
