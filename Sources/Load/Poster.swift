import Foundation
import KassaModel
import Logging

/// Delivers one planned post and books the outcome: retries after 503 and after an
/// expired token, then judges the answer against what the post's kind expects.
struct Poster: Sendable {
    let api: AtolAPI
    let tokens: TokenStore
    let state: LoadState
    let log: AcknowledgedLog?
    let logger: Logger
    /// No retry wait may run past this.
    let deadline: ContinuousClock.Instant
    let maxRetryAfter: Duration

    /// Renewing a token more often than this for one post means the server keeps
    /// rejecting fresh tokens; further retries would only loop.
    private static let maxTokenRenewals = 2
    /// When a 503 carries no usable `Retry-After`.
    private static let defaultRetryAfter = Duration.seconds(1)

    func deliver(_ plan: PostPlan) async {
        await state.recordPosted(plan.kind)
        let receipt = plan.receipt
        let body = receipt.jsonBody
        var renewals = 0
        while !Task.isCancelled {
            let token: String
            do {
                token = try await tokens.token(for: plan.tenantIndex)
            } catch {
                await state.recordRejected(reason: "token: \(error)")
                return
            }
            let postedAt = ContinuousClock.now
            let answer: HTTPAnswer
            do {
                answer = try await api.register(
                    groupCode: receipt.tenant.groupCode, operation: receipt.operation, token: token, body: body)
            } catch {
                // Cancelled at the end of the run: not the server's fault, not counted.
                if Task.isCancelled { return }
                await state.recordRejected(reason: "transport: \(error)")
                await logUnanswered(plan)
                return
            }
            let decoded = answer.decoded(RegistrationAnswer.self)

            if answer.status == 503 {
                await state.recordBackpressure()
                let wait = retryDelay(answer.retryAfter)
                guard ContinuousClock.now + wait < deadline else {
                    await state.recordBackpressureAbandoned()
                    return
                }
                // Same external_id again: the server said it did not take the receipt.
                do { try await Task.sleep(for: wait) } catch { return }
                continue
            }
            if answer.status == 401, renewals < Self.maxTokenRenewals {
                switch decoded?.error?.code {
                case 11:
                    renewals += 1
                    do {
                        _ = try await tokens.renew(plan.tenantIndex, replacing: token)
                    } catch {
                        await state.recordRejected(reason: "token: \(error)")
                        return
                    }
                    continue
                case 10 where await tokens.wasReplaced(plan.tenantIndex, token: token):
                    // Posted with a token another post's renewal just retired; ATOL says
                    // code 10 means "not registered, resend", so resend with the new one.
                    renewals += 1
                    continue
                default:
                    break
                }
            }
            await judge(plan, answer: answer, decoded: decoded, postedAt: postedAt)
            return
        }
    }

    private func judge(_ plan: PostPlan, answer: HTTPAnswer, decoded: RegistrationAnswer?, postedAt: ContinuousClock.Instant) async {
        let receipt = plan.receipt
        let acceptedUUID = answer.isSuccess && decoded?.error == nil ? decoded?.uuid : nil
        switch plan.kind {
        case .fresh:
            guard let uuid = acceptedUUID, !uuid.isEmpty else {
                await state.recordRejected(reason: answer.reason(error: decoded?.error))
                // A 5xx other than 503 (a gateway's timeout, say) does not say the receipt was not taken.
                if answer.status >= 500 { await logUnanswered(plan) }
                return
            }
            let isNew = await state.recordAccepted(
                receipt, tenantIndex: plan.tenantIndex, uuid: uuid, postedAt: postedAt, answeredAt: answer.receivedAt)
            if !isNew {
                logger.warning("server reused a uuid for a new external_id",
                               metadata: ["uuid": "\(uuid)", "external_id": "\(receipt.externalID)"])
            }
            await log?.append(AcknowledgedEntry(
                uuid: uuid, groupCode: receipt.tenant.groupCode, externalID: receipt.externalID,
                operation: receipt.operation, totalKopecks: receipt.totalKopecks, acceptedAt: answer.receivedWallClock))

        case .duplicate(let originalUUID):
            // Code 33 is the ATOL answer; an idempotent 200 with the same uuid is fine too.
            let refused = decoded?.error?.code == 33 || acceptedUUID != nil
            let sameUUID = decoded?.uuid == originalUUID
            await state.recordDuplicate(refusedWithOriginalUUID: refused && sameUUID)
            if !(refused && sameUUID) {
                logger.warning("duplicate external_id not refused with the original uuid", metadata: [
                    "external_id": "\(receipt.externalID)", "original_uuid": "\(originalUUID)",
                    "answer": "\(answer.reason(error: decoded?.error)) uuid=\(decoded?.uuid ?? "none")",
                ])
            }

        case .invalid:
            if answer.status == 400, decoded?.error?.code == 32 {
                await state.recordInvalidRefused()
            } else {
                let flaw = receipt.flaw?.rawValue ?? "invalid"
                let what = acceptedUUID != nil ? "accepted" : answer.reason(error: decoded?.error)
                await state.recordInvalidMisanswered(reason: "\(flaw): \(what)")
            }
        }
    }

    /// Records a fresh post whose outcome is unknown, under the uuid the server would give it, so
    /// the ground-truth check can tell its document (if any) from an unexpected one.
    private func logUnanswered(_ plan: PostPlan) async {
        guard case .fresh = plan.kind, let log else { return }
        let receipt = plan.receipt
        let uuid = JobID.derive(groupCode: receipt.tenant.groupCode, externalID: receipt.externalID).uuidString.lowercased()
        await log.append(AcknowledgedEntry(
            uuid: uuid, groupCode: receipt.tenant.groupCode, externalID: receipt.externalID,
            operation: receipt.operation, totalKopecks: receipt.totalKopecks, acceptedAt: Date(), unanswered: true))
    }

    /// `Retry-After` as delta-seconds (fractions tolerated), clamped to the configured
    /// maximum. The HTTP-date form is not worth parsing here: it falls back to 1 s.
    private func retryDelay(_ header: String?) -> Duration {
        guard let header, let value = Double(header.trimmingCharacters(in: .whitespaces)), value.isFinite, value >= 0 else {
            return Self.defaultRetryAfter
        }
        return min(.milliseconds(Int64(value * 1000)), maxRetryAfter)
    }
}
