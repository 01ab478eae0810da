import Foundation
import KassaModel
import Logging
import Registry

/// The registry calls a resend needs. Unlike `IngressRegistry` these write: a resend reopens
/// failed jobs. `Registry` provides them; tests use fakes.
public protocol ResendStore: Sendable {
    func failedJobs(tenantID: Int64, filter: ResendFilter) async throws -> [FailedJob]
    func reopenForResend(uuids: [UUID], tenantID: Int64) async throws -> [ReopenedJob]
    func restoreFailure(_ job: ReopenedJob, tenantID: Int64) async throws -> Bool
}

extension Registry: ResendStore {}

/// What one resend did.
public struct ResendOutcome: Sendable, Equatable {
    /// A matched or requested job that was not re-sent, and why.
    public struct NotResent: Sendable, Equatable {
        public var uuid: UUID
        public var reason: String

        public init(uuid: UUID, reason: String) {
            self.uuid = uuid
            self.reason = reason
        }
    }

    /// The failed jobs the filter matched, oldest accepted first (what a dry run would resend,
    /// minus those without a stored body).
    public var matched: [FailedJob]
    /// Jobs re-opened and acknowledged by Kafka again, under their original uuids.
    public var resent: [UUID]
    public var notResent: [NotResent]
    /// True when nothing was changed on purpose (`resend(..., dryRun: true)`).
    public var dryRun: Bool

    public init(matched: [FailedJob], resent: [UUID], notResent: [NotResent], dryRun: Bool) {
        self.matched = matched
        self.resent = resent
        self.notResent = notResent
        self.dryRun = dryRun
    }
}

/// Why a resend did nothing at all.
public enum ResendFailure: Error, Sendable, Equatable, CustomStringConvertible {
    /// The filter is not acceptable (limit out of range, `from` not before `to`).
    case invalidFilter(String)
    /// The registry could not be read or written; nothing was published.
    case registry(String)
    /// Kafka is away; nothing was reopened.
    case queueUnavailable(String)

    public var description: String {
        switch self {
        case .invalidFilter(let text): "invalid resend filter: \(text)"
        case .registry(let text): "registry unavailable: \(text)"
        case .queueUnavailable(let text): "receipt queue unavailable: \(text)"
        }
    }
}

/// Re-sends a tenant's failed receipts under their original uuids: the one place the
/// reopen → publish → restore sequence lives, used by the API (`POST /{group}/resend`) and by
/// `kassa resend`.
///
/// 1. List the tenant's failed jobs matching the filter (`failedJobs`).
/// 2. Reopen those with a stored body in one registry statement (`reopenForResend`: status
///    `wait`, error cleared, `resend_count` + 1). A job another caller reopened first is not
///    taken twice.
/// 3. Publish each reopened body to the job topic (keyed by group code, like the ingress) and
///    wait for Kafka's acknowledgement.
/// 4. A job Kafka did not take is put back to its failure (`restoreFailure`) and reported as
///    not re-sent.
///
/// Still at most one document per uuid: the dispatcher keys everything by uuid, runs a job whose
/// status is `wait` and skips one whose outcome exists.
public struct ResendDesk: Sendable {
    let store: any ResendStore
    let publisher: any JobPublisher
    let logger: Logger

    public init(store: any ResendStore, publisher: any JobPublisher, logger: Logger) {
        self.store = store
        self.publisher = publisher
        self.logger = logger
    }

