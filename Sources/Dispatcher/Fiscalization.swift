import Foundation
import KassaModel
import KassaWire
import Logging
import Registry

/// What became of one attempt to fiscalize a job on one kassa.
enum AttemptOutcome: Sendable {
    /// The outcome is in the registry: done, or failed with a reason the tenant must fix.
    case durable
    /// The job was already done with another document: this one is a duplicate, now on record
    /// with the refund job that annuls it (to be run).
    case duplicate(annul: ReceiptJob)
    /// Nothing was fiscalized and the kassa is at fault: try another kassa, rest this one.
    case retryElsewhere(reason: String)
    /// The kassa may or may not have made the document; the kassa is blocked until the intent
    /// is reconciled from its FN archive.
    case inDoubt(reason: String)
    /// Nothing was sent: the job is already done or failed (another dispatcher had it before a
    /// rebalance).
    case finishedElsewhere
    /// Nothing was sent: another kassa holds an intent for the job, so it may be in that FN.
    /// The job waits until that intent is reconciled.
    case inDoubtElsewhere(kassaID: Int64)
    /// Our lease on the kassa is gone (taken over): stop using it. If the kassa answered, the
    /// intent stays for the new owner to reconcile.
    case leaseLost(inDoubt: Bool)
    /// Nothing was sent: the registry could not be reached (a failover, say). Not the kassa's
    /// fault; the job waits a moment and tries again.
    case registryUnavailable(reason: String)
}

/// What reconciling an intent from the FN archive found.
enum ReconcileOutcome: Sendable {
    /// The FN holds a document for the job; it is now recorded.
    case recorded
    /// The FN holds a document for a job already done elsewhere (resent while in doubt): the
    /// duplicate is on record with the refund job that annuls it (to be run).
    case duplicate(annul: ReceiptJob)
    /// The FN holds no document for the job; the intent is released and the job is free to go anywhere.
    case absent
}

/// An intent to reconcile: the job and the FN's last document number before it was sent.
struct PendingIntent: Sendable {
    var jobUUID: UUID
    var lastDocumentNumber: Int64
}

/// How far `sell` got: a document to record, or the attempt is over already.
enum Sale: Sendable {
    case document(FiscalDocument)
    case over(AttemptOutcome)
}

/// What became of the intent for the kassa's next job, written with a commit.
enum NextIntent: Sendable, Equatable {
    /// Durable: the next job may be sent to the kassa at once.
    case written
    /// Not written: the next job goes back to the queue, nothing of it changed.
    case notWritten
    /// The commit failed in a way that leaves its intent unknown: it must be released (or
    /// reconciled) before the job goes anywhere else.
    case unknown
}

/// The exactly-once steps for one receipt on one kassa: intent, sale, fenced commit.
///
/// Between two receipts on a kassa the commit of the first carries the intent of the second
/// (`record(_:job:body:on:thenIntent:)`), so a busy kassa waits for one registry round trip between
/// sales, not two.
struct Fiscalization: Sendable {
    let registry: Registry
    let configuration: DispatcherConfiguration
    let logger: Logger

    /// Writes the intent; a job the registry does not know yet (its registration failed while
    /// the registry was away, e.g. during a failover) is registered first, then the intent written.
    private func writeIntent(_ job: ReceiptJob, on kassa: LeasedKassa, resend: Bool) async throws -> IntentOutcome {
        do {
            return try await registry.writeIntent(kassaID: kassa.id, jobUUID: job.uuid, epoch: kassa.epoch,
                                                  lastDocumentNumber: kassa.lastDocumentNumber, allowElsewhere: resend)
        } catch RegistryError.notFound(let what) where what == "job \(job.uuid)" {
            logger.notice("job not registered yet (the registry was away when it arrived): registering it now", metadata: ["job": "\(job.uuid)"])
            _ = try await registry.admitJob(
                uuid: job.uuid, tenantID: job.tenantID, groupCode: job.groupCode, externalID: job.externalID,
                operation: job.operation.rawValue, acceptedAt: job.acceptedAt, callbackURL: job.callbackURL,
                body: String(decoding: job.encoded(), as: UTF8.self))
            return try await registry.writeIntent(kassaID: kassa.id, jobUUID: job.uuid, epoch: kassa.epoch,
                                                  lastDocumentNumber: kassa.lastDocumentNumber, allowElsewhere: resend)
        }
    }

