import CRdKafka
import Dispatch
import Foundation
import Logging
import Synchronization

/// Settings for a ``KafkaProducer``. Each maps to one librdkafka property.
public struct KafkaProducerConfiguration: Sendable {
    /// `bootstrap.servers`: comma-separated `host:port` list.
    public var bootstrapServers: String
    /// `client.id`, shown in broker logs.
    public var clientID: String = "kassa"
    /// `linger.ms`: how long librdkafka waits to fill a batch. Small, because callers await each delivery.
    public var lingerMilliseconds: Int = 1
    /// `queue.buffering.max.messages`: beyond this many undelivered messages,
    /// ``KafkaProducer/send(topic:key:value:)`` fails with ``KafkaError/queueFull``.
    public var queueBufferingMaxMessages: Int = 100_000
    /// `message.timeout.ms`: a message not acknowledged within this time fails with
    /// ``KafkaError/delivery(code:message:)`` (code ``KafkaError/Code/messageTimedOut``).
    public var messageTimeoutMilliseconds: Int = 30_000
    /// How long ``KafkaProducer/close()`` waits for outstanding deliveries before giving up on them.
    public var closeTimeoutMilliseconds: Int = 10_000
    /// Further librdkafka properties, passed to `rd_kafka_conf_set` verbatim and applied last, so
    /// they may override everything above (including idempotence and acks).
    public var additional: [String: String] = [:]

    public init(bootstrapServers: String) {
        self.bootstrapServers = bootstrapServers
    }

    var properties: [(String, String)] {
        [
            ("bootstrap.servers", bootstrapServers),
            ("client.id", clientID),
            ("linger.ms", String(lingerMilliseconds)),
            ("queue.buffering.max.messages", String(queueBufferingMaxMessages)),
            ("message.timeout.ms", String(messageTimeoutMilliseconds)),
            ("enable.idempotence", "true"),
            ("acks", "all"),
        ] + additional.sorted { $0.key < $1.key }.map { ($0.key, $0.value) }
    }
}

/// Where the broker stored a message.
public struct KafkaDeliveryReport: Sendable, Hashable {
    public var topic: String
    public var partition: Int32
    public var offset: Int64

    public init(topic: String, partition: Int32, offset: Int64) {
        self.topic = topic
        self.partition = partition
        self.offset = offset
    }
}

/// An idempotent (`enable.idempotence=true`), `acks=all` producer.
///
/// A dedicated thread serves librdkafka's delivery reports (`rd_kafka_poll`); each
/// ``send(topic:key:value:)`` suspends until its report arrives. Blocking calls (flush, metadata
/// probes, close) run on a second dedicated thread, never on Swift's cooperative pool.
public final class KafkaProducer: Sendable {
    private let handle: RdKafkaHandle
    private let state: ProducerState
    private let worker: BlockingWorker
    private let closeTimeout: Duration

