import DequeModule
import Foundation
import KassaModel
import KassaWire
import Logging
import NIOCore
import Registry

/// One tenant's receipts on one dispatcher: a queue of jobs and the tenant's leased kassas,
/// running receipts in parallel across kassas, one receipt at a time per kassa.
actor TenantDesk {
    typealias Queued = ReceiptQueue.Queued

    /// A class, not a struct: `pump` looks over every slot for each receipt, and copying a slot
    /// (its record's strings, its kassa) cost a tenth of a dispatcher's CPU at K = 2,304.
    private final class Slot {
        let record: KassaRecord
        let kassa: LeasedKassa
        var busy = false
        var restUntil: ContinuousClock.Instant?
        var used = 0
        /// The job whose intent is unresolved on this kassa, with the offsets waiting on it.
        var inDoubt: UUID?
        /// Why the kassa takes no receipts for now (its FN or OFD link), from its last status.
        var drained: DrainReason?
        var lastHealthCheck: ContinuousClock.Instant?

        init(record: KassaRecord, kassa: LeasedKassa) {
            self.record = record
            self.kassa = kassa
        }
    }

    let tenantID: Int64
    let groupCode: String
    let partition: Int32
    private let registry: Registry
    private let fiscalization: Fiscalization
    private let configuration: DispatcherConfiguration
    private let group: any EventLoopGroup
    private let logger: Logger
    private let onDurable: @Sendable (Int32, Int64) -> Void

    private var slots: [Int64: Slot] = [:]
    /// Jobs waiting for a kassa: a window held whole, the rest by uuid (see `ReceiptQueue`).
    private var queue = ReceiptQueue()
    /// Jobs queued, running or in doubt here, so a redelivered copy is not run twice.
    private var known: Set<UUID> = []
    /// The job bodies of those, to requeue a job whose intent turned out to have no document.
    private var bodies: [UUID: ReceiptJob] = [:]
    /// Offsets of duplicates (and of redelivered in-doubt jobs) waiting for the original's outcome.
    private var waiting: [UUID: [Int64]] = [:]
    private var unleased: [KassaRecord] = []
    private var stopped = false
    private var defaultSNO = "osn"
    private var policy = TenantPolicy.default
    /// When each known job's deadline started counting (acceptance, or its last resend).
    private var deadlineStart: [UUID: Date] = [:]
    /// Jobs flagged late in the registry already.
    private var flaggedLate: Set<UUID> = []
    /// Jobs resent to another kassa while in doubt (resend-and-annul) → the kassa they are in doubt on.
    private var resentFromDoubt: [UUID: Int64] = [:]
    /// Jobs in doubt on a kassa this desk does not hold (a previous owner's intent): they wait
    /// for that intent to be reconciled and are tried again on every sweep.
    private var parked: [UUID: Queued] = [:]
    /// Assemblies and racks with several recent failures: their kassas wait for a probe.
    private var suspects = SuspectDomains()

    init(tenantID: Int64, groupCode: String, partition: Int32, registry: Registry, configuration: DispatcherConfiguration,
         group: any EventLoopGroup, logger: Logger, onDurable: @escaping @Sendable (Int32, Int64) -> Void) {
        self.tenantID = tenantID
        self.groupCode = groupCode
        self.partition = partition
        self.registry = registry
        self.configuration = configuration
        self.group = group
        var logger = logger
        logger[metadataKey: "tenant"] = "\(groupCode)"
        self.logger = logger
        self.fiscalization = Fiscalization(registry: registry, configuration: configuration, logger: logger)
        self.onDurable = onDurable
    }

    /// Leases the tenant's kassas and reconciles any intent left by a previous owner before the
    /// kassa is used: a job in doubt blocks only its kassa.
    func start() async {
        await loadKassas()
        await acquireLeases()
        await loadPendingAnnulments()
        startSweeps()
    }

    /// Set until the tenant's kassas and pending refunds were read: a desk that starts while
    /// the registry is away (a failover during a rebalance) tries again every sweep instead of
    /// running without kassas.
    private var kassasLoaded = false
    private var annulmentsLoaded = false

    private func loadKassas() async {
        do {
            if let tenant = try await registry.tenant(id: tenantID) {
                defaultSNO = tenant.sno.first ?? "osn"
                policy = tenant.policy
            }
            // Drained kassas are leased too: their status is still read, and one whose OFD
            // backlog cleared takes receipts again.
            unleased = try await registry.kassas(tenantID: tenantID).filter { $0.state == .active || $0.state == .drained }
            kassasLoaded = true
        } catch {
            logger.error("could not load kassas; trying again", metadata: ["error": "\(error)"])
        }
    }

    /// Refunds for duplicates a previous owner put on record but did not get to fiscalize.
    private func loadPendingAnnulments() async {
        do {
            for (annulment, body) in try await registry.pendingAnnulments(tenantID: tenantID) {
                do {
                    enqueueRefund(try ReceiptJob.decode(Array(body.utf8)))
                } catch {
                    logger.error("undecodable refund job", metadata: ["job": "\(annulment.annulJobUUID)", "error": "\(error)"])
                }
            }
            annulmentsLoaded = true
        } catch {
            logger.warning("could not load pending annulments; trying again", metadata: ["error": "\(error)"])
        }
    }

    /// Retries what `start` could not read.
    private func loadWhatIsMissing() async {
        if !kassasLoaded {
            await loadKassas()
            if kassasLoaded { await acquireLeases() }
        }
        if !annulmentsLoaded { await loadPendingAnnulments() }
    }

    private func startSweeps() {
        let sweepEvery = min(Duration.seconds(1), policy.deadline / 10)
        Task { [weak self] in
            var lastRefresh = ContinuousClock.now
            while let self, await !self.isStopped {
                try? await Task.sleep(for: sweepEvery)
                await self.sweepDeadlines()
                await self.loadWhatIsMissing()
                await self.probeSuspects()
                await self.checkHealth()
                // The tenant may change its policy at any time; it applies within seconds.
                if ContinuousClock.now - lastRefresh >= Self.policyRefreshInterval {
                    lastRefresh = .now
                    await self.refreshPolicy()
                }
            }
        }
    }

    /// Tries to lease every kassa not yet leased; those held by another dispatcher are retried later.
    func acquireLeases() async {
        guard !stopped else { return }
        var still: [KassaRecord] = []
        for record in unleased {
            guard let lease = try? await registry.acquireLease(kassaID: record.id, owner: configuration.name, ttl: configuration.leaseTTL) else {
                still.append(record)
                continue
            }
            let address = configuration.dialAddress(site: record.site, address: record.address)
            let session = KassaSession(address: address, epoch: lease.epoch, group: group, connectTimeout: configuration.connectTimeout)
            let kassa = LeasedKassa(record: record, epoch: lease.epoch, session: session, defaultSNO: defaultSNO)
            let slot = Slot(record: record, kassa: kassa)
            // Until its first status says otherwise.
            if record.state == .drained { slot.drained = .ofdBacklog(undelivered: 0) }
            if let intent = try? await registry.intent(kassaID: record.id) {
                slot.inDoubt = intent.jobUUID
                slot.busy = true
                known.insert(intent.jobUUID)
                slots[record.id] = slot
                reconcile(PendingIntent(jobUUID: intent.jobUUID, lastDocumentNumber: intent.lastDocumentNumber), on: kassa)
            } else {
                slots[record.id] = slot
            }
            logger.debug("leased kassa", metadata: ["kassa": "\(record.id)", "epoch": "\(lease.epoch)"])
        }
        unleased = still
        pump()
    }

    /// The kassas leased here and their epochs, for the batched renewal.
    func leases() -> [(kassaID: Int64, epoch: Int64)] {
        slots.values.map { ($0.kassa.id, $0.kassa.epoch) }
    }

    /// Leases the renewal found gone: stop using those kassas.
    func lost(_ ids: Set<Int64>) {
        for id in ids {
            guard let slot = slots.removeValue(forKey: id) else { continue }
            logger.warning("lease lost", metadata: ["kassa": "\(id)"])
            unleased.append(slot.record)
        }
    }

    var hasUnleased: Bool { !unleased.isEmpty }

    /// A job from the topic. Duplicates of a job queued, running or in doubt here wait for it.
    /// - Parameters:
    ///   - since: when its deadline started counting (acceptance, or its last resend).
    ///   - admitted: the registry has the job with its body, so past the queue's window it
    ///     need not be held in memory.
    func submit(_ job: ReceiptJob, offset: Int64, since: Date, admitted: Bool) {
        if known.contains(job.uuid) {
            waiting[job.uuid, default: []].append(offset)
            if bodies[job.uuid] == nil { bodies[job.uuid] = job }
            return
        }
        known.insert(job.uuid)
        deadlineStart[job.uuid] = since
        let wasSpilling = queue.isSpilling
        if !queue.append(Queued(job: job, offset: offset), admitted: admitted, window: window) {
            bodies[job.uuid] = job
        } else if !wasSpilling {
            // Not held: its body is the registry's until the window drains.
            logger.notice("queue longer than its window: further receipts wait in the registry", metadata: [
                "window": "\(window)", "queued": "\(queue.count)",
            ])
        }
        pump()
    }

    /// How many jobs the queue holds whole: enough to keep every kassa busy through a read-back.
    private var window: Int {
        configuration.queueWindowPerKassa * max(1, slots.count + unleased.count)
    }

    /// A refund that annuls a duplicate document: it runs like any receipt, without an offset.
    private func enqueueRefund(_ refund: ReceiptJob) {
        guard !known.contains(refund.uuid) else { return }
        known.insert(refund.uuid)
        bodies[refund.uuid] = refund
        queue.append(Queued(job: refund, offset: nil), admitted: false, window: window)
        logger.info("annulling a duplicate document", metadata: ["refund": "\(refund.uuid)", "job": "\(refund.annuls.map { "\($0)" } ?? "-")"])
        pump()
    }

    // MARK: Deadlines

    static let policyRefreshInterval = Duration.seconds(5)
    /// How long a receipt waits before trying again when the registry could not be reached.
    static let registryRetryDelay = Duration.milliseconds(500)

    private func refreshPolicy() async {
        guard let tenant = try? await registry.tenant(id: tenantID), tenant.policy != policy else { return }
        logger.info("tenant policy changed", metadata: ["in_doubt": "\(tenant.policy.inDoubt.name)", "deadline": "\(tenant.policy.deadline)",
                                                        "deadline_action": "\(tenant.policy.deadlineAction.rawValue)"])
        policy = tenant.policy
    }

    /// Flags jobs past the tenant's deadline as late, or fails those still queued when the
    /// tenant chose `fail` (never one that may be in a kassa: running or in doubt).
    private func sweepDeadlines() {
        guard !stopped else { return }
        let now = Date()
        let limit = policy.deadline.inSeconds
        func late(_ uuid: UUID) -> Bool {
            deadlineStart[uuid].map { now.timeIntervalSince($0) > limit } ?? false
        }
        if policy.deadlineAction == .fail {
            let expired = queue.removeExpired(held: { $0.job.annuls == nil && !$0.resend && !$0.mayBeFiscalized && late($0.job.uuid) },
                                              spilled: late)
            for item in expired.held {
                Task { if await !self.expire(item.job.uuid, offset: item.offset) { self.requeue(item) } }
            }
            for item in expired.spilled {
                Task { if await !self.expire(item.uuid, offset: item.offset) { self.queue.respill(item) } }
            }
        }
        // Parked jobs try again: writing the intent tells whether the other kassa is reconciled.
        if !parked.isEmpty {
            for item in parked.values { queue.append(item, admitted: false, window: window) }
            parked.removeAll()
            pump()
        }
        for uuid in known where !flaggedLate.contains(uuid) && late(uuid) {
            flaggedLate.insert(uuid)
            let registry = self.registry
            Task { _ = try? await registry.markLate(jobUUID: uuid) }
        }
    }

    /// Fails a queued job with ATOL's queue timeout; it can be re-sent later. False when the
    /// registry could not be told (the job goes back to the queue).
    private func expire(_ uuid: UUID, offset: Int64?) async -> Bool {
        logger.warning("receipt past the tenant's deadline: failing it", metadata: ["job": "\(uuid)"])
        do {
            try await registry.failJob(jobUUID: uuid, kassaID: nil, epoch: nil, code: 1, type: "timeout",
                                       text: "Превышено время ожидания чека в очереди")
            done(uuid, offset: offset)
            return true
        } catch {
            return false
        }
    }

    private func requeue(_ item: Queued) {
        queue.prepend(item)
        pump()
    }

    /// Matches queued jobs with free kassas.
    private func pump() {
        guard !stopped else { return }
        let now = ContinuousClock.now
        // Kassas of a suspect assembly or rack wait for a probe, unless the tenant has no others.
        let avoidSuspects = slots.values.contains { !suspects.isSuspect($0.kassa.candidateBase) }
        defer { readBackIfLow() }
        while !queue.held.isEmpty {
            let free = slots.values.filter {
                !$0.busy && $0.drained == nil && ($0.restUntil.map { $0 <= now } ?? true)
                    && !(avoidSuspects && suspects.isSuspect($0.kassa.candidateBase))
            }
            guard !free.isEmpty else { return }
            let head = queue.held[0]
            let candidates = free.map { slot -> KassaCandidate in
                var c = slot.kassa.candidateBase
                c.used = slot.used
                return c
            }
            guard let choice = KassaChoice.pick(from: candidates, failedOn: head.failedOn), let slot = slots[choice.id] else {
                // Every free kassa already failed this job: let it wait for another.
                if let index = queue.held.indices.dropFirst().first(where: { i in
                    KassaChoice.pick(from: candidates, failedOn: queue.held[i].failedOn) != nil
                }) {
                    queue.swapHeld(0, index)
                    continue
                }
                return
            }
            _ = queue.removeFirst()
            slot.busy = true
            slot.used += 1
            let kassa = slot.kassa
            Task { await self.run(head, on: kassa) }
        }
    }

    /// Runs receipts on one kassa, one after another, for as long as the queue has one ready
    /// for it when the last one's commit goes out: that commit carries the next one's intent.
    private nonisolated func run(_ first: Queued, on kassa: LeasedKassa) async {
        var item = first
        var intentWritten = false
        while true {
            let outcome: AttemptOutcome
            var next: (item: Queued, intent: NextIntent)?
            switch await fiscalization.sell(item.job, on: kassa, resend: item.resend, intentWritten: intentWritten) {
            case .over(let over):
                outcome = over
            case .document(let document):
                let taken = await takeNext(for: kassa)
                let (recorded, nextIntent) = await fiscalization.record(document, job: item.job.uuid, body: item.job, on: kassa,
                                                                           thenIntent: taken?.job.uuid)
                outcome = recorded
                next = taken.map { ($0, nextIntent) }
            }
            guard let following = await finished(item, on: kassa, outcome: outcome, next: next) else { return }
            item = following
            intentWritten = true
        }
    }

    /// The next receipt for a kassa about to commit one, if the head of the queue may go there
    /// now: one that failed nowhere (a retry is placed by `pump`, away from where it failed), on
    /// a kassa that is ours, taking receipts, not suspect and not due for its health check.
    private func takeNext(for kassa: LeasedKassa) -> Queued? {
        guard !stopped, holds(kassa), let slot = slots[kassa.id], slot.drained == nil, slot.inDoubt == nil,
              slot.restUntil.map({ $0 <= .now }) ?? true, !suspects.isSuspect(kassa.candidateBase), !healthCheckDue(slot, now: .now),
              let head = queue.held.first, head.failedOn.isEmpty, !head.resend else { return nil }
        _ = queue.removeFirst()
        slot.used += 1
        readBackIfLow()
        return head
    }

    /// A receipt taken for a kassa whose commit could not carry its intent: back to the head of
    /// the queue, once its intent is known not to be on record.
    private func giveBack(_ item: Queued, on kassa: LeasedKassa, intent: NextIntent) {
        switch intent {
        case .written, .unknown:
            // Written (the kassa cannot take it now) or maybe written: released first, so that
            // no other kassa finds it in doubt here.
            let registry = self.registry
            let logger = self.logger
            Task {
                var pause = Self.registryRetryDelay
                while true {
                    do {
                        try await registry.releaseIntent(kassaID: kassa.id, jobUUID: item.job.uuid, epoch: kassa.epoch,
                                                         lastDocumentNumber: kassa.lastDocumentNumber)
                        break
                    } catch RegistryError.fenced {
                        break  // the kassa's new owner reconciles it: the job is not in that FN
                    } catch {
                        logger.debug("could not release the next receipt's intent; trying again", metadata: [
                            "job": "\(item.job.uuid)", "kassa": "\(kassa.id)", "error": "\(error)",
                        ])
                        try? await Task.sleep(for: pause)
                        pause = min(pause * 2, .seconds(5))
                        if self.isStopped { return }
                    }
                }
                self.requeue(item)
            }
        case .notWritten:
            queue.prepend(item)
        }
    }

    /// What a spilled job turned out to be when read back.
    private enum ReadBack: Sendable {
        case ready(Queued)
        /// Done or failed meanwhile (a copy elsewhere finished it): its offset is durable.
        case finished(UUID, offset: Int64)
        case unreadable(UUID, reason: String)
    }

    /// Reads back the next spilled jobs once the held part of the queue runs low. The bodies
    /// are decoded off the desk, which goes on matching receipts with kassas meanwhile.
    private func readBackIfLow() {
        guard !stopped, let batch = queue.nextReadBack(window: window) else { return }
        let registry = self.registry
        let logger = self.logger
        Task {
            let stored: [UUID: (status: JobStatus, body: String?)]
            do {
                stored = try await registry.queuedJobs(uuids: batch.map(\.uuid))
            } catch {
                logger.warning("could not read queued receipts back from the registry; trying again", metadata: [
                    "jobs": "\(batch.count)", "error": "\(error)",
                ])
                try? await Task.sleep(for: Self.registryRetryDelay)
                self.readBackFailed(batch)
                return
            }
            let jobs = batch.map { item -> ReadBack in
                guard let (status, body) = stored[item.uuid] else { return .unreadable(item.uuid, reason: "not on record") }
                guard status == .wait else { return .finished(item.uuid, offset: item.offset) }
                guard let body else { return .unreadable(item.uuid, reason: "stored without its body") }
                do {
                    return .ready(Queued(job: try ReceiptJob.decode(Array(body.utf8)), offset: item.offset))
                } catch {
                    return .unreadable(item.uuid, reason: "\(error)")
                }
            }
            self.readBack(jobs)
        }
    }

    private func readBack(_ jobs: [ReadBack]) {
        guard !stopped else { return }
        var ready: [Queued] = []
        for job in jobs {
            switch job {
            case .ready(let item):
                bodies[item.job.uuid] = item.job
                ready.append(item)
            case .finished(let uuid, let offset):
                done(uuid, offset: offset)
            case .unreadable(let uuid, let reason):
                // Cannot happen for an admitted job (the registry keeps every job's row and
                // body). Its offset stays uncommitted, so the partition's next assignment
                // brings the job back from the topic; nothing is lost.
                logger.error("a queued receipt could not be read back from the registry", metadata: ["job": "\(uuid)", "reason": "\(reason)"])
                known.remove(uuid)
                deadlineStart[uuid] = nil
                flaggedLate.remove(uuid)
            }
        }
        queue.readBack(ready)
        logger.debug("queued receipts read back from the registry", metadata: ["jobs": "\(ready.count)", "still_spilled": "\(queue.spilled.count)"])
        if !queue.isSpilling {
            logger.notice("queue back within its window", metadata: ["window": "\(window)"])
        }
        pump()
    }

    private func readBackFailed(_ batch: [ReceiptQueue.Spilled]) {
        guard !stopped else { return }
        queue.readBackFailed(batch)
        pump()
    }

    /// Takes a receipt's outcome; returns the kassa's next receipt when its intent is written
    /// and the kassa is still ours to use (the kassa then stays busy). A desk that is stopping
    /// starts no new sale: the next receipt's intent is released and its offset stays uncommitted.
    private func finished(_ item: Queued, on kassa: LeasedKassa, outcome: AttemptOutcome, next: (item: Queued, intent: NextIntent)?) -> Queued? {
        if let next {
            if case .durable = outcome, next.intent == .written, holds(kassa), !stopped {
                done(item.job.uuid, offset: item.offset)
                return next.item
            }
            giveBack(next.item, on: kassa, intent: next.intent)
        }
        finished(item, on: kassa, outcome: outcome)
        return nil
    }

    private func finished(_ item: Queued, on kassa: LeasedKassa, outcome: AttemptOutcome) {
        switch outcome {
        case .durable:
            free(kassa)
            done(item.job.uuid, offset: item.offset)
        case .duplicate(let refund):
            free(kassa)
            done(item.job.uuid, offset: item.offset)
            enqueueRefund(refund)
        case .finishedElsewhere:
            free(kassa)
            done(item.job.uuid, offset: item.offset)
        case .inDoubtElsewhere(let other):
            free(kassa)
            logger.info("receipt in doubt on another kassa: waiting for its reconciliation", metadata: ["job": "\(item.job.uuid)", "kassa": "\(other)"])
            var item = item
            item.mayBeFiscalized = true
            parked[item.job.uuid] = item
        case .registryUnavailable(let reason):
            // The registry is away (a failover takes seconds): the kassa is fine; the receipt
            // waits a moment at the head of the queue and tries again.
            logger.debug("registry unavailable: the receipt waits and tries again", metadata: ["job": "\(item.job.uuid)", "reason": "\(reason)"])
            free(kassa)
            Task {
                try? await Task.sleep(for: Self.registryRetryDelay)
                self.requeue(item)
            }
        case .retryElsewhere(let reason):
            logger.warning("moving receipt to another kassa", metadata: ["job": "\(item.job.uuid)", "kassa": "\(kassa.id)", "reason": "\(reason)"])
            free(kassa, rest: true)
            noteFailure(of: kassa)
            retry(item, failedOn: kassa)
        case .inDoubt:
            noteFailure(of: kassa)
            if holds(kassa) { slots[kassa.id]?.inDoubt = item.job.uuid }
            if let offset = item.offset { waiting[item.job.uuid, default: []].append(offset) }
            scheduleReconcile(item.job.uuid, on: kassa, lastDocumentNumber: kassa.lastDocumentNumber)
            if case .resendAndAnnul(let after) = policy.inDoubt, item.job.annuls == nil {
                let uuid = item.job.uuid
                Task {
                    try? await Task.sleep(for: after)
                    self.resendInDoubt(uuid, from: kassa)
                }
            }
        case .leaseLost(let inDoubt):
            if holds(kassa) { slots[kassa.id] = nil }
            if inDoubt {
                // The new owner reconciles the intent; this offset stays uncommitted until the
                // partition moves or the job is redelivered.
                if let offset = item.offset { waiting[item.job.uuid, default: []].append(offset) }
            } else {
                retry(item, failedOn: kassa)
            }
        }
        pump()
    }

    /// Counts a kassa's failure against its assembly and rack; several make the domain suspect.
    private func noteFailure(of kassa: LeasedKassa) {
        for domain in suspects.recordFailure(of: kassa.candidateBase, at: .now) {
            logger.warning("\(domain) suspect: several of its kassas failed; they take no receipts until a probe passes")
        }
    }

    /// Probes one idle kassa of each suspect domain with `status`; a passing probe trusts the
    /// domain again. A domain stays suspect (and probed every sweep) while its kassas stay dead.
    private func probeSuspects() {
        guard !stopped else { return }
        for domain in suspects.suspects {
            let inDomain = { (slot: Slot) in self.suspects.suspectDomain(of: slot.kassa.candidateBase) == domain }
            guard !slots.values.contains(where: { statusReads.contains($0.kassa.id) && inDomain($0) }),
                  let slot = slots.values.first(where: { !$0.busy && $0.inDoubt == nil && inDomain($0) }) else { continue }
            readStatus(of: slot.kassa)
        }
    }

    /// Reads the status of idle kassas not checked for `healthCheckInterval`, to drain those
    /// whose FN or OFD link is about to stop them (and bring back those that recovered).
    private func checkHealth() {
        guard !stopped else { return }
        let now = ContinuousClock.now
        for slot in slots.values where !slot.busy && slot.inDoubt == nil && healthCheckDue(slot, now: now) {
            readStatus(of: slot.kassa)
        }
    }

    private func healthCheckDue(_ slot: Slot, now: ContinuousClock.Instant) -> Bool {
        slot.lastHealthCheck.map { now - $0 >= configuration.healthCheckInterval } ?? true
    }

    /// Kassas with a `status` read under way (a probe or a health check).
    private var statusReads: Set<Int64> = []

    /// Holds an idle kassa for one `status` read; `statusRead` takes the answer.
    private func readStatus(of kassa: LeasedKassa) {
        slots[kassa.id]?.busy = true
        statusReads.insert(kassa.id)
        let timeout = configuration.connectTimeout
        Task {
            var status: KassaStatus?
            do {
                status = try await kassa.session.connected().status(timeout: timeout)
            } catch {
                await kassa.session.reset()
            }
            self.statusRead(kassa, status: status)
        }
    }

    /// Any answer trusts the kassa's assembly and rack again and tells whether it must be
    /// drained. No answer is the receipts' business (rest, suspect domains).
    private func statusRead(_ kassa: LeasedKassa, status: KassaStatus?) {
        statusReads.remove(kassa.id)
        guard holds(kassa) else { return }
        slots[kassa.id]?.busy = false
        slots[kassa.id]?.lastHealthCheck = .now
        if let status, let slot = slots[kassa.id] {
            for cleared in suspects.probePassed(on: kassa.candidateBase) {
                logger.notice("\(cleared) trusted again: kassa \(kassa.id) answered a probe")
            }
            let verdict = configuration.drainRules.verdict(status, now: Date(), drained: slot.drained)
            if verdict != slot.drained {
                slots[kassa.id]?.drained = verdict
                let registry = self.registry
                if let verdict {
                    logger.warning("draining kassa: it takes no receipts until this clears", metadata: [
                        "kassa": "\(kassa.id)", "reason": "\(verdict)", "needs_service": "\(verdict.needsService)",
                    ])
                    Task { try? await registry.setKassaState(id: kassa.id, .drained) }
                } else {
                    logger.notice("kassa takes receipts again", metadata: ["kassa": "\(kassa.id)"])
                    Task { try? await registry.setKassaState(id: kassa.id, .active) }
                }
            }
        }
        pump()
    }

    /// Back to the head of the queue, avoiding the kassas it failed on last (and their
    /// assemblies, racks, sites). A receipt is never failed for want of a kassa: failed kassas
    /// rest, the receipt waits for one, and the tenant's deadline decides when to give up.
    private func retry(_ item: Queued, failedOn kassa: LeasedKassa) {
        var item = item
        item.failedOn.append(kassa.candidateBase)
        if item.failedOn.count > configuration.rememberedFailures {
            item.failedOn.removeFirst(item.failedOn.count - configuration.rememberedFailures)
        }
        queue.prepend(item)
    }

    /// True while `kassa` (this lease, not a later one on the same kassa) is the one in its slot:
    /// a receipt that finishes after its lease was lost and re-acquired must not touch the new slot.
    private func holds(_ kassa: LeasedKassa) -> Bool {
        slots[kassa.id]?.kassa === kassa
    }

    private func free(_ kassa: LeasedKassa, rest: Bool = false) {
        guard holds(kassa) else { return }
        let id = kassa.id
        slots[id]?.busy = false
        if rest {
            slots[id]?.restUntil = ContinuousClock.now + configuration.kassaRestInterval
            Task {
                try? await Task.sleep(for: configuration.kassaRestInterval)
                self.pump()
            }
        } else if !stopped, let slot = slots[id], slot.inDoubt == nil, healthCheckDue(slot, now: .now) {
            // Under steady load a kassa is never idle when the sweep looks (`takeNext` and
            // `pump` hand it the next receipt at once), so it reads its status between two.
            readStatus(of: kassa)
        }
    }

    private func done(_ uuid: UUID, offset: Int64?) {
        known.remove(uuid)
        bodies[uuid] = nil
        deadlineStart[uuid] = nil
        flaggedLate.remove(uuid)
        if let offset { onDurable(partition, offset) }
        for other in waiting.removeValue(forKey: uuid) ?? [] { onDurable(partition, other) }
    }

    // MARK: In doubt

    /// Resend-and-annul: the job has been in doubt on `kassa` for the tenant's time; send it to
    /// another kassa now. The first kassa stays blocked until its archive is read; if it made the
    /// document too, the later of the two is annulled by a refund.
    private func resendInDoubt(_ uuid: UUID, from kassa: LeasedKassa) {
        guard !stopped, holds(kassa), slots[kassa.id]?.inDoubt == uuid, resentFromDoubt[uuid] == nil, let job = bodies[uuid] else { return }
        resentFromDoubt[uuid] = kassa.id
        var offsets = waiting.removeValue(forKey: uuid) ?? []
        let first = offsets.isEmpty ? nil : offsets.removeFirst()
        if !offsets.isEmpty { waiting[uuid] = offsets }
        logger.warning("receipt in doubt too long: resending it to another kassa (resend-and-annul)", metadata: ["job": "\(uuid)", "kassa": "\(kassa.id)"])
        queue.prepend(Queued(job: job, offset: first, failedOn: [kassa.candidateBase], resend: true))
        pump()
    }

    private func scheduleReconcile(_ uuid: UUID, on kassa: LeasedKassa, lastDocumentNumber: Int64) {
        reconcile(PendingIntent(jobUUID: uuid, lastDocumentNumber: lastDocumentNumber), on: kassa)
    }

    /// Retries reconciliation with backoff until the kassa answers; the kassa stays blocked meanwhile.
    private func reconcile(_ intent: PendingIntent, on kassa: LeasedKassa) {
        let fiscalization = self.fiscalization
        let logger = self.logger
        Task {
            var delay = Duration.milliseconds(200)
            while !Task.isCancelled {
                do {
                    let outcome = try await fiscalization.reconcile(intent, body: self.body(of: intent.jobUUID), on: kassa)
                    logger.info("reconciled", metadata: ["job": "\(intent.jobUUID)", "kassa": "\(kassa.id)", "outcome": "\(outcome)"])
                    self.reconciled(intent.jobUUID, on: kassa, outcome: outcome)
                    return
                } catch RegistryError.fenced {
                    self.reconcileLostLease(kassa)
                    return
                } catch {
                    await kassa.session.reset()
                    logger.debug("reconcile pending", metadata: ["job": "\(intent.jobUUID)", "kassa": "\(kassa.id)", "error": "\(error)"])
                    try? await Task.sleep(for: delay)
                    delay = min(delay * 2, .seconds(5))
                    if self.isStopped { return }
                }
            }
        }
    }

    private var isStopped: Bool { stopped }

    private func body(of uuid: UUID) -> ReceiptJob? { bodies[uuid] }

    private func reconciled(_ uuid: UUID, on kassa: LeasedKassa, outcome: ReconcileOutcome) {
        if holds(kassa) { slots[kassa.id]?.inDoubt = nil }
        free(kassa)
        if resentFromDoubt.removeValue(forKey: uuid) != nil {
            // The resent copy owns the job's offsets. If this kassa's document is the job's
            // result, a copy not started yet need not run; one running will find the result
            // on its commit and annul its own document.
            switch outcome {
            case .recorded:
                if let index = queue.held.firstIndex(where: { $0.job.uuid == uuid }) {
                    let copy = queue.removeHeld(at: index)
                    done(uuid, offset: copy.offset)
                }
            case .duplicate(let refund):
                enqueueRefund(refund)
            case .absent:
                break
            }
            pump()
            return
        }
        switch outcome {
        case .duplicate(let refund):
            enqueueRefund(refund)
            fallthrough
        case .recorded:
            let offsets = waiting.removeValue(forKey: uuid) ?? []
            known.remove(uuid)
            bodies[uuid] = nil
            for offset in offsets { onDurable(partition, offset) }
        case .absent:
            // Free to go anywhere: requeue from the first waiting offset (if this job is still
            // ours; after a takeover it comes back by redelivery instead).
            var offsets = waiting.removeValue(forKey: uuid) ?? []
            if let refund = bodies[uuid], refund.annuls != nil {
                // A refund of ours (no offset): run it again elsewhere.
                queue.prepend(Queued(job: refund, offset: nil, failedOn: [kassa.candidateBase]))
            } else if offsets.isEmpty || bodies[uuid] == nil {
                // A previous owner's intent whose job has not been redelivered here yet: it will
                // be, since its offset was never committed, and then runs normally.
                known.remove(uuid)
                bodies[uuid] = nil
                if !offsets.isEmpty { waiting[uuid] = offsets }
            } else if let job = bodies[uuid] {
                let first = offsets.removeFirst()
                if !offsets.isEmpty { waiting[uuid] = offsets }
                queue.prepend(Queued(job: job, offset: first, failedOn: [kassa.candidateBase]))
            }
        }
        pump()
    }

    private func reconcileLostLease(_ kassa: LeasedKassa) {
        if holds(kassa) { slots[kassa.id] = nil }
    }

    /// Stops taking work; returns the kassa ids to release once in-flight work is over.
    func stop() -> [Int64] {
        stopped = true
        queue.removeAll()
        return Array(slots.keys)
    }

    var busyCount: Int { slots.values.filter { $0.busy && $0.inDoubt == nil }.count }
}