    /// The first two steps: the intent (unless it went with the previous receipt's commit),
    /// fenced by our epoch, then the sale. The third is `record`.
    /// - Parameters:
    ///   - resend: resend-and-annul is sending a job in doubt on another kassa here.
    ///   - intentWritten: the intent is on record already (written with the previous commit).
    func sell(_ job: ReceiptJob, on kassa: LeasedKassa, resend: Bool = false, intentWritten: Bool = false) async -> Sale {
        // 1. The intent: from here on the job may be in the kassa.
        if !intentWritten {
            do {
                switch try await writeIntent(job, on: kassa, resend: resend) {
                case .written: break
                case .jobFinished: return .over(.finishedElsewhere)
                case .inDoubtElsewhere(let other): return .over(.inDoubtElsewhere(kassaID: other))
                }
            } catch RegistryError.fenced {
                return .over(.leaseLost(inDoubt: false))
            } catch {
                return .over(.registryUnavailable(reason: "writing the intent failed: \(error)"))
            }
        }
        // 2. The sale.
        do {
            let client = try await kassa.session.connected()
            return .document(try await client.sell(SellRequest(receiptJob: job, defaultSNO: kassa.defaultSNO), epoch: kassa.epoch,
                                                   timeout: configuration.sellTimeout))
        } catch let error as KassaClientError {
            if error.isInDoubt {
                await kassa.session.reset()
                logger.with(job: job.uuid, kassa: kassa.id).warning("receipt in doubt", metadata: ["error": "\(error)"])
                if configuration.unsafeSkipReconcile {
                    return .over(await release(job.uuid, on: kassa, reason: "in doubt, assumed not made (unsafe)",
                                               lastDocumentNumber: kassa.lastDocumentNumber))
                }
                return .over(.inDoubt(reason: "\(error)"))
            }
            await kassa.session.reset()
            return .over(await refused(job, on: kassa, error: error))
        } catch {
            await kassa.session.reset()
            return .over(.inDoubt(reason: "\(error)"))
        }
    }

    /// The kassa answered that it made no document (or could not be reached before sending).
    private func refused(_ job: ReceiptJob, on kassa: LeasedKassa, error: KassaClientError) async -> AttemptOutcome {
        guard case .refused(let wire) = error else {
            // Nothing was sent (could not connect): drop the intent, move the job.
            return await release(job.uuid, on: kassa, reason: "\(error)", lastDocumentNumber: kassa.lastDocumentNumber)
        }
        if wire.code == .staleEpoch {
            return .leaseLost(inDoubt: false)
        }
        if wire.code.isTenantFixable {
            let atol = ATOLError(code: wire.code.driverCode ?? 1, text: wire.text, type: wire.code == .innMismatch ? "agent" : "driver")
            do {
                try await registry.failJob(jobUUID: job.uuid, kassaID: kassa.id, epoch: kassa.epoch, code: atol.code, type: atol.type, text: atol.text)
                logger.with(job: job.uuid, kassa: kassa.id).info("receipt failed: the tenant must fix it", metadata: ["reason": "\(wire.code.rawValue)"])
                return .durable
            } catch RegistryError.fenced {
                return .leaseLost(inDoubt: false)
            } catch {
                return .retryElsewhere(reason: "recording the failure failed: \(error)")
            }
        }
        if wire.code == .shiftExpired {
            // Close the stale shift (a Z-report) so the next attempt opens a fresh one.
            if let client = try? await kassa.session.connected() {
                _ = try? await client.closeShift(epoch: kassa.epoch)
            }
        }
        return await release(job.uuid, on: kassa, reason: "\(wire.code.rawValue): \(wire.text)", lastDocumentNumber: kassa.lastDocumentNumber)
    }

    private func release(_ uuid: UUID, on kassa: LeasedKassa, reason: String, lastDocumentNumber: Int64) async -> AttemptOutcome {
        do {
            try await registry.releaseIntent(kassaID: kassa.id, jobUUID: uuid, epoch: kassa.epoch, lastDocumentNumber: lastDocumentNumber)
        } catch RegistryError.fenced {
            return .leaseLost(inDoubt: false)
        } catch {
            // The intent stays; reconciliation will find no document and free the job.
            return .inDoubt(reason: "releasing the intent failed: \(error)")
        }
        return .retryElsewhere(reason: reason)
    }

