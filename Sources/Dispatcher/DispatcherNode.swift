import Foundation
import Kafka
import KassaModel
import Logging
import NIOCore
import NIOPosix
import Registry
import ServiceLifecycle

/// One dispatcher process: a member of the job topic's consumer group. Per tenant it runs a
/// `TenantDesk`; it commits offsets only up to the lowest job not yet durable, renews all its
/// leases in one statement per heartbeat, and hands partitions over cleanly on rebalance.
public actor DispatcherNode {
    private let configuration: DispatcherConfiguration
    private let registry: Registry
    private let logger: Logger
    private let group: any EventLoopGroup
    private var consumer: KafkaConsumer?
    private var watermark = OffsetWatermark()
    private var desks: [String: TenantDesk] = [:]
    private var tenantsOf: [Int32: Set<String>] = [:]

    public init(configuration: DispatcherConfiguration, registry: Registry, logger: Logger) {
        self.configuration = configuration
        self.registry = registry
        var logger = logger
        logger[metadataKey: "dispatcher"] = "\(configuration.name)"
        self.logger = logger
        self.group = MultiThreadedEventLoopGroup.singleton
    }

    /// Runs until SIGTERM or SIGINT; then stops taking jobs, lets running receipts finish,
    /// commits what is durable and releases its leases.
    public func run() async throws {
        var consumerConfiguration = KafkaConsumerConfiguration(bootstrapServers: configuration.bootstrapServers, groupID: configuration.groupID)
        consumerConfiguration.clientID = configuration.name
        let consumer = try KafkaConsumer(configuration: consumerConfiguration, topics: [configuration.topic], logger: logger)
        self.consumer = consumer
        logger.info("dispatcher started", metadata: ["topic": "\(configuration.topic)", "group": "\(configuration.groupID)", "site": "\(configuration.site)"])
        let service = DispatcherService(node: self)
        let serviceGroup = ServiceGroup(services: [service], gracefulShutdownSignals: [.sigterm, .sigint], logger: logger)
        try await serviceGroup.run()
    }

    func consume() async {
        guard let consumer else { return }
        await withTaskGroup(of: Void.self) { tasks in
            tasks.addTask { await self.commitLoop() }
            tasks.addTask { await self.leaseLoop() }
            for await event in consumer.events {
                switch event {
                case .message(let message):
                    await handle(message)
                case .assigned(let partitions):
                    logger.info("partitions assigned", metadata: ["partitions": "\(partitions.map(\.partition))"])
                case .revoked(let partitions):
                    await revoke(partitions.map(\.partition))
                    consumer.revokeHandled()
                }
            }
            tasks.cancelAll()
        }
    }

    private func handle(_ message: KafkaMessage) async {
        watermark.consumed(partition: message.partition, offset: message.offset)
        let job: ReceiptJob
        do {
            job = try ReceiptJob.decode(message.value)
        } catch {
            // Not ours to fiscalize; never block the partition on it.
            logger.error("undecodable job skipped", metadata: ["partition": "\(message.partition)", "offset": "\(message.offset)", "error": "\(error)"])
            watermark.durable(partition: message.partition, offset: message.offset)
            return
        }
        var since = job.acceptedAt
        do {
            let admission = try await registry.admitJob(uuid: job.uuid, tenantID: job.tenantID, groupCode: job.groupCode, externalID: job.externalID,
                                                        operation: job.operation.rawValue, acceptedAt: job.acceptedAt, callbackURL: job.callbackURL,
                                                        body: String(decoding: message.value, as: UTF8.self))
            if case .known(let status, let lastResentAt) = admission {
                if status != .wait {
                    // A redelivered job whose outcome exists: skip it.
                    watermark.durable(partition: message.partition, offset: message.offset)
                    return
                }
                // A resent job's deadline counts from its resend.
                since = lastResentAt ?? job.acceptedAt
            }
        } catch {
            // The registry is away (a failover): the job goes to its desk anyway, and writing
            // its intent registers it first (`Fiscalization.writeIntent`).
            logger.warning("registering job failed", metadata: ["job": "\(job.uuid)", "error": "\(error)"])
        }
        let desk = await desk(for: job, partition: message.partition)
        await desk.submit(job, offset: message.offset, since: since)
    }

    private func desk(for job: ReceiptJob, partition: Int32) async -> TenantDesk {
        if let desk = desks[job.groupCode] { return desk }
        let desk = TenantDesk(tenantID: job.tenantID, groupCode: job.groupCode, partition: partition, registry: registry,
                              configuration: configuration, group: group, logger: logger) { [weak self] partition, offset in
            guard let self else { return }
            Task { await self.durable(partition: partition, offset: offset) }
        }
        desks[job.groupCode] = desk
        tenantsOf[partition, default: []].insert(job.groupCode)
        await desk.start()
        return desk
    }

    private func durable(partition: Int32, offset: Int64) {
        watermark.durable(partition: partition, offset: offset)
    }

    private func commitLoop() async {
        while !Task.isCancelled {
            try? await Task.sleep(for: configuration.commitInterval)
            await commitDurable()
        }
    }

    private func commitDurable() async {
        let offsets = watermark.takeCommits()
        guard !offsets.isEmpty, let consumer else { return }
        var request: [KafkaTopicPartition: Int64] = [:]
        for (partition, offset) in offsets { request[KafkaTopicPartition(topic: configuration.topic, partition: partition)] = offset }
        do {
            try await consumer.commit(request)
        } catch {
            logger.warning("offset commit failed", metadata: ["error": "\(error)"])
        }
    }

    /// Renews every held lease in one statement and drops kassas whose lease is gone.
    private func leaseLoop() async {
        while !Task.isCancelled {
            try? await Task.sleep(for: configuration.leaseRenewInterval)
            var held: [(kassaID: Int64, epoch: Int64)] = []
            for desk in desks.values { held += await desk.leases() }
            if !held.isEmpty {
                do {
                    let kept = try await registry.renewLeases(owner: configuration.name, leases: held, ttl: configuration.leaseTTL)
                    let gone = Set(held.map(\.kassaID)).subtracting(kept)
                    if !gone.isEmpty {
                        for desk in desks.values { await desk.lost(gone) }
                    }
                } catch {
                    logger.warning("lease renewal failed", metadata: ["error": "\(error)"])
                }
            }
            for desk in desks.values where await desk.hasUnleased { await desk.acquireLeases() }
        }
    }

    /// Partitions leave: stop their desks, wait for running receipts, commit, release leases.
    private func revoke(_ partitions: [Int32]) async {
        logger.info("partitions revoked", metadata: ["partitions": "\(partitions)"])
        var stopping: [(String, TenantDesk)] = []
        for partition in partitions {
            for code in tenantsOf.removeValue(forKey: partition) ?? [] {
                if let desk = desks.removeValue(forKey: code) { stopping.append((code, desk)) }
            }
        }
        await stop(stopping.map(\.1))
        await commitDurable()
        for partition in partitions { watermark.forget(partition: partition) }
    }

    /// Stops desks, waits (bounded) for their running receipts, releases their leases.
    private func stop(_ stopping: [TenantDesk]) async {
        var release: [Int64] = []
        for desk in stopping { release += await desk.stop() }
        let deadline = ContinuousClock.now + configuration.sellTimeout + .seconds(2)
        for desk in stopping {
            while await desk.busyCount > 0, ContinuousClock.now < deadline {
                try? await Task.sleep(for: .milliseconds(20))
            }
        }
        if !release.isEmpty {
            try? await registry.releaseLeases(owner: configuration.name, kassaIDs: release)
        }
    }

    func shutdown() async {
        logger.info("dispatcher stopping")
        await stop(Array(desks.values))
        desks.removeAll()
        await commitDurable()
        await consumer?.close()
        logger.info("dispatcher stopped")
    }
}

/// Runs the consume loop until graceful shutdown, then stops the node cleanly.
struct DispatcherService: Service {
    let node: DispatcherNode

    func run() async throws {
        try? await cancelWhenGracefulShutdown {
            await node.consume()
        }
        await node.shutdown()
    }
}
