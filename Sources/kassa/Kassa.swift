import ArgumentParser
import Foundation
import Logging

/// The one executable: argument parsing and wiring, nothing else.
@main
struct Kassa: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "kassa",
        abstract: "A cloud kassa service: ATOL-compatible ingress, Kafka, dispatchers, kassa modules.",
        subcommands: [
            IngressCommand.self, DispatcherCommand.self, EmulatorCommand.self, RegistryCommand.self,
            KafkaCommand.self, LoadCommand.self,
            ResendCommand.self, ChaosCommand.self, WANLinkCommand.self,
        ]
    )
}

/// librdkafka properties given on the command line as `KEY=VALUE`, for tuning a process's
/// Kafka client without a new release (applied after the built-in settings).
struct KafkaPropertyOptions: ParsableArguments {
    @Option(name: .customLong("kafka-property"), help: "A librdkafka property for this process's Kafka client, KEY=VALUE (repeatable), applied after the built-in ones.")
    var kafkaProperties: [String] = []

    func parsed() throws -> [String: String] {
        var properties: [String: String] = [:]
        for text in kafkaProperties {
            let parts = text.split(separator: "=", maxSplits: 1).map(String.init)
            guard parts.count == 2, !parts[0].isEmpty, !parts[1].isEmpty else {
                throw ValidationError("--kafka-property \(text): expected KEY=VALUE, e.g. linger.ms=5")
            }
            properties[parts[0]] = parts[1]
        }
        return properties
    }
}

/// The size of a server command's registry connection pool.
struct RegistryPoolOptions: ParsableArguments {
    @Option(help: "Registry connections per pool: statements that can run at once (with the registry a WAN round trip away, throughput is connections / round trip). The ingress has a pool for --db and one for --db-reads.")
    var registryConnections = 16

    func validate() throws {
        guard registryConnections >= 1 else {
            throw ValidationError("--registry-connections \(registryConnections): expected at least 1")
        }
    }
}

/// Options every server command shares.
struct CommonOptions: ParsableArguments {
    @Option(help: "libpq connection string of the registry (env KASSA_DB).")
    var db: String = ProcessInfo.processInfo.environment["KASSA_DB"] ?? "host=127.0.0.1 port=5432 dbname=kassa user=postgres"

    @Option(help: "Kafka bootstrap servers (env KASSA_KAFKA).")
    var kafka: String = ProcessInfo.processInfo.environment["KASSA_KAFKA"] ?? "127.0.0.1:9092"

    @Option(help: "Log level: trace, debug, info, notice, warning, error, critical (env LOG_LEVEL).")
    var logLevel: String = ProcessInfo.processInfo.environment["LOG_LEVEL"] ?? "info"

    func logger(_ label: String) -> Logger {
        Self.logger(label, level: logLevel)
    }

    static func logger(_ label: String, level: String) -> Logger {
        LoggingSystem.bootstrap { StreamLogHandler.standardError(label: $0) }
        var logger = Logger(label: label)
        logger.logLevel = Logger.Level(rawValue: level) ?? .info
        return logger
    }
}
