import CRdKafka
import Dispatch
import Foundation
import Logging
import Synchronization

/// Settings for a ``KafkaConsumer``. Most map to one librdkafka property.
public struct KafkaConsumerConfiguration: Sendable {
    /// `bootstrap.servers`: comma-separated `host:port` list.
    public var bootstrapServers: String
    /// `group.id`: members of one group share the topics' partitions.
    public var groupID: String
    /// `client.id`, shown in broker logs.
    public var clientID: String = "kassa"
    /// `session.timeout.ms`: a member silent this long is dropped from the group.
    public var sessionTimeoutMilliseconds = 6000
    /// `heartbeat.interval.ms`.
    public var heartbeatIntervalMilliseconds = 1000
    /// `max.poll.interval.ms`: if the application takes no event from ``KafkaConsumer/events`` for
    /// this long (the buffer is full and nothing drains it), the member leaves the group.
    public var maxPollIntervalMilliseconds = 10000
    /// `auto.offset.reset`: where a group without committed offsets starts ("earliest" or "latest").
    public var autoOffsetReset: String = "earliest"
    /// `fetch.wait.max.ms`: how long the broker may hold a fetch that found nothing new. With
    /// Tansu 0.6 and librdkafka's 500 ms default, accepted → admitted took p50 135 ms, most of
    /// the latency the service adds; at 20 ms it takes 9 ms. So messages that arrive while a
    /// fetch waits seem to wait with it. Each empty fetch costs the broker CPU: not less than needed.
    public var fetchWaitMaxMilliseconds = 20
    /// How many events may wait in ``KafkaConsumer/events`` before the poll thread stops fetching.
    /// Rebalance events are always delivered, even beyond this.
    public var maxBufferedEvents = 1000
    /// How long a revocation waits for ``KafkaConsumer/revokeHandled()`` before the partitions are
    /// given up anyway. Keep it well below `maxPollIntervalMilliseconds`.
    public var revokeTimeoutMilliseconds = 5000
    /// Further librdkafka properties, passed to `rd_kafka_conf_set` verbatim and applied last, so
    /// they may override everything above (e.g. `partition.assignment.strategy`).
    public var additional: [String: String] = [:]

    public init(bootstrapServers: String, groupID: String) {
        self.bootstrapServers = bootstrapServers
        self.groupID = groupID
    }

    var properties: [(String, String)] {
        [
            ("bootstrap.servers", bootstrapServers),
            ("group.id", groupID),
            ("client.id", clientID),
            ("session.timeout.ms", String(sessionTimeoutMilliseconds)),
            ("heartbeat.interval.ms", String(heartbeatIntervalMilliseconds)),
            ("max.poll.interval.ms", String(maxPollIntervalMilliseconds)),
            ("auto.offset.reset", autoOffsetReset),
            ("fetch.wait.max.ms", String(fetchWaitMaxMilliseconds)),
            // Offsets move only when the application commits what it has finished.
            ("enable.auto.commit", "false"),
            ("enable.auto.offset.store", "false"),
            ("partition.assignment.strategy", "cooperative-sticky"),
        ] + additional.sorted { $0.key < $1.key }.map { ($0.key, $0.value) }
    }
}

/// One partition of one topic.
public struct KafkaTopicPartition: Sendable, Hashable, CustomStringConvertible {
    public var topic: String
    public var partition: Int32

    public init(topic: String, partition: Int32) {
        self.topic = topic
        self.partition = partition
    }

    public var description: String { "\(topic)[\(partition)]" }
}

/// A consumed record.
public struct KafkaMessage: Sendable, Hashable {
    public var topic: String
    public var partition: Int32
    public var offset: Int64
    /// `nil` for a null key.
    public var key: [UInt8]?
    public var value: [UInt8]

    public init(topic: String, partition: Int32, offset: Int64, key: [UInt8]?, value: [UInt8]) {
        self.topic = topic
        self.partition = partition
        self.offset = offset
        self.key = key
        self.value = value
    }