    /// How long a commit is retried while the registry is away (a failover takes about 10 s)
    /// before the job is left in doubt for reconciliation.
    static let commitRetryLimit: Duration = .seconds(60)

    /// Commits with the document in hand. While the registry is away (a failover) the same
    /// commit is retried: it is fenced and idempotent (a retry after a commit whose answer was
    /// lost finds `.alreadyRecorded`), and the document is known, so the job is not in doubt
    /// and must not be resent elsewhere meanwhile.
    private func commit(_ result: FiscalResultRecord, job uuid: UUID, on kassa: LeasedKassa, thenIntent next: UUID?) async throws -> (CommitOutcome, next: NextIntentOutcome?) {
        let start = ContinuousClock.now
        var pause: Duration = .milliseconds(200)
        while true {
            do {
                return try await registry.commitResult(result, jobUUID: uuid, kassaID: kassa.id, epoch: kassa.epoch, thenIntent: next)
            } catch let error as RegistryError where error.isTransient && ContinuousClock.now - start < Self.commitRetryLimit {
                logger.with(job: uuid, kassa: kassa.id).notice("registry away: retrying the commit with the document in hand", metadata: ["error": "\(error)"])
                try? await Task.sleep(for: pause)
                pause = min(pause * 2, .seconds(2))
            }
        }
    }

    /// The third step: the result, the intent's removal and the document counter in one fenced
    /// statement, with the intent of the kassa's next job when there is one.
    func record(_ document: FiscalDocument, job uuid: UUID, body: ReceiptJob?, on kassa: LeasedKassa,
                thenIntent next: UUID? = nil) async -> (AttemptOutcome, next: NextIntent) {
        // A failed commit leaves the next intent unknown, except a fenced one (nothing changed).
        var nextIntent: NextIntent = next == nil ? .notWritten : .unknown
        do {
            let (outcome, nextOutcome) = try await commit(FiscalResultRecord(document: document, jobUUID: uuid, kassaID: kassa.id, epoch: kassa.epoch),
                                                          job: uuid, on: kassa, thenIntent: next)
            nextIntent = nextOutcome == .written ? .written : .notWritten
            kassa.advance(to: document.fiscalDocumentNumber)
            guard case .duplicate(let existing) = outcome else { return (.durable, nextIntent) }
            // Only a receipt resent while in doubt (resend-and-annul) gets here: both kassas
            // made a document. The one recorded first stands; this one is annulled by a refund.
            logger.with(job: uuid, kassa: kassa.id).warning("a second document for a recorded job: annulling it", metadata: [
                "fn": "\(document.fnSerial)", "fiscal_document_number": "\(document.fiscalDocumentNumber)",
                "recorded_fn": "\(existing.fnSerial)", "recorded_fiscal_document_number": "\(existing.fiscalDocumentNumber)",
            ])
            return (try await annul(document, job: uuid, body: body, on: kassa), nextIntent)
        } catch RegistryError.fenced {
            return (.leaseLost(inDoubt: true), nextIntent == .unknown ? .notWritten : nextIntent)
        } catch {
            // The document exists but is not recorded: reconcile from the archive.
            return (.inDoubt(reason: "recording the result failed: \(error)"), nextIntent)
        }
    }

    /// Puts the duplicate on record with its refund job (the intent goes in the same transaction).
    private func annul(_ document: FiscalDocument, job uuid: UUID, body: ReceiptJob?, on kassa: LeasedKassa) async throws -> AttemptOutcome {
        var job = body
        if job == nil, let text = try await registry.jobBody(uuid: uuid) {
            job = try ReceiptJob.decode(Array(text.utf8))
        }
        guard let job else { throw RegistryError.notFound("the body of job \(uuid), needed to annul its duplicate") }
        let refund = job.annulment(fnSerial: document.fnSerial, fiscalDocumentNumber: document.fiscalDocumentNumber, at: Date())
        let record = AnnulmentRecord(jobUUID: uuid, kassaID: kassa.id, fnSerial: document.fnSerial,
                                     fiscalDocumentNumber: document.fiscalDocumentNumber,
                                     fiscalDocumentAttribute: Int64(document.fiscalDocumentAttribute),
                                     totalKopecks: document.total ?? 0, annulJobUUID: refund.uuid)
        try await registry.recordDuplicate(record, epoch: kassa.epoch, tenantID: job.tenantID, groupCode: job.groupCode,
                                           annulExternalID: refund.externalID, annulOperation: refund.operation.rawValue,
                                           annulBody: String(decoding: refund.encoded(), as: UTF8.self))
        return .duplicate(annul: refund)
    }