    /// Creates the producer and starts connecting in the background; see ``isConnected``.
    public init(configuration: KafkaProducerConfiguration, logger: Logger) throws(KafkaError) {
        let state = ProducerState(logger: logger)
        let handle = try RdKafkaHandle.make(RD_KAFKA_PRODUCER, properties: configuration.properties) { conf in
            // The callbacks find `state` through the opaque; it outlives the handle (see shutdown).
            rd_kafka_conf_set_opaque(conf, Unmanaged.passUnretained(state).toOpaque())
            rd_kafka_conf_set_dr_msg_cb(conf) { _, message, opaque in
                guard let message, let opaque else { return }
                Unmanaged<ProducerState>.fromOpaque(opaque).takeUnretainedValue().delivered(message)
            }
            rd_kafka_conf_set_error_cb(conf) { _, code, reason, opaque in
                guard let opaque else { return }
                Unmanaged<ProducerState>.fromOpaque(opaque).takeUnretainedValue()
                    .clientError(rd_kafka_resp_err_t(code), reason: string(reason))
            }
            rd_kafka_conf_set_log_cb(conf) { client, level, facility, line in
                guard let client, let opaque = rd_kafka_opaque(client) else { return }
                let state = Unmanaged<ProducerState>.fromOpaque(opaque).takeUnretainedValue()
                forwardLibrdkafkaLog(to: state.logger, level: level, facility: facility, line: line)
            }
        }
        let worker = BlockingWorker(name: "kafka-producer-worker")
        self.handle = handle
        self.state = state
        self.worker = worker
        self.closeTimeout = .milliseconds(configuration.closeTimeoutMilliseconds)

        let pollThread = Thread {
            var nextProbe = ContinuousClock.now
            while !state.stopPolling.load(ordering: .acquiring) {
                // Serves delivery reports and the error/log callbacks.
                rd_kafka_poll(handle.pointer, 100)
                if ContinuousClock.now >= nextProbe, !state.probing.exchange(true, ordering: .acquiringAndReleasing) {
                    // Probe often while disconnected, so /readyz recovers quickly.
                    nextProbe = .now + (state.connected.load(ordering: .relaxed) ? .seconds(5) : .seconds(1))
                    worker.submit { Self.probe(handle, state) }
                }
            }
            state.pollStopped.signal()
        }
        pollThread.name = "kafka-producer-poll"
        pollThread.start()
    }

    deinit {
        state.closeForSends()
        worker.submit { [handle, state, closeTimeout] in Self.shutdown(handle, state, flushTimeout: closeTimeout) }
        worker.stop()
    }

    /// Enqueues the message and suspends until its delivery report arrives, i.e. until all in-sync
    /// replicas acknowledged it (acks=all), or delivery failed.
    ///
    /// - Throws: ``KafkaError/queueFull`` at once if the local queue is full;
    ///   ``KafkaError/delivery(code:message:)`` if delivery failed (e.g. timed out);
    ///   ``KafkaError/closed`` if the producer is (or got) closed. Cancelling the calling task does
    ///   not withdraw a message already enqueued; the call still waits for its report.
    ///   An empty `key` is sent as a null key.
    public func send(topic: String, key: [UInt8], value: [UInt8]) async throws(KafkaError) -> KafkaDeliveryReport {
        let result = await withCheckedContinuation { (continuation: DeliveryContinuation) in
            let error = state.register(continuation) { [handle] id in
                Self.produce(handle, topic: topic, key: key, value: value, id: id)
            }
            if let error { continuation.resume(returning: .failure(error)) }
        }
        return try result.get()
    }

    /// True once a broker answered (a metadata probe or a delivery succeeded), and false again after
    /// librdkafka reports all brokers down or a probe gets no answer within a second. Probes
    /// (`rd_kafka_metadata`) run every second while disconnected and every five seconds while
    /// connected; they actively connect, since librdkafka opens connections only when needed.
    /// Meant for readiness checks.
    public var isConnected: Bool {
        state.connected.load(ordering: .relaxed)
    }

    /// Waits (off the cooperative pool) until every queued message has been delivered or failed, or
    /// `timeout` passes. Returns whether the queue drained; `false` after ``close()``. May start up
    /// to a second late, behind an in-flight connectivity probe.
    public func flush(timeout: Duration) async -> Bool {
        await worker.run { [handle, state] in
            guard !state.destroyed.load(ordering: .acquiring) else { return false }
            return rd_kafka_flush(handle.pointer, timeout.clampedMilliseconds) == RD_KAFKA_RESP_ERR_NO_ERROR
        }
    }

    /// Stops accepting messages, waits up to `closeTimeoutMilliseconds` for outstanding deliveries,
    /// then releases the client. Sends still waiting then fail with ``KafkaError/closed``.
    /// Calling it again returns at once.
    public func close() async {
        state.closeForSends()
        await worker.run { [handle, state, closeTimeout] in
            Self.shutdown(handle, state, flushTimeout: closeTimeout)
        }
    }

