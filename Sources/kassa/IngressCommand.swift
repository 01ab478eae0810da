import ArgumentParser
import Foundation
import Ingress
import Kafka
import Registry

struct IngressCommand: AsyncParsableCommand {
    static let configuration = CommandConfiguration(commandName: "ingress", abstract: "Serve the ATOL v4 compatible receipt API.")

    @OptionGroup var common: CommonOptions
    @OptionGroup var kafkaOptions: KafkaPropertyOptions
    @Option(help: "Address to listen on.") var host = "127.0.0.1"
    @Option(help: "Port to listen on.") var port = 8080
    @Option(help: "Job topic.") var topic = "receipt-jobs"
    @Option(help: "File holding the token signing secret shared by all ingress nodes.") var tokenSecretFile: String
    @Option(help: "Seconds readiness fails before the listener closes on SIGTERM.") var drainDelay = 2.0
    @Option(help: "Registry for reads (tokens, duplicate checks, reports), e.g. this site's replica first; default: --db.")
    var dbReads: String?
    @OptionGroup var pool: RegistryPoolOptions
    @Flag(help: "Also serve POST /bench/noop (the HTTP limit benchmarks compare against).") var benchEndpoint = false

    func run() async throws {
        let logger = common.logger("kassa.ingress")
        guard let secret = FileManager.default.contents(atPath: tokenSecretFile), secret.count >= 16 else {
            throw ValidationError("--token-secret-file \(tokenSecretFile): expected a readable file of at least 16 bytes")
        }
        let registry = try Registry(configuration: .init(connectionString: common.db, poolSize: pool.registryConnections), logger: logger)
        let reads = try dbReads.map { try Registry(configuration: .init(connectionString: $0, poolSize: pool.registryConnections), logger: logger) }
        var producerConfiguration = KafkaProducerConfiguration(bootstrapServers: common.kafka)
        producerConfiguration.clientID = "ingress-\(port)"
        // Answer the client within seconds: a job Kafka cannot take in 10 s gets a 503.
        producerConfiguration.messageTimeoutMilliseconds = 10_000
        producerConfiguration.additional = try kafkaOptions.parsed()
        let producer = try KafkaProducer(configuration: producerConfiguration, logger: logger)
        var configuration = IngressConfiguration(host: host, port: port)
        configuration.drainDelay = .milliseconds(Int(drainDelay * 1000))
        configuration.benchEndpoint = benchEndpoint
        let node = IngressNode(
            configuration: configuration,
            signer: TokenSigner(secret: Array(secret)),
            registry: RegistryReads(registry: reads ?? registry, primary: registry),
            publisher: KafkaJobPublisher(producer: producer, topic: topic),
            logger: logger
        )
        try await node.run { port in logger.info("ingress listening", metadata: ["address": "http://\(host):\(port)"]) }
        await producer.close()
        reads?.close()
        registry.close()
        logger.info("ingress stopped")
    }
}
