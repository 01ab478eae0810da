import Foundation
import Kafka
import Logging
import Synchronization
import Testing

private let logger: Logger = {
    var logger = Logger(label: "kafka-tests")
    logger.logLevel = .info
    return logger
}()

/// Sends `count` keyed messages concurrently and returns their reports by message index.
private func produce(_ producer: KafkaProducer, topic: String, range: Range<Int>) async throws -> [Int: KafkaDeliveryReport] {
    try await withThrowingTaskGroup(of: (Int, KafkaDeliveryReport).self) { group in
        for index in range {
            group.addTask {
                let report = try await producer.send(topic: topic, key: Array("key-\(index % 64)".utf8), value: Array("value-\(index)".utf8))
                return (index, report)
            }
        }
        var reports: [Int: KafkaDeliveryReport] = [:]
        for try await (index, report) in group { reports[index] = report }
        return reports
    }
}

private func attemptSend(_ producer: KafkaProducer, key: [UInt8]) async -> Result<KafkaDeliveryReport, KafkaError> {
    do {
        return .success(try await producer.send(topic: "nowhere", key: key, value: key))
    } catch {
        return .failure(error)
    }
}

/// Iterates the consumer's (single-use) event sequence until `count` messages arrived.
private func collectMessages(_ consumer: KafkaConsumer, count: Int, timeout: Duration) async throws -> [KafkaMessage] {
    try await withTimeout(timeout, "receiving \(count) messages") {
        var messages: [KafkaMessage] = []
        for await event in consumer.events {
            if case .message(let message) = event { messages.append(message) }
            if messages.count == count { break }
        }
        return messages
    }
}