    /// Calls `rd_kafka_produceva`, copying key and value; returns the synchronous error, if any.
    private static func produce(_ handle: RdKafkaHandle, topic: String, key: [UInt8], value: [UInt8], id: UInt) -> KafkaError? {
        topic.withCString { topicName in
            key.withUnsafeBytes { keyBytes in
                value.withUnsafeBytes { valueBytes in
                    var fields = [rd_kafka_vu_t](repeating: rd_kafka_vu_t(), count: 5)
                    fields[0].vtype = RD_KAFKA_VTYPE_TOPIC
                    fields[0].u.cstr = topicName
                    fields[1].vtype = RD_KAFKA_VTYPE_KEY
                    fields[1].u.mem.ptr = UnsafeMutableRawPointer(mutating: keyBytes.baseAddress)
                    fields[1].u.mem.size = keyBytes.count
                    fields[2].vtype = RD_KAFKA_VTYPE_VALUE
                    fields[2].u.mem.ptr = UnsafeMutableRawPointer(mutating: valueBytes.baseAddress)
                    fields[2].u.mem.size = valueBytes.count
                    fields[3].vtype = RD_KAFKA_VTYPE_MSGFLAGS
                    fields[3].u.i = RD_KAFKA_MSG_F_COPY
                    // The per-message opaque carries the id that finds the waiting continuation.
                    fields[4].vtype = RD_KAFKA_VTYPE_OPAQUE
                    fields[4].u.ptr = UnsafeMutableRawPointer(bitPattern: id)
                    guard let error = rd_kafka_produceva(handle.pointer, fields, fields.count) else { return nil }
                    defer { rd_kafka_error_destroy(error) }
                    let code = rd_kafka_error_code(error)
                    if code == RD_KAFKA_RESP_ERR__QUEUE_FULL { return .queueFull }
                    return .broker(code: code.rawValue, message: string(rd_kafka_error_string(error)))
                }
            }
        }
    }

    /// Asks a broker for metadata to learn whether any broker answers. Runs on the worker.
    private static func probe(_ handle: RdKafkaHandle, _ state: ProducerState) {
        defer { state.probing.store(false, ordering: .releasing) }
        guard !state.destroyed.load(ordering: .acquiring) else { return }
        var metadata: UnsafePointer<rd_kafka_metadata>?
        // A healthy broker answers in milliseconds; a short timeout keeps flush/close from queueing long behind it.
        let code = rd_kafka_metadata(handle.pointer, 0, nil, &metadata, 1000)
        if let metadata { rd_kafka_metadata_destroy(metadata) }
        state.setConnected(code == RD_KAFKA_RESP_ERR_NO_ERROR, reason: errorText(code))
    }

    /// Flushes, stops the poll thread, destroys the handle and fails what is still waiting. Runs on
    /// the worker, after `closeForSends`, so no produce call can race the destroy.
    private static func shutdown(_ handle: RdKafkaHandle, _ state: ProducerState, flushTimeout: Duration) {
        guard !state.destroyed.load(ordering: .acquiring) else { return }
        if rd_kafka_flush(handle.pointer, flushTimeout.clampedMilliseconds) != RD_KAFKA_RESP_ERR_NO_ERROR {
            state.logger.warning(
                "Kafka producer closing with undelivered messages",
                metadata: ["kafka.outq": "\(rd_kafka_outq_len(handle.pointer))"]
            )
        }
        state.stopPolling.store(true, ordering: .releasing)
        state.pollStopped.wait()
        rd_kafka_destroy(handle.pointer)
        state.destroyed.store(true, ordering: .releasing)
        state.connected.store(false, ordering: .relaxed)
        state.failWaiting(with: .closed)
    }
}

typealias DeliveryContinuation = CheckedContinuation<Result<KafkaDeliveryReport, KafkaError>, Never>

