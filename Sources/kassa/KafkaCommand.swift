import ArgumentParser
import Kafka

struct KafkaCommand: AsyncParsableCommand {
    static let configuration = CommandConfiguration(commandName: "kafka", abstract: "Kafka administration.", subcommands: [CreateTopic.self])

    struct CreateTopic: AsyncParsableCommand {
        static let configuration = CommandConfiguration(commandName: "create-topic", abstract: "Create the job topic if it does not exist.")
        @OptionGroup var common: CommonOptions
        @Option(help: "Topic name.") var topic = "receipt-jobs"
        @Option(help: "Partitions.") var partitions: Int32 = 8

        func run() async throws {
            try await KafkaAdmin.createTopic(bootstrapServers: common.kafka, name: topic, partitions: partitions, timeout: .seconds(30))
            print("topic \(topic) ready (\(partitions) partitions)")
        }
    }
}