@Suite("Kafka against a real Tansu broker")
struct KafkaTests {
    @Test func rejectsUnknownConfigurationWithTypedError() {
        var configuration = KafkaProducerConfiguration(bootstrapServers: "127.0.0.1:1")
        configuration.additional["no.such.property"] = "1"
        #expect {
            _ = try KafkaProducer(configuration: configuration, logger: logger)
        } throws: { error in
            guard case KafkaError.configuration(let key, _) = error else { return false }
            return key == "no.such.property"
        }
    }

    @Test func producesConsumesCommitsAndResumesFromCommittedOffsets() async throws {
        try await withTansuBroker { broker in
            let topic = "orders"
            try await KafkaAdmin.createTopic(bootstrapServers: broker.bootstrapServers, name: topic, partitions: 4, timeout: .seconds(10))
            // An existing topic is not an error.
            try await KafkaAdmin.createTopic(bootstrapServers: broker.bootstrapServers, name: topic, partitions: 4, timeout: .seconds(10))

            let producer = try KafkaProducer(configuration: KafkaProducerConfiguration(bootstrapServers: broker.bootstrapServers), logger: logger)
            let started = ContinuousClock.now
            let reports = try await withTimeout(.seconds(30), "1000 deliveries") { try await produce(producer, topic: topic, range: 0..<1000) }
            logger.info("1000 deliveries took \(ContinuousClock.now - started)")
            #expect(reports.count == 1000)
            #expect(producer.isConnected)
            let offsetsByPartition = Dictionary(grouping: reports.values, by: \.partition).mapValues { $0.map(\.offset).sorted() }
            #expect(Set(offsetsByPartition.keys) == [0, 1, 2, 3])
            for (partition, offsets) in offsetsByPartition {
                #expect(offsets == Array(0..<Int64(offsets.count)), "partition \(partition) has gaps or duplicates")
            }
            // Equal keys land on one partition.
            let partitionsByKey = Dictionary(grouping: reports, by: { $0.key % 64 }).mapValues { Set($0.map(\.value.partition)) }
            #expect(partitionsByKey.values.allSatisfy { $0.count == 1 })
            #expect(await producer.flush(timeout: .seconds(5)))
            await producer.close()
            await #expect {
                _ = try await producer.send(topic: topic, key: [1], value: [1])
            } throws: { error in
                guard case KafkaError.closed = error else { return false }
                return true
            }

            // First member: read everything, but commit only the first half of each partition.
            let configuration = KafkaConsumerConfiguration(bootstrapServers: broker.bootstrapServers, groupID: "resume-group")
            let first = try KafkaConsumer(configuration: configuration, topics: [topic], logger: logger)
            let joined = ContinuousClock.now
            let firstMessages = try await collectMessages(first, count: 1000, timeout: .seconds(30))
            logger.info("first member received 1000 messages \(ContinuousClock.now - joined) after joining")
            #expect(Set(firstMessages.map { String(decoding: $0.value, as: UTF8.self) }) == Set((0..<1000).map { "value-\($0)" }))
            for message in firstMessages {
                let index = Int(String(decoding: message.value, as: UTF8.self).dropFirst("value-".count)) ?? -1
                #expect(message.key == Array("key-\(index % 64)".utf8))
                #expect(reports[index] == KafkaDeliveryReport(topic: topic, partition: message.partition, offset: message.offset))
            }
            var committed: [KafkaTopicPartition: Int64] = [:]
            for (partition, offsets) in offsetsByPartition {
                committed[KafkaTopicPartition(topic: topic, partition: partition)] = Int64(offsets.count / 2)
            }
            try await first.commit(committed)
            await first.close()
            await #expect {
                try await first.commit(committed)
            } throws: { error in
                guard case KafkaError.closed = error else { return false }
                return true
            }

            // Second member of the same group: starts exactly at the committed offsets.
            let second = try KafkaConsumer(configuration: configuration, topics: [topic], logger: logger)
            let remaining = 1000 - Int(committed.values.reduce(0, +))
            let secondMessages = try await collectMessages(second, count: remaining, timeout: .seconds(30))
            await second.close()
            let expected = Set(
                firstMessages.filter { $0.offset >= committed[KafkaTopicPartition(topic: topic, partition: $0.partition), default: 0] }
            )
            #expect(Set(secondMessages) == expected)
            for (topicPartition, offset) in committed {
                let first = secondMessages.filter { $0.partition == topicPartition.partition }.map(\.offset).min()
                #expect(first == offset, "\(topicPartition) resumed at \(String(describing: first)), committed \(offset)")
            }
        }
    }

    /// "cooperative-sticky" revokes only the partitions that move; "range" is eager: everything is
    /// revoked, then reassigned.
    @Test(arguments: ["cooperative-sticky", "range"])
    func revokedPartitionsAreCommittedBeforeTheyMove(strategy: String) async throws {
        try await withTansuBroker { broker in
            let topic = "jobs-\(strategy)"
            try await KafkaAdmin.createTopic(bootstrapServers: broker.bootstrapServers, name: topic, partitions: 4, timeout: .seconds(10))
            let producer = try KafkaProducer(configuration: KafkaProducerConfiguration(bootstrapServers: broker.bootstrapServers), logger: logger)
            _ = try await produce(producer, topic: topic, range: 0..<200)

            // The first member reads everything without committing.
            var configuration = KafkaConsumerConfiguration(bootstrapServers: broker.bootstrapServers, groupID: "rebalance-group")
            configuration.additional["partition.assignment.strategy"] = strategy
            let cooperative = strategy == "cooperative-sticky"
            let first = try KafkaConsumer(configuration: configuration, topics: [topic], logger: logger)
            let firstNotes = Notebook()
            let firstLoop = Task { try await runMember(first, notebook: firstNotes) }
            let joined = ContinuousClock.now
            try await firstNotes.wait(.seconds(30), "first member consumed 200") { $0.messages.count == 200 ? true : nil }
            logger.info("first member consumed 200 messages \(ContinuousClock.now - joined) after joining")

            // A second member joins: the first gives up some partitions, committing them while it still owns them.
            let second = try KafkaConsumer(configuration: configuration, topics: [topic], logger: logger)
            let secondNotes = Notebook()
            let secondLoop = Task { try await runMember(second, notebook: secondNotes) }
            let rebalanceStarted = ContinuousClock.now
            let revokedCommits = try await firstNotes.wait(.seconds(30), "first member revoked and committed") { $0.revokedCommits.first }
            let secondAssignment = try await secondNotes.wait(.seconds(30), "second member assigned") { $0.assignments.first }
            logger.info("revoked and committed \(revokedCommits); second member got \(secondAssignment) after \(ContinuousClock.now - rebalanceStarted)")
            #expect(secondAssignment.count == 2)
            if cooperative {
                #expect(Set(secondAssignment) == Set(revokedCommits.keys))
                #expect(firstNotes.snapshot.assignments.count == 1, "the first member keeps its other partitions")
            } else {
                #expect(revokedCommits.count == 4)
                #expect(Set(secondAssignment).isSubset(of: revokedCommits.keys))
                // The first member is reassigned the other two, after the revocation.
                let firstAgain = try await firstNotes.wait(.seconds(30), "first member reassigned") { $0.assignments.dropFirst().first }
                #expect(Set(firstAgain).isDisjoint(with: secondAssignment) && firstAgain.count == 2)
            }

            // The group has no commits but those made during revocation, so if they had come too late the
            // second member would re-read the old messages from offset 0. It must read only new ones.
            let newReports = try await produce(producer, topic: topic, range: 200..<300)
            let moved = Set(newReports.values.filter { report in secondAssignment.contains { $0.partition == report.partition } })
            let received = try await secondNotes.wait(.seconds(30), "second member received \(moved.count)") { notes in
                notes.messages.count >= moved.count ? notes.messages : nil
            }
            #expect(Set(received.map { KafkaDeliveryReport(topic: $0.topic, partition: $0.partition, offset: $0.offset) }) == moved)
            for message in received {
                let committed = revokedCommits[KafkaTopicPartition(topic: topic, partition: message.partition)] ?? -1
                #expect(message.offset >= committed, "re-read \(message.partition)@\(message.offset); committed \(committed)")
            }
            let stayed = newReports.values.count - moved.count
            try await firstNotes.wait(.seconds(30), "first member received \(stayed) new") { $0.messages.count == 200 + stayed ? true : nil }

            await second.close()
            await first.close()
            await producer.close()
            try await firstLoop.value
            try await secondLoop.value
        }
    }

    @Test func unreachableBrokerSurfacesTypedErrors() async throws {
        let port = try freeLoopbackPort()  // closed: nothing listens there
        var configuration = KafkaProducerConfiguration(bootstrapServers: "127.0.0.1:\(port)")
        configuration.messageTimeoutMilliseconds = 1500
        configuration.queueBufferingMaxMessages = 1
        let producer = try KafkaProducer(configuration: configuration, logger: logger)

        let started = ContinuousClock.now
        // Two sends race for the one-message queue: one fails at once, the other times out.
        async let first = attemptSend(producer, key: [1])
        let second = await attemptSend(producer, key: [2])
        let firstResult = await first
        let elapsed = ContinuousClock.now - started

        let errors = [firstResult, second].compactMap { result -> KafkaError? in
            if case .failure(let error) = result { return error }
            return nil
        }
        #expect(errors.count == 2)
        // Usually one send finds the one-message queue full; on a busy machine the first may
        // already have timed out when the second comes. Either way each error is typed.
        #expect(errors.allSatisfy { error in
            if case .queueFull = error { return true }
            if case .delivery(let code, _) = error { return code == KafkaError.Code.messageTimedOut }
            return false
        })
        #expect(errors.contains { error in
            guard case .delivery(let code, let message) = error else { return false }
            logger.info("delivery error as expected: \(error)")
            return code == KafkaError.Code.messageTimedOut && !message.isEmpty
        })
        // Bounded by the message timeout, not by a wait for a broker that never answers.
        #expect(elapsed < .seconds(30))
        #expect(!producer.isConnected)
        let closing = ContinuousClock.now
        await producer.close()
        let closeTook = ContinuousClock.now - closing
        logger.info("sends failed after \(elapsed); close took \(closeTook)")
        #expect(closeTook < .seconds(3))
    }

    @Test func createTopicTimesOutWithTypedError() async throws {
        let port = try freeLoopbackPort()
        await #expect {
            try await KafkaAdmin.createTopic(bootstrapServers: "127.0.0.1:\(port)", name: "x", partitions: 1, timeout: .seconds(1))
        } throws: { error in
            guard case KafkaError.broker(let code, _) = error else { return false }
            return code == KafkaError.Code.timedOut
        }
    }
}