    init(_ message: rd_kafka_message_t) {
        self.topic = message.rkt.map { string(rd_kafka_topic_name($0)) } ?? ""
        self.partition = message.partition
        self.offset = message.offset
        self.key = message.key.map { Array(UnsafeRawBufferPointer(start: $0, count: message.key_len)) }
        self.value = message.payload.map { Array(UnsafeRawBufferPointer(start: $0, count: message.len)) } ?? []
    }
}

/// What a ``KafkaConsumer`` reports, in the order it happened.
public enum KafkaConsumerEvent: Sendable {
    case message(KafkaMessage)
    /// These partitions are now this member's; their messages follow.
    case assigned([KafkaTopicPartition])
    /// These partitions are about to be taken away. Every message of theirs that this member will
    /// get came before this event. Commit what you finished, then call
    /// ``KafkaConsumer/revokeHandled()``; the partitions are given up only then (or after
    /// `revokeTimeoutMilliseconds`). If the assignment was lost (session timed out) or the consumer
    /// is closing, the partitions are given up without waiting and commits for them may fail.
    case revoked([KafkaTopicPartition])
}

/// A consumer group member with manual offset commits (`enable.auto.commit=false`,
/// `enable.auto.offset.store=false`) and cooperative-sticky assignment.
///
/// A dedicated thread polls librdkafka (`rd_kafka_consumer_poll`) and serves its rebalance
/// callback; blocking calls (commit, pause/resume, close) run in order on a second dedicated
/// thread, never on Swift's cooperative pool.
///
/// Rebalancing: on assignment the partitions are added (`rd_kafka_incremental_assign`, or
/// `rd_kafka_assign` under the eager protocol) and then ``KafkaConsumerEvent/assigned(_:)`` is
/// emitted. On revocation ``KafkaConsumerEvent/revoked(_:)`` is emitted first and the poll thread
/// blocks until ``revokeHandled()`` (or `revokeTimeoutMilliseconds`), so the application can commit
/// final offsets while it still owns the partitions; only then are they removed.
public final class KafkaConsumer: Sendable {
    private let handle: RdKafkaHandle
    private let state: ConsumerState
    private let worker: BlockingWorker

    /// Messages and rebalance events, in order. Iterate it exactly once, from a single task; the
    /// sequence ends after ``close()``. Ending the iteration early (or cancelling the iterating
    /// task) stops this member from taking new messages, so it drops out of the group after
    /// `max.poll.interval.ms` and its partitions move to other members.
    public let events: KafkaConsumerEvents

