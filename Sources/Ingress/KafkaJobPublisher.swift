import Kafka
import KassaModel

/// Publishes jobs to the job topic keyed by group code, so one tenant's jobs stay in one
/// partition (one dispatcher owns a tenant at a time).
public struct KafkaJobPublisher: JobPublisher {
    let producer: KafkaProducer
    let topic: String

    public init(producer: KafkaProducer, topic: String) {
        self.producer = producer
        self.topic = topic
    }

    public func publish(_ job: ReceiptJob) async throws(PublishFailure) {
        do {
            _ = try await producer.send(topic: topic, key: Array(job.groupCode.utf8), value: job.encoded())
        } catch KafkaError.queueFull {
            throw .backpressure
        } catch {
            throw .unavailable("\(error)")
        }
    }

    public var isConnected: Bool { producer.isConnected }

    public func flush(timeout: Duration) async -> Bool {
        await producer.flush(timeout: timeout)
    }
}