/// What a test group member saw, readable from the test while the member runs.
final class Notebook: Sendable {
    struct Notes {
        var assignments: [[KafkaTopicPartition]] = []
        var messages: [KafkaMessage] = []
        var revokedCommits: [[KafkaTopicPartition: Int64]] = []
    }

    private let notes = Mutex(Notes())

    var snapshot: Notes { notes.withLock { $0 } }

    func record(_ change: (inout Notes) -> Void) {
        notes.withLock { change(&$0) }
    }

    /// Re-checks `extract` until it yields a value; fails after `timeout`.
    @discardableResult
    func wait<T>(_ timeout: Duration, _ what: String, _ extract: (Notes) -> T?) async throws -> T {
        let deadline = ContinuousClock.now + timeout
        while true {
            if let value = extract(snapshot) { return value }
            guard ContinuousClock.now < deadline else { throw TimedOut(description: "\(what): not within \(timeout)") }
            try await Task.sleep(for: .milliseconds(20))
        }
    }
}

/// A group member as the dispatcher would run it: tracks next offsets and, on revocation, commits
/// the revoked partitions before letting them go.
private func runMember(_ consumer: KafkaConsumer, notebook: Notebook) async throws {
    var next: [KafkaTopicPartition: Int64] = [:]
    for await event in consumer.events {
        switch event {
        case .assigned(let partitions):
            notebook.record { $0.assignments.append(partitions) }
        case .message(let message):
            next[KafkaTopicPartition(topic: message.topic, partition: message.partition)] = message.offset + 1
            notebook.record { $0.messages.append(message) }
        case .revoked(let partitions):
            let offsets = next.filter { partitions.contains($0.key) }
            do {
                try await consumer.commit(offsets)
                notebook.record { $0.revokedCommits.append(offsets) }
            } catch {
                // The revocation while closing: the test has nothing left to commit.
                guard case .closed = error else { throw error }
            }
            consumer.revokeHandled()
        }
    }
}
