import CRdKafka
import Foundation
import Logging

/// Cluster administration.
public enum KafkaAdmin {
    /// Creates the topic if it does not exist (an existing topic is not an error). Runs on a
    /// dedicated thread with a short-lived client.
    /// - Parameter logger: receives librdkafka's log lines (e.g. connection failures); without one
    ///   they are dropped, and failures surface only as the thrown error.
    /// - Throws: ``KafkaError/broker(code:message:)``, e.g. ``KafkaError/Code/timedOut`` when no
    ///   broker answered within `timeout`.
    public static func createTopic(
        bootstrapServers: String,
        name: String,
        partitions: Int32,
        replicationFactor: Int16 = 1,
        timeout: Duration,
        logger: Logger? = nil
    ) async throws(KafkaError) {
        let result = await onDedicatedThread(name: "kafka-admin") { () -> Result<Void, KafkaError> in
            Result { () throws(KafkaError) in
                try createTopicBlocking(bootstrapServers, name, partitions, replicationFactor, timeout, LogSink(logger: logger))
            }
        }
        try result.get()
    }

    /// The log callback's opaque: where librdkafka's lines go, if anywhere.
    private final class LogSink: Sendable {
        let logger: Logger?
        init(logger: Logger?) { self.logger = logger }
    }

    private static func createTopicBlocking(
        _ bootstrapServers: String,
        _ name: String,
        _ partitions: Int32,
        _ replicationFactor: Int16,
        _ timeout: Duration,
        _ sink: LogSink
    ) throws(KafkaError) {
        let client = try RdKafkaHandle.make(
            RD_KAFKA_PRODUCER,
            properties: [("bootstrap.servers", bootstrapServers), ("client.id", "kassa-admin")]
        ) { conf in
            // `sink` outlives the client: this function holds it until after rd_kafka_destroy.
            rd_kafka_conf_set_opaque(conf, Unmanaged.passUnretained(sink).toOpaque())
            rd_kafka_conf_set_log_cb(conf) { client, level, facility, line in
                guard let client, let opaque = rd_kafka_opaque(client) else { return }
                guard let logger = Unmanaged<LogSink>.fromOpaque(opaque).takeUnretainedValue().logger else { return }
                forwardLibrdkafkaLog(to: logger, level: level, facility: facility, line: line)
            }
        }
        defer {
            rd_kafka_destroy(client.pointer)
            withExtendedLifetime(sink) {}
        }

        var errorBuffer = [CChar](repeating: 0, count: 512)
        guard let newTopic = rd_kafka_NewTopic_new(name, partitions, Int32(replicationFactor), &errorBuffer, errorBuffer.count) else {
            throw .configuration(key: "topic \(name)", message: string(fromBuffer: errorBuffer))
        }
        defer { rd_kafka_NewTopic_destroy(newTopic) }
        guard let options = rd_kafka_AdminOptions_new(client.pointer, RD_KAFKA_ADMIN_OP_CREATETOPICS) else {
            throw .clientCreation(message: "rd_kafka_AdminOptions_new failed")
        }
        defer { rd_kafka_AdminOptions_destroy(options) }
        let milliseconds = timeout.clampedMilliseconds
        rd_kafka_AdminOptions_set_request_timeout(options, milliseconds, &errorBuffer, errorBuffer.count)
        // Lets the controller finish creating the topic before it answers.
        rd_kafka_AdminOptions_set_operation_timeout(options, milliseconds, &errorBuffer, errorBuffer.count)
        guard let queue = rd_kafka_queue_new(client.pointer) else {
            throw .clientCreation(message: "rd_kafka_queue_new failed")
        }
        defer { rd_kafka_queue_destroy(queue) }

        var topics: [OpaquePointer?] = [newTopic]
        rd_kafka_CreateTopics(client.pointer, &topics, 1, options, queue)
        // librdkafka enforces the request timeout itself; the margin only guards against a lost event.
        guard let event = rd_kafka_queue_poll(queue, milliseconds &+ 1000) else {
            throw .broker(code: KafkaError.Code.timedOut, message: "CreateTopics \(name): no answer within \(timeout)")
        }
        defer { rd_kafka_event_destroy(event) }
        let requestError = rd_kafka_event_error(event)
        guard requestError == RD_KAFKA_RESP_ERR_NO_ERROR else {
            throw .broker(code: requestError.rawValue, message: "CreateTopics \(name): \(string(rd_kafka_event_error_string(event)))")
        }
        guard let result = rd_kafka_event_CreateTopics_result(event) else {
            throw .broker(code: RD_KAFKA_RESP_ERR__BAD_MSG.rawValue, message: "CreateTopics \(name): unexpected event")
        }
        var count = 0
        guard let results = rd_kafka_CreateTopics_result_topics(result, &count) else { return }
        for index in 0..<count {
            guard let topicResult = results[index] else { continue }
            let code = rd_kafka_topic_result_error(topicResult)
            if code != RD_KAFKA_RESP_ERR_NO_ERROR && code != RD_KAFKA_RESP_ERR_TOPIC_ALREADY_EXISTS {
                throw .broker(code: code.rawValue, message: "CreateTopics \(name): \(string(rd_kafka_topic_result_error_string(topicResult)))")
            }
        }
    }
}
