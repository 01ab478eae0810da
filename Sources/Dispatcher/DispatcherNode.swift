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
    /// The last time the registry answered a lease renewal (or a probe when no lease is held).
    private var lastRegistryContact: ContinuousClock.Instant = .now
    /// Set while this dispatcher leaves the consumer group because the registry is out of reach.
    private var leftGroup = false
    /// Jobs taken from the topic and waiting for admission, in topic order.
    private var pendingAdmissions: [PendingAdmission] = []
    /// The consume loop, waiting for room in `pendingAdmissions`.
    private var admissionSpace: [CheckedContinuation<Void, Never>] = []
    /// Wakes the admission task of the current membership.
    private var admissionDoorbell: AsyncStream<Void>.Continuation?
    /// Per assigned partition, which assignment it is (a revoked and re-assigned partition, or
    /// one assigned after this dispatcher left the group and rejoined, gets a new one), so a
    /// batch admitted across a rebalance or a leave drops what is no longer ours.
    private var assignments: [Int32: Int] = [:]
    private var assignmentCount = 0

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
        consumer = try makeConsumer()
        logger.info("dispatcher started", metadata: ["topic": "\(configuration.topic)", "group": "\(configuration.groupID)", "site": "\(configuration.site)"])
        let service = DispatcherService(node: self)
        let serviceGroup = ServiceGroup(services: [service], gracefulShutdownSignals: [.sigterm, .sigint], logger: logger)
        try await serviceGroup.run()
    }

    private func makeConsumer() throws(KafkaError) -> KafkaConsumer {
        var consumerConfiguration = KafkaConsumerConfiguration(bootstrapServers: configuration.bootstrapServers, groupID: configuration.groupID)
        consumerConfiguration.clientID = configuration.name
        consumerConfiguration.additional = configuration.kafkaProperties
        return try KafkaConsumer(configuration: consumerConfiguration, topics: [configuration.topic], logger: logger)
    }

    /// Serves the consumer group until shutdown. A dispatcher cut off from the registry for
    /// longer than a failover takes leaves the group (so dispatchers that can reach the registry
    /// take its partitions), waits until the registry answers again and then rejoins.
    func consume() async {
        while !Task.isCancelled {
            if consumer == nil {
                do {
                    consumer = try makeConsumer()
                    logger.notice("rejoining the consumer group")
                } catch {
                    logger.error("could not create the Kafka consumer, retrying", metadata: ["error": "\(error)"])
                    try? await Task.sleep(for: .seconds(1))
                    continue
                }
            }
            guard let consumer else { continue }
            await serve(consumer)
            guard leftGroup, !Task.isCancelled else { return }
            await waitForRegistry()
            self.consumer = nil
            leftGroup = false
        }
    }

    /// One membership: handles events until the consumer closes (shutdown or leaving).
    private func serve(_ consumer: KafkaConsumer) async {
        lastRegistryContact = .now
        let (doorbell, ring) = AsyncStream.makeStream(of: Void.self, bufferingPolicy: .bufferingNewest(1))
        admissionDoorbell = ring
        await withTaskGroup(of: Void.self) { tasks in
            tasks.addTask { await self.commitLoop() }
            tasks.addTask { await self.leaseLoop() }
            tasks.addTask {
                for await _ in doorbell { await self.admitPending() }
            }
            for await event in consumer.events {
                switch event {
                case .message(let message):
                    // While leaving, a job is not taken: its offset stays uncommitted and the
                    // partition's next owner gets it.
                    if !leftGroup { await handle(message) }
                case .assigned(let partitions):
                    for partition in partitions { assign(partition.partition) }
                    logger.info("partitions assigned", metadata: ["partitions": "\(partitions.map(\.partition))"])
                case .revoked(let partitions):
                    await revoke(partitions.map(\.partition))
                    consumer.revokeHandled()
                }
            }
            ring.finish()
            dropPendingAdmissions()
            tasks.cancelAll()
        }
    }

    @discardableResult
    private func assign(_ partition: Int32) -> Int {
        assignmentCount += 1
        assignments[partition] = assignmentCount
        return assignmentCount
    }

    /// Takes a message off the topic: decoded, it waits for admission (`admitPending`), so the
    /// consume loop never waits for the registry per message.
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
        // Messages follow their partition's `assigned` event; a partition without one counts as assigned now.
        let assignment = assignments[message.partition] ?? assign(message.partition)
        while pendingAdmissions.count >= Self.pendingAdmissionLimit {
            await withCheckedContinuation { admissionSpace.append($0) }
        }
        pendingAdmissions.append(PendingAdmission(job: job, partition: message.partition, offset: message.offset,
                                                  body: String(decoding: message.value, as: UTF8.self), assignment: assignment))
        admissionDoorbell?.yield()
    }

    /// Jobs taken from the topic, not yet admitted, at most this many (then the consume loop waits).
    static let pendingAdmissionLimit = 2000
    /// Jobs admitted in one registry statement, at most.
    static let admissionBatchLimit = 500

    /// Admits what is pending, a batch per statement (whatever arrived while the previous batch
    /// was on its way), and hands each job to its tenant's desk in topic order. A job already
    /// done or failed (redelivered) is skipped; a resent one's deadline counts from its resend.
    /// If the registry is away (a failover) the jobs go to their desks anyway, and writing the
    /// intent registers a job first (`Fiscalization.writeIntent`).
    private func admitPending() async {
        while !pendingAdmissions.isEmpty {
            let batch = Array(pendingAdmissions.prefix(Self.admissionBatchLimit))
            pendingAdmissions.removeFirst(batch.count)
            resumeAdmissionSpace()
            var admissions: [Registry.Admission?] = Array(repeating: nil, count: batch.count)
            do {
                admissions = try await registry.admitJobs(batch.map(\.admission)).map(Optional.some)
            } catch {
                logger.warning("registering jobs failed", metadata: ["jobs": "\(batch.count)", "error": "\(error)"])
            }
            // Left the group, or the partition was revoked (and maybe assigned again) meanwhile:
            // the partition's owner now gets these jobs from the topic. Checked per job: handing
            // one to its desk may suspend, and a rebalance may come then.
            for (pending, admission) in zip(batch, admissions) where assignments[pending.partition] == pending.assignment {
                var since = pending.job.acceptedAt
                if case .known(let status, let lastResentAt)? = admission {
                    if status != .wait {
                        watermark.durable(partition: pending.partition, offset: pending.offset)
                        continue
                    }
                    since = lastResentAt ?? pending.job.acceptedAt
                }
                let desk = await desk(for: pending.job, partition: pending.partition)
                await desk.submit(pending.job, offset: pending.offset, since: since, admitted: admission != nil)
            }
        }
    }

    private func resumeAdmissionSpace() {
        let waiting = admissionSpace
        admissionSpace.removeAll()
        for continuation in waiting { continuation.resume() }
    }

    /// Forgets jobs not yet admitted (their offsets stay uncommitted) and frees a waiting loop.
    private func dropPendingAdmissions(partitions: Set<Int32>? = nil) {
        if let partitions {
            pendingAdmissions.removeAll { partitions.contains($0.partition) }
        } else {
            pendingAdmissions.removeAll()
        }
        resumeAdmissionSpace()
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

    /// Renews every held lease in one statement and drops kassas whose lease is gone. While the
    /// registry does not answer it is asked every second, and past
    /// `configuration.registryLossBeforeLeaving` this dispatcher leaves the consumer group.
    private func leaseLoop() async {
        var pause = configuration.leaseRenewInterval
        while !Task.isCancelled, !leftGroup {
            try? await Task.sleep(for: pause)
            if Task.isCancelled { return }
            var held: [(kassaID: Int64, epoch: Int64)] = []
            for desk in desks.values { held += await desk.leases() }
            do {
                if held.isEmpty {
                    guard await registry.isReachable() else { throw RegistryError.connection("the registry does not answer") }
                } else {
                    let kept = try await registry.renewLeases(owner: configuration.name, leases: held, ttl: configuration.leaseTTL)
                    let gone = Set(held.map(\.kassaID)).subtracting(kept)
                    if !gone.isEmpty {
                        for desk in desks.values { await desk.lost(gone) }
                    }
                }
                lastRegistryContact = .now
                pause = configuration.leaseRenewInterval
            } catch {
                let silent = ContinuousClock.now - lastRegistryContact
                logger.warning("lease renewal failed", metadata: ["error": "\(error)", "registry_silent_s": "\(Int(silent.inSeconds))"])
                if silent > configuration.registryLossBeforeLeaving {
                    await leaveGroup(after: silent)
                    return
                }
                pause = .seconds(1)
                continue
            }
            for desk in desks.values where await desk.hasUnleased { await desk.acquireLeases() }
        }
    }

    /// Cut off from the registry (a partition: the other site still reaches it): nothing can be
    /// fiscalized here, since every intent and commit needs the registry, so hand the partitions
    /// to the group. Desks stop (their leases lapse; the registry fences them), what is durable
    /// is committed, and closing the consumer leaves the group at once.
    private func leaveGroup(after silent: Duration) async {
        leftGroup = true
        dropPendingAdmissions()
        assignments.removeAll()
        logger.error("registry unreachable: leaving the consumer group so that other dispatchers take the partitions", metadata: [
            "registry_silent_s": "\(Int(silent.inSeconds))",
            "limit_s": "\(Int(configuration.registryLossBeforeLeaving.inSeconds))",
        ])
        // Nothing running can finish without the registry, so no wait for it either: a job in
        // flight has no committed offset and its partition's next owner takes it up.
        await stop(Array(desks.values), cutOff: true)
        desks.removeAll()
        tenantsOf.removeAll()
        await commitDurable()
        await consumer?.close()
        watermark = OffsetWatermark()
    }

    /// Waits (asking every second) until the registry answers again.
    private func waitForRegistry() async {
        let since = ContinuousClock.now
        while !Task.isCancelled {
            if await registry.isReachable() {
                logger.notice("registry reachable again", metadata: ["after_s": "\(Int((ContinuousClock.now - since).inSeconds))"])
                return
            }
            try? await Task.sleep(for: .seconds(1))
        }
    }

    /// Partitions leave: stop their desks, wait for running receipts, commit, release leases.
    private func revoke(_ partitions: [Int32]) async {
        logger.info("partitions revoked", metadata: ["partitions": "\(partitions)"])
        for partition in partitions { assignments[partition] = nil }
        dropPendingAdmissions(partitions: Set(partitions))
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

    /// Stops desks, waits (bounded) for their running receipts, releases their leases; not when
    /// `cutOff` from the registry, which neither could reach.
    private func stop(_ stopping: [TenantDesk], cutOff: Bool = false) async {
        var release: [Int64] = []
        for desk in stopping { release += await desk.stop() }
        if cutOff { return }
        let deadline = ContinuousClock.now + configuration.sellTimeout + .seconds(2)
        for desk in stopping {
            while await desk.busyCount > 0, ContinuousClock.now < deadline {
                try? await Task.sleep(for: .milliseconds(20))
            }
        }
        if !release.isEmpty {
            _ = try? await registry.releaseLeases(owner: configuration.name, kassaIDs: release)
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
        await cancelWhenGracefulShutdown {
            await node.consume()
        }
        await node.shutdown()
    }
}

/// A job taken from the topic, waiting to be admitted (registered) in the next batch.
struct PendingAdmission: Sendable {
    var job: ReceiptJob
    var partition: Int32
    var offset: Int64
    var body: String
    /// Which assignment of the partition it came in (`DispatcherNode.assignments`).
    var assignment: Int

    var admission: Registry.JobAdmission {
        Registry.JobAdmission(uuid: job.uuid, tenantID: job.tenantID, groupCode: job.groupCode, externalID: job.externalID,
                              operation: job.operation.rawValue, acceptedAt: job.acceptedAt, callbackURL: job.callbackURL, body: body)
    }
}
