import CRdKafka

/// An error from the Kafka layer. Codes are librdkafka's `rd_kafka_resp_err_t` values: negative for
/// client-side conditions (e.g. `-192` message timed out), positive for broker error codes.
public enum KafkaError: Error, Sendable, CustomStringConvertible {
    /// librdkafka rejected a configuration property.
    case configuration(key: String, message: String)
    /// librdkafka could not create the client (`rd_kafka_new` failed).
    case clientCreation(message: String)
    /// The producer's local queue is full (`queue.buffering.max.messages`); back off and retry.
    case queueFull
    /// The message was accepted locally but its delivery failed, e.g. `message.timeout.ms` passed
    /// before the broker acknowledged it.
    case delivery(code: Int32, message: String)
    /// An offset commit failed, e.g. because the partition was revoked meanwhile.
    case commit(code: Int32, message: String)
    /// Any other error reported by librdkafka or the broker.
    case broker(code: Int32, message: String)
    /// The client was closed before the operation could complete. For a send this means the outcome
    /// is unknown: the message may or may not have been written.
    case closed

    /// Well-known librdkafka error codes, for matching against the `code` of an error.
    public enum Code {
        /// `RD_KAFKA_RESP_ERR__MSG_TIMED_OUT`: not acknowledged within `message.timeout.ms`.
        public static let messageTimedOut = RD_KAFKA_RESP_ERR__MSG_TIMED_OUT.rawValue
        /// `RD_KAFKA_RESP_ERR__TIMED_OUT`: an operation (admin request, metadata) timed out.
        public static let timedOut = RD_KAFKA_RESP_ERR__TIMED_OUT.rawValue
        /// `RD_KAFKA_RESP_ERR_TOPIC_ALREADY_EXISTS`.
        public static let topicAlreadyExists = RD_KAFKA_RESP_ERR_TOPIC_ALREADY_EXISTS.rawValue
    }

    /// The librdkafka error code, where there is one.
    public var code: Int32? {
        switch self {
        case .queueFull: RD_KAFKA_RESP_ERR__QUEUE_FULL.rawValue
        case .delivery(let code, _), .commit(let code, _), .broker(let code, _): code
        case .configuration, .clientCreation, .closed: nil
        }
    }

    public var description: String {
        switch self {
        case .configuration(let key, let message): "Kafka configuration error for '\(key)': \(message)"
        case .clientCreation(let message): "Kafka client creation failed: \(message)"
        case .queueFull: "Kafka producer queue is full"
        case .delivery(let code, let message): "Kafka delivery failed (\(code)): \(message)"
        case .commit(let code, let message): "Kafka offset commit failed (\(code)): \(message)"
        case .broker(let code, let message): "Kafka error (\(code)): \(message)"
        case .closed: "Kafka client is closed"
        }
    }

    /// A `.broker` error for `code`, with librdkafka's text for it.
    static func broker(_ code: rd_kafka_resp_err_t, context: String) -> KafkaError {
        .broker(code: code.rawValue, message: "\(context): \(errorText(code))")
    }
}

/// librdkafka's human-readable text for an error code.
func errorText(_ code: rd_kafka_resp_err_t) -> String {
    string(rd_kafka_err2str(code))
}

/// A Swift string from a C string librdkafka owns; empty for NULL.
func string(_ pointer: UnsafePointer<CChar>?) -> String {
    pointer.map { String(cString: $0) } ?? ""
}
