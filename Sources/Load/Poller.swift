import Logging

/// Polls `report/{uuid}` for every accepted, unfinished receipt about once per poll
/// interval, with a bounded number of requests in flight, until everything is final
/// or the deadline passes.
struct Poller: Sendable {
    let api: AtolAPI
    let tokens: TokenStore
    let state: LoadState
    let logger: Logger
    let maxInFlight: Int
    let pollInterval: Duration
    let deadline: ContinuousClock.Instant

    private enum Event: Sendable {
        case polled
        case tick
    }

    func run() async {
        // Due receipts are picked up on ticks; a fifth of the interval keeps the extra
        // delay small without spinning.
        let tick = min(max(pollInterval / 5, .milliseconds(10)), .milliseconds(100))
        await withTaskGroup(of: Event.self) { group in
            var inFlight = 0
            var tickerRunning = false
            while ContinuousClock.now < deadline {
                if inFlight == 0, await state.isDrained { break }
                let due = await state.takeDue(now: .now, limit: maxInFlight - inFlight)
                for receipt in due {
                    group.addTask {
                        await poll(receipt)
                        return .polled
                    }
                }
                inFlight += due.count
                if !tickerRunning {
                    tickerRunning = true
                    group.addTask {
                        try? await Task.sleep(for: tick)
                        return .tick
                    }
                }
                // Wake on whichever comes first: a finished poll (a free slot) or a tick.
                switch await group.next() {
                case .polled: inFlight -= 1
                case .tick: tickerRunning = false
                case nil: break
                }
            }
            group.cancelAll()
        }
    }

    private func poll(_ receipt: PendingReceipt) async {
        let token: String
        do {
            token = try await tokens.token(for: receipt.tenantIndex)
        } catch {
            await state.recordReportError(receipt.uuid, reason: "token: \(error)", at: .now)
            return
        }
        let answer: HTTPAnswer
        do {
            answer = try await api.report(groupCode: receipt.groupCode, uuid: receipt.uuid, token: token)
        } catch {
            if Task.isCancelled { return }  // the run is over
            await state.recordReportError(receipt.uuid, reason: "transport: \(error)", at: .now)
            return
        }
        let now = answer.receivedAt
        guard let report = answer.decoded(ReportAnswer.self) else {
            await state.recordReportError(receipt.uuid, reason: answer.reason(error: nil), at: now)
            return
        }
        if answer.status == 401, report.error?.code == 11 {
            _ = try? await tokens.renew(receipt.tenantIndex, replacing: token)
            await state.recordWaiting(receipt.uuid, at: now)
            return
        }
        if answer.status == 401, report.error?.code == 10, await tokens.wasReplaced(receipt.tenantIndex, token: token) {
            // A token retired by a concurrent renewal; the next poll uses the new one.
            await state.recordWaiting(receipt.uuid, at: now)
            return
        }
        switch report.status {
        case "done":
            await state.recordDone(receipt.uuid, at: now, mismatch: mismatch(report, receipt))
        case "fail" where report.error?.code == 30:
            // "Unknown uuid" for a uuid the server itself handed out is a lost receipt or
            // a lagging report store, not a fiscal failure: keep asking and let it show
            // up as still waiting if it never resolves.
            await state.recordReportError(receipt.uuid, reason: answer.reason(error: report.error), at: now)
        case "fail":
            await state.recordFailed(receipt.uuid, reason: report.error?.reason ?? "no error object", at: now)
        case "wait":
            await state.recordWaiting(receipt.uuid, at: now)
        default:
            await state.recordReportError(receipt.uuid, reason: answer.reason(error: report.error), at: now)
        }
    }

    /// A `done` report that disagrees with what was posted (wrong total or external_id).
    private func mismatch(_ report: ReportAnswer, _ receipt: PendingReceipt) -> Bool {
        var wrong = false
        if let total = report.payload?.total, Int((total * 100).rounded()) != receipt.totalKopecks {
            wrong = true
        }
        if let externalID = report.externalID, externalID != receipt.externalID {
            wrong = true
        }
        if wrong {
            logger.warning("report disagrees with the posted receipt", metadata: [
                "uuid": "\(receipt.uuid)", "external_id": "\(receipt.externalID)",
                "reported_external_id": "\(report.externalID ?? "none")",
                "reported_total": "\(report.payload?.total.map { "\($0)" } ?? "none")",
            ])
        }
        return wrong
    }
}