    /// Creates the member and subscribes to `topics`; joining the group happens in the background
    /// and shows up as ``KafkaConsumerEvent/assigned(_:)``.
    public init(configuration: KafkaConsumerConfiguration, topics: [String], logger: Logger) throws(KafkaError) {
        let state = ConsumerState(
            logger: logger,
            maxBufferedEvents: max(1, configuration.maxBufferedEvents),
            revokeTimeout: .milliseconds(configuration.revokeTimeoutMilliseconds)
        )
        let handle = try RdKafkaHandle.make(RD_KAFKA_CONSUMER, properties: configuration.properties) { conf in
            // The callbacks find `state` through the opaque; it outlives the handle (see shutdown).
            rd_kafka_conf_set_opaque(conf, Unmanaged.passUnretained(state).toOpaque())
            rd_kafka_conf_set_rebalance_cb(conf) { client, code, partitions, opaque in
                guard let client, let opaque else { return }
                Unmanaged<ConsumerState>.fromOpaque(opaque).takeUnretainedValue()
                    .rebalance(client, code, partitions)
            }
            rd_kafka_conf_set_error_cb(conf) { _, code, reason, opaque in
                guard let opaque else { return }
                Unmanaged<ConsumerState>.fromOpaque(opaque).takeUnretainedValue()
                    .clientError(rd_kafka_resp_err_t(code), reason: string(reason))
            }
            rd_kafka_conf_set_log_cb(conf) { client, level, facility, line in
                guard let client, let opaque = rd_kafka_opaque(client) else { return }
                let state = Unmanaged<ConsumerState>.fromOpaque(opaque).takeUnretainedValue()
                forwardLibrdkafkaLog(to: state.logger, level: level, facility: facility, line: line)
            }
        }
        // Serve error and log callbacks from the consumer queue, i.e. on the poll thread.
        rd_kafka_poll_set_consumer(handle.pointer)
        let code = withPartitionList(topics.map { (KafkaTopicPartition(topic: $0, partition: -1 /* RD_KAFKA_PARTITION_UA */), nil) }) {
            rd_kafka_subscribe(handle.pointer, $0)
        }
        guard code == RD_KAFKA_RESP_ERR_NO_ERROR else {
            // rd_kafka_destroy blocks; keep it off the caller's thread (and keep `state` alive for it).
            Thread { [state] in
                rd_kafka_destroy(handle.pointer)
                withExtendedLifetime(state) {}
            }.start()
            throw .broker(code, context: "subscribe to \(topics)")
        }
        self.handle = handle
        self.state = state
        self.worker = BlockingWorker(name: "kafka-consumer-worker")
        self.events = KafkaConsumerEvents(stream: state.stream, state: state)

        let pollThread = Thread {
            while !state.isStopping {
                state.waitForBufferSpace()
                if state.isStopping { break }
                // Also runs the rebalance callback when the group changes.
                guard let message = rd_kafka_consumer_poll(handle.pointer, 100) else { continue }
                state.received(message)
                rd_kafka_message_destroy(message)
            }
            state.pollStopped.signal()
        }
        pollThread.name = "kafka-consumer-poll"
        pollThread.start()
    }

    deinit {
        state.requestStop()
        worker.submit { [handle, state] in Self.shutdown(handle, state) }
        worker.stop()
    }

    /// Lets a pending revocation proceed; call it after handling ``KafkaConsumerEvent/revoked(_:)``.
    /// Does nothing when no revocation is waiting.
    public func revokeHandled() {
        state.revokeHandled()
    }

    /// Commits `offsets` synchronously: for each partition, the offset of the NEXT message to read
    /// (last processed offset + 1, the Kafka convention). Runs on the worker thread, in call order.
    /// - Throws: ``KafkaError/commit(code:message:)``, or ``KafkaError/closed`` after ``close()``.
    public func commit(_ offsets: [KafkaTopicPartition: Int64]) async throws(KafkaError) {
        guard !offsets.isEmpty else { return }
        let result = await worker.run { [handle, state] () -> Result<Void, KafkaError> in
            guard !state.destroyed.load(ordering: .acquiring) else { return .failure(.closed) }
            return withPartitionList(offsets.map { ($0.key, $0.value) }) { list in
                let code = rd_kafka_commit(handle.pointer, list, 0)
                if code != RD_KAFKA_RESP_ERR_NO_ERROR {
                    return .failure(.commit(code: code.rawValue, message: errorText(code)))
                }
                if let (partition, code) = firstPartitionError(in: list) {
                    return .failure(.commit(code: code.rawValue, message: "\(partition): \(errorText(code))"))
                }
                return .success(())
            }
        }
        try result.get()
    }

    /// Stops fetching from these (assigned) partitions until ``resume(_:)``. Messages already in
    /// ``events`` are still delivered. A partition that is revoked and assigned again starts unpaused.
    public func pause(_ partitions: [KafkaTopicPartition]) async throws(KafkaError) {
        try await pauseOrResume(partitions, pause: true)
    }

    /// Resumes fetching from partitions paused with ``pause(_:)``, from where the application left off.
    public func resume(_ partitions: [KafkaTopicPartition]) async throws(KafkaError) {
        try await pauseOrResume(partitions, pause: false)
    }

