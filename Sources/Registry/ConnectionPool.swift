import Foundation
import Logging

/// A fixed set of threads, each owning one `PostgresConnection`, fed from one FIFO queue.
///
/// libpq calls block, so they must never run on Swift's cooperative pool (a few slow
/// statements would starve every task in the process). Each unit of work is a closure that a
/// free thread picks up and runs with its connection; the awaiting task is resumed through a
/// continuation. A shared queue (rather than one queue per connection) keeps one slow statement
/// from holding up work that another idle connection could run.
final class ConnectionPool: @unchecked Sendable {
    // All mutable state below is guarded by `condition`.
    private let condition = NSCondition()
    private var queue: [WorkItem?] = []
    private var head = 0
    private var closed = false
    private var nextID: UInt64 = 0

    private let logger: Logger

    init(size: Int, parameters: ConnectionParameters, logger: Logger) {
        self.logger = logger
        for index in 0..<size {
            let worker = Worker(pool: self, parameters: parameters, logger: logger)
            let thread = Thread { worker.run() }
            thread.name = "registry-\(index)"
            thread.start()
        }
    }

    /// Runs `body` on a pool thread with that thread's connection (connected and checked first).
    ///
    /// Cancellation removes work that has not started yet (it then throws CancellationError).
    /// Work that has started runs to completion: sending a cancel request to the server could
    /// hit the next statement on the same connection instead, so we do not.
    func run<T: Sendable>(_ body: @escaping @Sendable (PostgresConnection) throws -> T) async throws -> T {
        let id = makeID()
        return try await withTaskCancellationHandler {
            try await withCheckedThrowingContinuation { (continuation: CheckedContinuation<T, any Error>) in
                let item = WorkItem(
                    id: id,
                    execute: { connection in continuation.resume(with: Result { try body(connection) }) },
                    fail: { error in continuation.resume(throwing: error) })
                if Task.isCancelled {
                    item.fail(CancellationError())
                } else if !enqueue(item) {
                    item.fail(RegistryError.connection("registry is closed"))
                } else if Task.isCancelled, let removed = remove(id: id) {
                    // Cancelled between the first check and the enqueue: onCancel may have run
                    // before the item was in the queue and found nothing to remove.
                    removed.fail(CancellationError())
                }
            }
        } onCancel: {
            if let item = remove(id: id) { item.fail(CancellationError()) }
        }
    }

    /// Stops accepting work and fails what is queued; threads finish their current item, close
    /// their connections and exit.
    func close() {
        condition.lock()
        if closed {
            condition.unlock()
            return
        }
        closed = true
        let pending = queue[head...].compactMap { $0 }
        queue.removeAll()
        head = 0
        condition.broadcast()
        condition.unlock()
        for item in pending { item.fail(RegistryError.connection("registry closed before the statement ran")) }
    }

    // MARK: Queue

    private func makeID() -> UInt64 {
        condition.lock()
        defer { condition.unlock() }
        nextID &+= 1
        return nextID
    }

    private func enqueue(_ item: WorkItem) -> Bool {
        condition.lock()
        defer { condition.unlock() }
        guard !closed else { return false }
        queue.append(item)
        condition.signal()
        return true
    }

    private func remove(id: UInt64) -> WorkItem? {
        condition.lock()
        defer { condition.unlock() }
        guard let position = queue[head...].firstIndex(where: { $0?.id == id }), let item = queue[position] else {
            return nil
        }
        queue[position] = nil  // a hole, skipped by next(); keeps removal O(n) without shifting
        return item
    }

    /// Work waiting for a free connection (not counting work running).
    var queuedCount: Int {
        condition.lock()
        defer { condition.unlock() }
        return queue[head...].reduce(0) { $0 + ($1 == nil ? 0 : 1) }
    }

    /// Blocks until there is work; nil once the pool is closed.
    fileprivate func next() -> WorkItem? {
        condition.lock()
        defer { condition.unlock() }
        while true {
            if closed { return nil }
            while head < queue.count {
                let item = queue[head]
                queue[head] = nil
                head += 1
                if head == queue.count || head > 1024 {
                    queue.removeFirst(head)
                    head = 0
                }
                if let item { return item }
            }
            condition.wait()
        }
    }
}

/// One queued unit of work. `execute` and `fail` each resume the same continuation, and the
/// pool guarantees exactly one of them is called exactly once (an item leaves the queue once).
private final class WorkItem: Sendable {
    let id: UInt64
    let execute: @Sendable (PostgresConnection) -> Void
    let fail: @Sendable (any Error) -> Void

    init(id: UInt64, execute: @escaping @Sendable (PostgresConnection) -> Void, fail: @escaping @Sendable (any Error) -> Void) {
        self.id = id
        self.execute = execute
        self.fail = fail
    }
}

/// A pool thread's loop. `connection` is created, used and closed on that thread only.
private final class Worker: @unchecked Sendable {
    private let pool: ConnectionPool
    private let parameters: ConnectionParameters
    private let logger: Logger

    init(pool: ConnectionPool, parameters: ConnectionParameters, logger: Logger) {
        self.pool = pool
        self.parameters = parameters
        self.logger = logger
    }

    func run() {
        // Connected lazily: a registry created while the database is down still starts, and
        // each unit of work retries the connection.
        let connection = PostgresConnection(parameters: parameters, logger: logger)
        while let item = pool.next() {
            do {
                try connection.prepareForUse()
            } catch {
                item.fail(error)
                continue
            }
            item.execute(connection)
        }
        connection.close()
    }
}