    /// Re-sends the tenant's failed jobs that match `filter`. With `dryRun`, only lists them.
    /// Jobs that match but cannot be re-sent are in the outcome's `notResent` with a reason.
    public func resend(tenantID: Int64, filter: ResendFilter, dryRun: Bool = false) async throws(ResendFailure) -> ResendOutcome {
        let matched: [FailedJob]
        do {
            matched = try await store.failedJobs(tenantID: tenantID, filter: filter)
        } catch RegistryError.invalidArgument(let text) {
            throw .invalidFilter(text)
        } catch {
            throw .registry("listing failed jobs: \(error)")
        }
        var notResent: [ResendOutcome.NotResent] = []
        if let requested = filter.uuids {
            let found = Set(matched.map(\.uuid))
            var reported = Set<UUID>()
            for uuid in requested where !found.contains(uuid) && reported.insert(uuid).inserted {
                notResent.append(.init(uuid: uuid, reason: "not a failed receipt of this group matching the filter"))
            }
        }
        for job in matched where job.body == nil {
            notResent.append(.init(uuid: job.uuid, reason: "accepted before job bodies were stored; post it again with a new external_id"))
        }
        let candidates = matched.filter { $0.body != nil }.map(\.uuid)
        if dryRun || candidates.isEmpty {
            return ResendOutcome(matched: matched, resent: [], notResent: notResent, dryRun: dryRun)
        }
        // Kafka known to be away: change nothing rather than reopen and restore every job.
        guard publisher.isConnected else { throw .queueUnavailable("the producer is not connected; nothing was re-sent") }

        let reopened: [ReopenedJob]
        do {
            reopened = try await store.reopenForResend(uuids: candidates, tenantID: tenantID)
        } catch {
            logger.error("resend: reopening failed jobs failed", metadata: ["tenant": "\(tenantID)", "error": "\(error)"])
            throw .registry("reopening failed jobs: \(error)")
        }
        let reopenedIDs = Set(reopened.map(\.uuid))
        for uuid in candidates where !reopenedIDs.contains(uuid) {
            notResent.append(.init(uuid: uuid, reason: "no longer failed (re-sent by another request, or done)"))
        }

        let published = await publishAll(reopened, tenantID: tenantID)
        var resent = Set<UUID>()
        for job in reopened {
            switch published[job.uuid] {
            case nil:
                resent.insert(job.uuid)
            case let reason?:
                do {
                    if try await store.restoreFailure(job, tenantID: tenantID) {
                        notResent.append(.init(uuid: job.uuid, reason: "\(reason); it stays failed"))
                    } else {
                        // Not restorable: a dispatcher has it (the publish did land) or finished it.
                        resent.insert(job.uuid)
                    }
                } catch {
                    logger.error("resend: restoring a failure failed; the job shows wait without being queued",
                                 metadata: ["job": "\(job.uuid)", "error": "\(error)"])
                    notResent.append(.init(uuid: job.uuid, reason: "\(reason), and restoring its failure failed (\(error)); its report shows wait"))
                }
            }
        }
        // In the order the filter listed them: oldest accepted first.
        let ordered = candidates.filter { resent.contains($0) }
        logger.info("resend", metadata: ["tenant": "\(tenantID)", "matched": "\(matched.count)", "resent": "\(ordered.count)",
                                         "not_resent": "\(notResent.count)"])
        return ResendOutcome(matched: matched, resent: ordered, notResent: notResent, dryRun: false)
    }

    /// Publishes every reopened job at once; returns, per job that Kafka did not take, why.
    private func publishAll(_ jobs: [ReopenedJob], tenantID: Int64) async -> [UUID: String] {
        let publisher = self.publisher
        return await withTaskGroup(of: (UUID, String?).self) { group in
            for reopened in jobs {
                group.addTask { (reopened.uuid, await Self.publish(reopened, tenantID: tenantID, on: publisher)) }
            }
            var failures: [UUID: String] = [:]
            for await (uuid, failure) in group {
                if let failure { failures[uuid] = failure }
            }
            return failures
        }
    }

    /// Publishes one reopened job's stored body (decoded, so the key is the ingress's: the group
    /// code); nil when Kafka acknowledged it, else why not.
    private static func publish(_ reopened: ReopenedJob, tenantID: Int64, on publisher: any JobPublisher) async -> String? {
        let job: ReceiptJob
        do {
            job = try ReceiptJob.decode(Array(reopened.body.utf8))
        } catch {
            return "its stored job body cannot be read (\(error))"
        }
        guard job.uuid == reopened.uuid, job.tenantID == tenantID else {
            return "its stored job body names another job or tenant"
        }
        do throws(PublishFailure) {
            try await publisher.publish(job)
            return nil
        } catch {
            switch error {
            case .backpressure: return "the receipt queue is full"
            case .unavailable(let reason): return "the receipt queue did not take it (\(reason))"
            }
        }
    }
}
