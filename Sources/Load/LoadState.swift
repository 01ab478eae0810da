import KassaModel
/// The shared ledger of a run: counters, the receipts still being polled, latency
/// samples. Senders and pollers report into it; progress and the summary read from it.
actor LoadState {
    private let pollInterval: Duration
    private var summary = LoadSummary()
    private var pending: [String: PendingReceipt] = [:]
    private var due = DueQueue()
    private var acceptedReferences: [AcceptedReference] = []
    private var seenUUIDs: Set<String> = []
    private var latencies: [Int] = []
    private var postLatencies: [Int] = []
    private(set) var sendFinished = false
    private var timeline: TimelineRecorder

    init(pollInterval: Duration, start: ContinuousClock.Instant) {
        self.pollInterval = pollInterval
        self.timeline = TimelineRecorder(start: start)
    }

    /// Every scheduled post has been answered, abandoned or cancelled, and every
    /// accepted receipt has a final status.
    var isDrained: Bool { sendFinished && pending.isEmpty }

    // MARK: - Posting

    func recordPosted(_ kind: PostKind) {
        summary.sent += 1
        switch kind {
        case .fresh: break
        case .duplicate: summary.duplicatesSent += 1
        case .invalid: summary.invalidSent += 1
        }
    }

    /// Registers an acknowledged fresh receipt for polling and as a duplicate candidate.
    /// Returns false when the uuid had already been handed out in this run.
    @discardableResult
    func recordAccepted(
        _ receipt: GeneratedReceipt, tenantIndex: Int, uuid: String,
        postedAt: ContinuousClock.Instant, answeredAt: ContinuousClock.Instant
    ) -> Bool {
        summary.accepted += 1
        timeline.accepted(at: answeredAt)
        postLatencies.append(Self.milliseconds(answeredAt - postedAt))
        guard seenUUIDs.insert(uuid).inserted else {
            // Already tracked under its first external_id; polling it twice adds nothing.
            summary.uuidReused += 1
            return false
        }
        pending[uuid] = PendingReceipt(
            uuid: uuid, tenantIndex: tenantIndex, groupCode: receipt.tenant.groupCode,
            externalID: receipt.externalID, totalKopecks: receipt.totalKopecks, acceptedAt: answeredAt
        )
        due.append(uuid, due: answeredAt + pollInterval)
        acceptedReferences.append(
            AcceptedReference(number: receipt.number, tenantIndex: tenantIndex, timestamp: receipt.timestamp, uuid: uuid)
        )
        return true
    }

    /// An accepted receipt to re-send on purpose, chosen by `random`; nil before any.
    func duplicateCandidate(random: UInt64) -> AcceptedReference? {
        guard !acceptedReferences.isEmpty else { return nil }
        return acceptedReferences[Int(random % UInt64(acceptedReferences.count))]
    }

    func recordDuplicate(refusedWithOriginalUUID: Bool) {
        if refusedWithOriginalUUID {
            summary.duplicatesRefused += 1
        } else {
            summary.duplicatesWithWrongUUID += 1
        }
    }

    func recordInvalidRefused() {
        summary.invalidRefused += 1
    }

    func recordInvalidMisanswered(reason: String) {
        summary.invalidMisanswered += 1
        summary.invalidMisansweredByReason[reason, default: 0] += 1
    }

    func recordRejected(reason: String) {
        summary.rejected += 1
        summary.rejectedByReason[reason, default: 0] += 1
    }

    func recordBackpressure() { summary.backpressure503 += 1 }
    func recordBackpressureAbandoned() { summary.backpressureAbandoned += 1 }

    func finishSending(sendDuration: Duration, maxScheduleLag: Duration) {
        sendFinished = true
        summary.sendDurationSeconds = sendDuration.inSeconds
        summary.maxScheduleLagMilliseconds = Self.milliseconds(maxScheduleLag)
    }

    // MARK: - Polling

    /// Takes up to `limit` receipts due for a poll; each must come back through
    /// `recordWaiting`, `recordReportError`, `recordDone` or `recordFailed`.
    func takeDue(now: ContinuousClock.Instant, limit: Int) -> [PendingReceipt] {
        guard limit > 0 else { return [] }
        return due.popDue(now: now, limit: limit).compactMap { pending[$0] }
    }

    /// Still `wait`: poll again one interval from now.
    func recordWaiting(_ uuid: String, at now: ContinuousClock.Instant) {
        guard pending[uuid] != nil else { return }
        due.append(uuid, due: now + pollInterval)
    }

    /// The poll itself went wrong; count it and poll again later.
    func recordReportError(_ uuid: String, reason: String, at now: ContinuousClock.Instant) {
        summary.reportErrors += 1
        summary.reportErrorsByReason[reason, default: 0] += 1
        recordWaiting(uuid, at: now)
    }

    func recordDone(_ uuid: String, at now: ContinuousClock.Instant, mismatch: Bool) {
        guard let receipt = pending.removeValue(forKey: uuid) else { return }
        summary.done += 1
        if mismatch { summary.reportMismatches += 1 }
        let latency = Self.milliseconds(now - receipt.acceptedAt)
        latencies.append(latency)
        timeline.done(at: now, latencyMilliseconds: latency, tenant: receipt.groupCode)
    }

    func recordFailed(_ uuid: String, reason: String, at now: ContinuousClock.Instant) {
        guard pending.removeValue(forKey: uuid) != nil else { return }
        timeline.failed(at: now)
        summary.failed += 1
        summary.failedByReason[reason, default: 0] += 1
    }

    // MARK: - Reporting

    func progress(elapsed: Duration) -> LoadProgress {
        let recent = timeline.recent(window: 5, now: .now)
        return LoadProgress(
            phase: sendFinished ? .draining : .sending,
            elapsed: elapsed,
            sent: summary.sent,
            accepted: summary.accepted,
            done: summary.done,
            failed: summary.failed,
            waiting: pending.count,
            rejected: summary.rejected,
            backpressure503: summary.backpressure503,
            p99Milliseconds: Percentiles.nearestRank(99, sorted: latencies.sorted()),
            recentDonePerSecond: recent.donePerSecond,
            recentP99Milliseconds: recent.p99Milliseconds
        )
    }

    /// Every second of the run so far.
    func timelineSeconds() -> [LoadSecond] { timeline.everySecond() }

    func finalSummary(runID: String, offeredRate: Double, runDuration: Duration, tokenRenewals: Int) -> LoadSummary {
        var result = summary
        result.runID = runID
        result.stillWaiting = pending.count
        result.tokenRefreshes = tokenRenewals
        result.latency = LatencySummary(milliseconds: latencies)
        result.postLatency = LatencySummary(milliseconds: postLatencies)
        result.offeredRate = offeredRate
        result.runDurationSeconds = Self.rounded(runDuration.inSeconds)
        result.achievedRate = result.sendDurationSeconds > 0
            ? Self.rounded(Double(result.accepted) / result.sendDurationSeconds) : 0
        result.sendDurationSeconds = Self.rounded(result.sendDurationSeconds)
        return result
    }

    /// Milli-precision is plenty for rates and durations and keeps the JSON readable.
    private static func rounded(_ value: Double) -> Double {
        (value * 1000).rounded() / 1000
    }

    static func milliseconds(_ duration: Duration) -> Int {
        let parts = duration.components
        return Int(parts.seconds) * 1000 + Int(parts.attoseconds / 1_000_000_000_000_000)
    }
}