/// What the producer's callbacks and threads share; the `rd_kafka_t` opaque points here.
final class ProducerState: Sendable {
    let logger: Logger
    let connected = Atomic<Bool>(false)
    let probing = Atomic<Bool>(false)
    let stopPolling = Atomic<Bool>(false)
    let pollStopped = DispatchSemaphore(value: 0)
    /// Set on the worker thread once the handle is destroyed.
    let destroyed = Atomic<Bool>(false)
    private let book = Mutex(Book())

    /// Sends awaiting their delivery report, by per-message id.
    private struct Book {
        var acceptingSends = true
        var lastID: UInt = 0
        var waiting: [UInt: DeliveryContinuation] = [:]
    }

    init(logger: Logger) {
        self.logger = logger
    }

    /// Registers `continuation` under a fresh id and calls `produce` with it. The lock is held across
    /// `produce` so that ``closeForSends()`` returns only once no produce call is in progress.
    func register(_ continuation: DeliveryContinuation, produce: (UInt) -> KafkaError?) -> KafkaError? {
        book.withLock { book in
            guard book.acceptingSends else { return .closed }
            book.lastID &+= 1
            if book.lastID == 0 { book.lastID = 1 }  // 0 would be a NULL opaque
            let id = book.lastID
            // Registered first: the report may be served on the poll thread before produce returns.
            book.waiting[id] = continuation
            let error = produce(id)
            if error != nil { book.waiting[id] = nil }
            return error
        }
    }

    func closeForSends() {
        book.withLock { $0.acceptingSends = false }
    }

    /// The delivery-report callback; runs on the poll thread (or inside `rd_kafka_flush`).
    func delivered(_ message: UnsafePointer<rd_kafka_message_t>) {
        let id = UInt(bitPattern: message.pointee._private)
        guard let continuation = book.withLock({ $0.waiting.removeValue(forKey: id) }) else { return }
        let code = message.pointee.err
        if code == RD_KAFKA_RESP_ERR_NO_ERROR {
            setConnected(true, reason: "delivery succeeded")
            let topic = message.pointee.rkt.map { string(rd_kafka_topic_name($0)) } ?? ""
            let report = KafkaDeliveryReport(topic: topic, partition: message.pointee.partition, offset: message.pointee.offset)
            continuation.resume(returning: .success(report))
        } else {
            // Not rd_kafka_message_errstr: for a delivery report that returns the message payload.
            continuation.resume(returning: .failure(.delivery(code: code.rawValue, message: errorText(code))))
        }
    }

    func failWaiting(with error: KafkaError) {
        let waiting = book.withLock { book in
            defer { book.waiting = [:] }
            return book.waiting.values
        }
        for continuation in waiting { continuation.resume(returning: .failure(error)) }
    }

    /// The error callback: transient errors librdkafka recovers from by itself, or fatal ones.
    func clientError(_ code: rd_kafka_resp_err_t, reason: String) {
        switch code {
        case RD_KAFKA_RESP_ERR__ALL_BROKERS_DOWN:
            setConnected(false, reason: reason)
        case RD_KAFKA_RESP_ERR__FATAL:
            // E.g. the idempotent producer lost its guarantees; every later send fails.
            logger.critical("Kafka producer fatal error: \(reason)")
        case RD_KAFKA_RESP_ERR__TRANSPORT:
            logger.debug("Kafka producer transport error: \(reason)")  // the log callback reports these too
        default:
            logger.warning("Kafka producer error: \(reason)", metadata: ["kafka.code": "\(code.rawValue)"])
        }
    }

    func setConnected(_ isConnected: Bool, reason: String) {
        guard connected.exchange(isConnected, ordering: .relaxed) != isConnected else { return }
        if isConnected {
            logger.info("Kafka producer connected")
        } else {
            logger.warning("Kafka producer disconnected: \(reason)")
        }
    }
}
