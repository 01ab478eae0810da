import Foundation
import HTTPTypes
import Hummingbird
import KassaModel
import Logging
import ServiceLifecycle

/// Settings of one ingress node.
public struct IngressConfiguration: Sendable {
    public var host: String
    public var port: Int
    /// ATOL's path prefix, kept so clients only change the host.
    public var basePath: String = "/possystem/v4"
    /// How long readiness fails before the listener closes, so load balancers stop sending first.
    public var drainDelay: Duration = .seconds(2)
    /// How long the producer may take to deliver what is queued at shutdown.
    public var flushTimeout: Duration = .seconds(15)
    /// Serve `POST /bench/noop`: reads the body and answers like an accepted receipt without
    /// touching the registry or Kafka, so a benchmark can measure this server's HTTP limit.
    public var benchEndpoint = false

    public init(host: String = "127.0.0.1", port: Int = 8080) {
        self.host = host
        self.port = port
    }
}

/// One stateless ingress node: the HTTP API, health endpoints, and graceful drain on SIGTERM.
///
/// Shutdown order (ServiceGroup stops services in reverse): the drain gate fails readiness and
/// waits `drainDelay`; the HTTP server stops accepting and finishes in-flight requests; the
/// producer flushes. So every receipt answered "wait" is in Kafka before the process exits.
public struct IngressNode: Sendable {
    let configuration: IngressConfiguration
    let api: ReceiptAPI
    let drain = DrainState()

    public init(configuration: IngressConfiguration, signer: TokenSigner, registry: any IngressRegistry,
                publisher: any JobPublisher, logger: Logger) {
        self.configuration = configuration
        // Resend reopens jobs in the registry and publishes them with this node's producer.
        let resend = registry.resendStore.map { ResendDesk(store: $0, publisher: publisher, logger: logger) }
        self.api = ReceiptAPI(signer: signer, registry: registry, publisher: publisher, resend: resend, logger: logger)
    }

    func router() -> Router<BasicRequestContext> {
        let router = Router()
        router.get("/livez") { _, _ in ATOLResponse.json(.ok, ["status": "alive"]) }
        router.get("/readyz") { _, _ in await self.readiness() }
        api.register(on: router, base: configuration.basePath)
        if configuration.benchEndpoint {
            router.post("/bench/noop") { request, _ in
                var request = request
                _ = try await request.collectBody(upTo: 512 * 1024)
                return ATOLResponse.registered(uuid: UUID(), duplicate: false)
            }
        }
        return router
    }

    func readiness() async -> Response {
        let draining = drain.isDraining
        let producer = api.publisher.isConnected
        let registry = draining ? false : await api.registry.isReachable()
        let ready = !draining && producer && registry
        return ATOLResponse.json(ready ? .ok : .serviceUnavailable, [
            "ready": .bool(ready), "draining": .bool(draining), "producer_connected": .bool(producer), "registry_reachable": .bool(registry),
        ])
    }

    /// Serves until SIGTERM or SIGINT, then drains and returns.
    public func run(onListening: @escaping @Sendable (Int) async -> Void = { _ in }) async throws {
        let logger = api.logger
        let app = Application(
            router: router(),
            configuration: .init(address: .hostname(configuration.host, port: configuration.port), serverName: "kassa-ingress"),
            onServerRunning: { channel in await onListening(channel.localAddress?.port ?? 0) },
            logger: logger
        )
        let group = ServiceGroup(
            configuration: .init(
                services: [
                    .init(service: ProducerFlush(publisher: api.publisher, timeout: configuration.flushTimeout, logger: logger)),
                    .init(service: app),
                    .init(service: DrainGate(state: drain, delay: configuration.drainDelay, logger: logger)),
                ],
                gracefulShutdownSignals: [.sigterm, .sigint],
                logger: logger
            )
        )
        try await group.run()
    }
}

/// Fails readiness as soon as shutdown begins, then gives load balancers `delay` to notice.
struct DrainGate: Service {
    let state: DrainState
    let delay: Duration
    let logger: Logger

    func run() async throws {
        try? await gracefulShutdown()
        state.beginDraining()
        logger.info("draining: readiness now fails", metadata: ["delay": "\(delay)"])
        // Not synchronization: this is the grace period the load balancer's health check needs.
        try? await Task.sleep(for: delay)
    }
}

/// Flushes the producer when the HTTP server has finished its in-flight requests.
struct ProducerFlush: Service {
    let publisher: any JobPublisher
    let timeout: Duration
    let logger: Logger

    func run() async throws {
        try? await gracefulShutdown()
        let delivered = await publisher.flush(timeout: timeout)
        logger.info("producer flushed", metadata: ["all_delivered": "\(delivered)"])
    }
}