    /// Reads the FN archive after the intent's document number: a document carrying the job id
    /// is recorded; none means the job never reached the FN and is released.
    func reconcile(_ intent: PendingIntent, body: ReceiptJob?, on kassa: LeasedKassa) async throws -> ReconcileOutcome {
        let client = try await kassa.session.connected()
        var after = intent.lastDocumentNumber
        var last = after
        while true {
            let page = try await client.archive(after: after, limit: 1000)
            if let document = page.documents.first(where: { $0.jobID == intent.jobUUID.uuidString.lowercased() }) {
                switch await record(document, job: intent.jobUUID, body: body, on: kassa).0 {
                case .durable: return .recorded
                case .duplicate(let annul): return .duplicate(annul: annul)
                case .leaseLost: throw RegistryError.fenced("lease lost while recording a reconciled document")
                default: throw RegistryError.connection("could not record the reconciled document")
                }
            }
            last = max(last, page.lastDocumentNumber)
            guard let highest = page.documents.last?.fiscalDocumentNumber, highest > after else { break }
            after = highest
        }
        try await registry.releaseIntent(kassaID: kassa.id, jobUUID: intent.jobUUID, epoch: kassa.epoch, lastDocumentNumber: last)
        kassa.advance(to: last)
        return .absent
    }
}

extension Logger {
    /// A copy carrying the job and kassa as metadata. Made where a message is logged, not per
    /// receipt: every metadata change re-renders the stream handler's metadata text.
    func with(job: UUID, kassa: Int64) -> Logger {
        var copy = self
        copy[metadataKey: "job"] = "\(job.uuidString.lowercased())"
        copy[metadataKey: "kassa"] = "\(kassa)"
        return copy
    }
}

extension SellRequest {
    /// The kassa's view of a receipt job; the job uuid travels as tag 1192. A receipt without
    /// `sno` uses the tenant's tax system (ATOL allows omitting it when there is only one).
    init(receiptJob job: ReceiptJob, defaultSNO: String) {
        let r = job.receipt
        self.init(
            job: job.uuid,
            operation: WireOperation(rawValue: job.operation.rawValue) ?? .sell,
            inn: r.company.inn,
            paymentAddress: r.company.paymentAddress,
            sno: r.company.sno?.rawValue ?? defaultSNO,
            client: WireClient(email: r.client.email, phone: r.client.phone),
            items: r.items.map {
                WireItem(name: $0.name, price: $0.price, quantity: $0.quantity, sum: $0.sum, vat: $0.vat,
                         paymentMethod: $0.paymentMethod, paymentObject: $0.paymentObject)
            },
            payments: r.payments.map { WirePayment(type: $0.type, sum: $0.sum) },
            total: r.total
        )
        annuls = job.annuls?.uuidString.lowercased()
    }
}

extension FiscalResultRecord {
    init(document: FiscalDocument, jobUUID: UUID, kassaID: Int64, epoch: Int64) {
        self.init(fnSerial: document.fnSerial, registrationNumber: document.registrationNumber,
                  fiscalDocumentNumber: document.fiscalDocumentNumber, fiscalDocumentAttribute: Int64(document.fiscalDocumentAttribute),
                  fiscalReceiptNumber: Int(document.fiscalReceiptNumber ?? 0), shiftNumber: Int(document.shiftNumber),
                  receiptDatetime: document.datetime, totalKopecks: document.total ?? 0,
                  jobUUID: jobUUID, kassaID: kassaID, leaseEpoch: epoch, createdAt: nil)
    }
}