    /// Leaves the group cleanly and ends ``events``. Commit final offsets before calling it: the
    /// closing revocation is reported as ``KafkaConsumerEvent/revoked(_:)`` but does not wait for
    /// ``revokeHandled()``. Commits queued before `close` still run; later ones fail with
    /// ``KafkaError/closed``. Calling it again returns at once.
    public func close() async {
        state.requestStop()
        await worker.run { [handle, state] in Self.shutdown(handle, state) }
    }

    private func pauseOrResume(_ partitions: [KafkaTopicPartition], pause: Bool) async throws(KafkaError) {
        guard !partitions.isEmpty else { return }
        let result = await worker.run { [handle, state] () -> Result<Void, KafkaError> in
            guard !state.destroyed.load(ordering: .acquiring) else { return .failure(.closed) }
            return withPartitionList(partitions.map { ($0, nil) }) { list in
                let code = pause ? rd_kafka_pause_partitions(handle.pointer, list) : rd_kafka_resume_partitions(handle.pointer, list)
                let action = pause ? "pause" : "resume"
                if code != RD_KAFKA_RESP_ERR_NO_ERROR { return .failure(.broker(code, context: action)) }
                if let (partition, code) = firstPartitionError(in: list) {
                    return .failure(.broker(code, context: "\(action) \(partition)"))
                }
                return .success(())
            }
        }
        try result.get()
    }

    /// Stops the poll thread, leaves the group, destroys the handle and ends `events`. Runs on the
    /// worker, after commits queued earlier.
    private static func shutdown(_ handle: RdKafkaHandle, _ state: ConsumerState) {
        guard !state.destroyed.load(ordering: .acquiring) else { return }
        state.requestStop()
        state.pollStopped.wait()
        // Revokes the assignment through the rebalance callback (on this thread), then leaves.
        let code = rd_kafka_consumer_close(handle.pointer)
        if code != RD_KAFKA_RESP_ERR_NO_ERROR {
            state.logger.warning("Kafka consumer close: \(errorText(code))")
        }
        rd_kafka_destroy(handle.pointer)
        state.destroyed.store(true, ordering: .releasing)
        state.finish()
    }
}

/// The events of a ``KafkaConsumer``: an `AsyncStream` whose consumption is counted, so that the
/// poll thread fetches only while fewer than `maxBufferedEvents` are waiting.
public struct KafkaConsumerEvents: AsyncSequence, Sendable {
    public typealias Element = KafkaConsumerEvent
    public typealias Failure = Never

    let stream: AsyncStream<KafkaConsumerEvent>
    let state: ConsumerState

    public func makeAsyncIterator() -> AsyncIterator {
        AsyncIterator(base: stream.makeAsyncIterator(), state: state)
    }

    public struct AsyncIterator: AsyncIteratorProtocol {
        var base: AsyncStream<KafkaConsumerEvent>.AsyncIterator
        let state: ConsumerState

        public mutating func next() async -> KafkaConsumerEvent? {
            let event = await base.next()
            if event != nil { state.eventConsumed() }
            return event
        }

        public mutating func next(isolation actor: isolated (any Actor)?) async -> KafkaConsumerEvent? {
            let event = await base.next(isolation: actor)
            if event != nil { state.eventConsumed() }
            return event
        }
    }
}

/// What the consumer's callbacks, threads and event iterator share; the `rd_kafka_t` opaque points here.
final class ConsumerState: Sendable {
    let logger: Logger
    let stream: AsyncStream<KafkaConsumerEvent>
    let pollStopped = DispatchSemaphore(value: 0)
    /// Set on the worker thread once the handle is destroyed.
    let destroyed = Atomic<Bool>(false)
    private let continuation: AsyncStream<KafkaConsumerEvent>.Continuation
    private let maxBufferedEvents: Int
    private let revokeTimeout: Duration
    private let flow = Mutex(Flow())
    /// Wakes the poll thread waiting in `waitForBufferSpace`; signalled only when `waitingForSpace` was set.
    private let spaceAvailable = DispatchSemaphore(value: 0)
    /// Wakes the poll thread waiting in `revoke`; signalled only when `awaitingRevoke` was set.
    private let revokeReleased = DispatchSemaphore(value: 0)

