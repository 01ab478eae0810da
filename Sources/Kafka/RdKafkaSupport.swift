import CRdKafka
import Dispatch
import Foundation
import Logging
import Synchronization

/// An `rd_kafka_t *`. librdkafka handles are thread-safe; the owner guarantees the handle is
/// destroyed only after every thread using it has stopped.
struct RdKafkaHandle: @unchecked Sendable {
    let pointer: OpaquePointer

    /// Creates a client from `properties`, applied in order (later ones win). `prepare` installs
    /// callbacks and the opaque on the configuration before `rd_kafka_new` takes ownership of it.
    static func make(
        _ type: rd_kafka_type_t,
        properties: [(String, String)],
        prepare: (OpaquePointer) -> Void = { _ in }
    ) throws(KafkaError) -> RdKafkaHandle {
        guard let conf = rd_kafka_conf_new() else {
            throw .clientCreation(message: "rd_kafka_conf_new failed")
        }
        var errorBuffer = [CChar](repeating: 0, count: 512)
        for (key, value) in properties {
            if rd_kafka_conf_set(conf, key, value, &errorBuffer, errorBuffer.count) != RD_KAFKA_CONF_OK {
                rd_kafka_conf_destroy(conf)
                throw .configuration(key: key, message: string(fromBuffer: errorBuffer))
            }
        }
        prepare(conf)
        guard let pointer = rd_kafka_new(type, conf, &errorBuffer, errorBuffer.count) else {
            // On failure the configuration is still ours to free.
            rd_kafka_conf_destroy(conf)
            throw .clientCreation(message: string(fromBuffer: errorBuffer))
        }
        return RdKafkaHandle(pointer: pointer)
    }
}

/// The string in a NUL-terminated `errstr` buffer.
func string(fromBuffer buffer: [CChar]) -> String {
    String(decoding: buffer.prefix { $0 != 0 }.map { UInt8(bitPattern: $0) }, as: UTF8.self)
}

/// Forwards a librdkafka log line (syslog levels 0...7) to `logger`.
func forwardLibrdkafkaLog(to logger: Logger, level: Int32, facility: UnsafePointer<CChar>?, line: UnsafePointer<CChar>?) {
    let swiftLevel: Logger.Level =
        switch level {
        case ...3: .error
        case 4: .warning
        case 5, 6: .info
        default: .debug
        }
    logger.log(level: swiftLevel, "\(string(line))", metadata: ["librdkafka.facility": "\(string(facility))"])
}

extension Duration {
    /// Whole milliseconds, clamped to the range of a C `int` timeout.
    var clampedMilliseconds: Int32 {
        let (seconds, attoseconds) = components
        let milliseconds = seconds.multipliedReportingOverflow(by: 1000)
        guard !milliseconds.overflow else { return seconds < 0 ? 0 : Int32.max }
        return Int32(clamping: max(0, milliseconds.partialValue + attoseconds / 1_000_000_000_000_000))
    }
}

extension KafkaTopicPartition {
    /// The entries of a librdkafka partition list.
    static func array(from list: UnsafePointer<rd_kafka_topic_partition_list_t>) -> [KafkaTopicPartition] {
        guard let elements = list.pointee.elems else { return [] }
        return (0..<Int(list.pointee.cnt)).map { index in
            KafkaTopicPartition(topic: string(elements[index].topic), partition: elements[index].partition)
        }
    }
}

/// Runs `body` with a temporary librdkafka partition list holding `entries` (offset `nil` leaves
/// librdkafka's default, `RD_KAFKA_OFFSET_INVALID`).
func withPartitionList<Result>(
    _ entries: [(KafkaTopicPartition, Int64?)],
    _ body: (UnsafeMutablePointer<rd_kafka_topic_partition_list_t>) -> Result
) -> Result {
    guard let list = rd_kafka_topic_partition_list_new(Int32(clamping: entries.count)) else {
        // librdkafka aborts the process when an allocation fails, so this cannot happen.
        preconditionFailure("rd_kafka_topic_partition_list_new returned NULL")
    }
    defer { rd_kafka_topic_partition_list_destroy(list) }
    for (topicPartition, offset) in entries {
        let element = rd_kafka_topic_partition_list_add(list, topicPartition.topic, topicPartition.partition)
        if let element, let offset { element.pointee.offset = offset }
    }
    return body(list)
}

/// The first per-partition error librdkafka left in a list after an operation.
func firstPartitionError(in list: UnsafeMutablePointer<rd_kafka_topic_partition_list_t>) -> (KafkaTopicPartition, rd_kafka_resp_err_t)? {
    guard let elements = list.pointee.elems else { return nil }
    for index in 0..<Int(list.pointee.cnt) where elements[index].err != RD_KAFKA_RESP_ERR_NO_ERROR {
        let topicPartition = KafkaTopicPartition(topic: string(elements[index].topic), partition: elements[index].partition)
        return (topicPartition, elements[index].err)
    }
    return nil
}

/// Runs a blocking `body` on a fresh OS thread and returns its result, keeping it off Swift's
/// cooperative pool. For one-off work; clients use a ``BlockingWorker``.
func onDedicatedThread<T: Sendable>(name: String, _ body: @escaping @Sendable () -> T) async -> T {
    await withCheckedContinuation { continuation in
        let thread = Thread { continuation.resume(returning: body()) }
        thread.name = name
        thread.start()
    }
}

/// A dedicated OS thread that runs blocking librdkafka calls (flush, commit, close, destroy) one at
/// a time, in submission order.
///
/// These calls block their caller for up to seconds, so they must not run on Swift's cooperative
/// pool; running them serially also keeps, e.g., an older commit from overtaking a newer one.
final class BlockingWorker: Sendable {
    /// Queued jobs; `nil` tells the thread to exit.
    private let jobs = Mutex<[(@Sendable () -> Void)?]>([])
    private let jobsAvailable = DispatchSemaphore(value: 0)

    init(name: String) {
        let thread = Thread { [self] in runLoop() }
        thread.name = name
        thread.start()
    }

    /// Queues `job` without waiting for it.
    func submit(_ job: @escaping @Sendable () -> Void) {
        enqueue(job)
    }

    /// Queues `body` and suspends (without blocking) until it has run on the worker thread.
    func run<T: Sendable>(_ body: @escaping @Sendable () -> T) async -> T {
        await withCheckedContinuation { continuation in
            submit { continuation.resume(returning: body()) }
        }
    }

    /// Lets the thread exit after the jobs queued so far. Nothing may be submitted afterwards.
    func stop() {
        enqueue(nil)
    }

    private func enqueue(_ job: (@Sendable () -> Void)?) {
        jobs.withLock { $0.append(job) }
        jobsAvailable.signal()
    }

    private func runLoop() {
        while true {
            jobsAvailable.wait()
            guard let job = jobs.withLock({ $0.removeFirst() }) else { return }
            job()
        }
    }
}
