import ArgumentParser
import Dispatcher
import Foundation
import Registry

struct DispatcherCommand: AsyncParsableCommand {
    static let configuration = CommandConfiguration(commandName: "dispatcher", abstract: "Fiscalize receipt jobs on the tenants' kassas.")

    @OptionGroup var common: CommonOptions
    @OptionGroup var kafkaOptions: KafkaPropertyOptions
    @Option(help: "This dispatcher's unique name (lease owner).") var name: String
    @Option(help: "The site this dispatcher runs in.") var site = "A"
    @Option(help: "Job topic.") var topic = "receipt-jobs"
    @Option(help: "Consumer group.") var group = "kassa-dispatchers"
    @Option(help: "Lease time to live, seconds.") var leaseTtl = 10.0
    @Option(help: "Seconds without an answer from the registry after which this dispatcher leaves the consumer group (rejoining once the registry answers); longer than a registry failover.")
    var leaveGroupAfter = 20.0
    @OptionGroup var pool: RegistryPoolOptions
    @Option(help: "Seconds a kassa may take to answer a sale before the receipt is in doubt.") var sellTimeout = 10.0
    @Option(help: "Reach another site's kassas through the WAN link: SITE=HOST:+PORT_SHIFT (repeatable).") var via: [String] = []
    @Option(help: "Seconds between reads of each idle kassa's status (to drain one about to fail).") var healthCheckInterval = 30.0
    @Option(help: "Drain a kassa whose FN has fewer documents left than this.") var drainDocumentsLeft: Int64 = 500
    @Option(help: "Drain a kassa with more documents than this waiting for the OFD.") var drainUndelivered: Int64 = 1000
    @Option(help: "Drain a kassa whose FN expires within this many hours.") var drainExpiryHours = 72.0
    @Option(help: "Queued receipts each tenant holds in memory per kassa; more wait in the registry until the queue drains.")
    var queueWindowPerKassa = 4
    @Flag(help: "DEBUG ONLY, breaks exactly-once: send a receipt in doubt elsewhere without reading the FN archive (for the checker's own drill).")
    var unsafeSkipReconcile = false

    func run() async throws {
        let logger = common.logger("kassa.dispatcher")
        let registry = try Registry(configuration: .init(connectionString: common.db, poolSize: pool.registryConnections), logger: logger)
        var configuration = DispatcherConfiguration(name: name, site: site, bootstrapServers: common.kafka)
        configuration.topic = topic
        configuration.groupID = group
        configuration.leaseTTL = .milliseconds(Int(leaseTtl * 1000))
        configuration.leaseRenewInterval = .milliseconds(Int(leaseTtl * 1000 / 3))
        configuration.sellTimeout = .milliseconds(Int(sellTimeout * 1000))
        configuration.unsafeSkipReconcile = unsafeSkipReconcile
        configuration.kafkaProperties = try kafkaOptions.parsed()
        guard leaveGroupAfter > leaseTtl else {
            throw ValidationError("--leave-group-after (\(leaveGroupAfter) s) must be longer than --lease-ttl (\(leaseTtl) s): a dispatcher leaves only once its leases have lapsed")
        }
        configuration.registryLossBeforeLeaving = .milliseconds(Int(leaveGroupAfter * 1000))
        guard healthCheckInterval > 0, drainDocumentsLeft >= 0, drainUndelivered >= 0, drainExpiryHours >= 0 else {
            throw ValidationError("--health-check-interval must be positive; the --drain-* limits at least 0")
        }
        guard queueWindowPerKassa >= 1 else { throw ValidationError("--queue-window-per-kassa \(queueWindowPerKassa): expected at least 1") }
        configuration.queueWindowPerKassa = queueWindowPerKassa
        configuration.healthCheckInterval = .milliseconds(Int(healthCheckInterval * 1000))
        configuration.drainRules.minDocumentsLeft = drainDocumentsLeft
        configuration.drainRules.maxUndelivered = drainUndelivered
        configuration.drainRules.minLifetimeLeft = .seconds(Int(drainExpiryHours * 3600))
        for text in via {
            do {
                let (site, route) = try SiteRoute.parse(text)
                configuration.siteRoutes[site] = route
            } catch {
                throw ValidationError("--via \(error)")
            }
        }
        if unsafeSkipReconcile {
            logger.critical("UNSAFE: --unsafe-skip-reconcile is on; receipts in doubt are resent without reading the FN archive, duplicates will happen")
        }
        let node = DispatcherNode(configuration: configuration, registry: registry, logger: logger)
        try await node.run()
        registry.close()
    }
}