    private struct Flow {
        var buffered = 0
        var waitingForSpace = false
        var awaitingRevoke = false
        var stopping = false
        /// The event stream was terminated by its consumer; nothing we yield arrives any more.
        var listenerGone = false
    }

    init(logger: Logger, maxBufferedEvents: Int, revokeTimeout: Duration) {
        self.logger = logger
        self.maxBufferedEvents = maxBufferedEvents
        self.revokeTimeout = revokeTimeout
        (stream, continuation) = AsyncStream.makeStream(of: KafkaConsumerEvent.self)
    }

    var isStopping: Bool {
        flow.withLock { $0.stopping }
    }

    /// Handles a message (or error) returned by `rd_kafka_consumer_poll`. Poll thread.
    func received(_ message: UnsafeMutablePointer<rd_kafka_message_t>) {
        let code = message.pointee.err
        switch code {
        case RD_KAFKA_RESP_ERR_NO_ERROR:
            yield(.message(KafkaMessage(message.pointee)))
        case RD_KAFKA_RESP_ERR__PARTITION_EOF:
            break
        default:
            // E.g. a subscribed topic does not exist, or max.poll.interval.ms was exceeded.
            logger.warning(
                "Kafka consumer error: \(string(rd_kafka_message_errstr(message)))",
                metadata: ["kafka.code": "\(code.rawValue)"]
            )
        }
    }

    /// The rebalance callback; runs on the poll thread, or on the worker during `rd_kafka_consumer_close`.
    func rebalance(_ client: OpaquePointer, _ code: rd_kafka_resp_err_t, _ list: UnsafeMutablePointer<rd_kafka_topic_partition_list_t>?) {
        let cooperative = string(rd_kafka_rebalance_protocol(client)) == "COOPERATIVE"
        let partitions = list.map { KafkaTopicPartition.array(from: $0) } ?? []
        switch code {
        case RD_KAFKA_RESP_ERR__ASSIGN_PARTITIONS:
            check(cooperative ? rd_kafka_incremental_assign(client, list) : nil, or: cooperative ? nil : rd_kafka_assign(client, list), "assign")
            // The cooperative protocol also calls back with nothing to add; only real changes are events.
            logger.log(level: partitions.isEmpty ? .debug : .info, "Kafka partitions assigned", metadata: ["kafka.partitions": "\(partitions)"])
            if !partitions.isEmpty { yield(.assigned(partitions)) }
        case RD_KAFKA_RESP_ERR__REVOKE_PARTITIONS:
            logger.log(level: partitions.isEmpty ? .debug : .info, "Kafka partitions revoked", metadata: ["kafka.partitions": "\(partitions)"])
            if !partitions.isEmpty { revoke(partitions, wait: rd_kafka_assignment_lost(client) == 0) }
            check(cooperative ? rd_kafka_incremental_unassign(client, list) : nil, or: cooperative ? nil : rd_kafka_assign(client, nil), "unassign")
        default:
            logger.error("Kafka rebalance failed: \(errorText(code))")
            check(nil, or: rd_kafka_assign(client, nil), "unassign")
        }
    }

    /// Logs a failed (incremental) assign/unassign; librdkafka returns either an error object or a code.
    private func check(_ error: OpaquePointer?, or code: rd_kafka_resp_err_t?, _ action: String) {
        if let error {
            logger.error("Kafka \(action) failed: \(string(rd_kafka_error_string(error)))")
            rd_kafka_error_destroy(error)
        } else if let code, code != RD_KAFKA_RESP_ERR_NO_ERROR {
            logger.error("Kafka \(action) failed: \(errorText(code))")
        }
    }

    /// Emits `.revoked` and, if `wait`, blocks until `revokeHandled()`, a stop, or the timeout.
    private func revoke(_ partitions: [KafkaTopicPartition], wait: Bool) {
        // The flag is set before yielding so that an early `revokeHandled()` is not lost.
        let mustWait =
            wait
            && flow.withLock { flow in
                guard !flow.stopping, !flow.listenerGone else { return false }
                flow.awaitingRevoke = true
                return true
            }
        let delivered = yield(.revoked(partitions))
        guard mustWait else { return }
        let released = delivered && revokeReleased.wait(timeout: .now() + revokeTimeout.dispatchInterval) == .success
        guard !released else { return }
        let signalPending = flow.withLock { flow in
            guard flow.awaitingRevoke else { return true }
            flow.awaitingRevoke = false
            return false
        }
        if signalPending {
            // Released just after the timeout: take that signal, so it cannot cut a later wait short.
            revokeReleased.wait()
        } else if delivered {
            logger.warning("Kafka revocation not handled within \(revokeTimeout); giving up \(partitions) anyway")
        }
    }

    func revokeHandled() {
        let release = flow.withLock { flow in
            defer { flow.awaitingRevoke = false }
            return flow.awaitingRevoke
        }
        if release { revokeReleased.signal() }
    }

    /// Blocks the poll thread while the event buffer is full (or nobody listens any more) until an
    /// event is consumed or a stop is requested.
    func waitForBufferSpace() {
        let mustWait = flow.withLock { flow in
            guard !flow.stopping, flow.buffered >= maxBufferedEvents || flow.listenerGone else { return false }
            flow.waitingForSpace = true
            return true
        }
        if mustWait { spaceAvailable.wait() }
    }

    func eventConsumed() {
        let wake = flow.withLock { flow in
            flow.buffered -= 1
            guard flow.waitingForSpace, flow.buffered < maxBufferedEvents, !flow.listenerGone else { return false }
            flow.waitingForSpace = false
            return true
        }
        if wake { spaceAvailable.signal() }
    }

    /// Ends every wait of the poll thread and keeps it from starting new ones.
    func requestStop() {
        let (wakePoller, releaseRevoke) = flow.withLock { flow in
            defer {
                flow.stopping = true
                flow.waitingForSpace = false
                flow.awaitingRevoke = false
            }
            return (flow.waitingForSpace, flow.awaitingRevoke)
        }
        if wakePoller { spaceAvailable.signal() }
        if releaseRevoke { revokeReleased.signal() }
    }

    func finish() {
        continuation.finish()
    }

    /// The error callback: errors librdkafka recovers from by itself, or fatal ones.
    func clientError(_ code: rd_kafka_resp_err_t, reason: String) {
        switch code {
        case RD_KAFKA_RESP_ERR__FATAL:
            logger.critical("Kafka consumer fatal error: \(reason)")
        case RD_KAFKA_RESP_ERR__TRANSPORT:
            logger.debug("Kafka consumer transport error: \(reason)")  // the log callback reports these too
        default:
            logger.warning("Kafka consumer error: \(reason)", metadata: ["kafka.code": "\(code.rawValue)"])
        }
    }

    /// Counts and yields an event; returns whether the stream took it.
    @discardableResult
    private func yield(_ event: KafkaConsumerEvent) -> Bool {
        flow.withLock { $0.buffered += 1 }
        if case .terminated = continuation.yield(event) {
            let first = flow.withLock { flow in
                defer { flow.listenerGone = true }
                flow.buffered -= 1
                return !flow.listenerGone
            }
            if first { logger.warning("Kafka consumer events are no longer consumed; this member stops fetching") }
            return false
        }
        return true
    }
}

extension Duration {
    var dispatchInterval: DispatchTimeInterval {
        .milliseconds(Int(clampedMilliseconds))
    }
}
