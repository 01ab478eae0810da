import Foundation

/// "Job X is (about to be) on kassa K": written before a receipt is sent, dropped when its
/// outcome is recorded. While it exists, the kassa takes no other receipt; after a timeout or
/// crash it tells reconciliation which job to look for in the FN archive, and from which
/// document number.
public struct IntentRecord: Sendable, Equatable {
    public var kassaID: Int64
    public var jobUUID: UUID
    /// The epoch of the lease under which the intent was written.
    public var leaseEpoch: Int64
    /// The FN's last document number before the receipt was sent: reconciliation reads the
    /// archive after it.
    public var lastDocumentNumber: Int64
    public var createdAt: Date

    init(row: PostgresRow) throws {
        kassaID = try row.int64("kassa_id")
        jobUUID = try row.uuid("job_uuid")
        leaseEpoch = try row.int64("lease_epoch")
        lastDocumentNumber = try row.int64("last_document_number")
        createdAt = try row.date("created_at")
    }

    static let columns = "kassa_id, job_uuid, lease_epoch, last_document_number, created_at"
}

/// What `writeIntent` found.
public enum IntentOutcome: Sendable, Equatable {
    /// The intent is on record: the receipt may be sent.
    case written
    /// The job is no longer waiting (done or failed, e.g. by a dispatcher that had it before a
    /// rebalance): there is nothing to send.
    case jobFinished(JobStatus)
    /// Another kassa holds an intent for the job: the receipt may be in that FN, so it must not
    /// be sent anywhere until that intent is reconciled.
    case inDoubtElsewhere(kassaID: Int64)
}

/// One `writeIntent` call, as it waits for its batch.
struct IntentWrite: Sendable {
    var kassaID: Int64
    var jobUUID: UUID
    var epoch: Int64
    var lastDocumentNumber: Int64
    var allowElsewhere: Bool
}

extension Registry {
    /// Writes the intent for `jobUUID` on the kassa, fenced by `epoch`, unless the job is
    /// finished or in doubt on another kassa — one transaction that first locks the job's row, so
    /// two dispatchers (one that just took the job's partition, one that had it) cannot both
    /// put the same job on two kassas.
    ///
    /// The fence reads the kassa row `FOR SHARE`: a concurrent `acquireLease` (an UPDATE of that
    /// row) waits for this statement, or this statement sees its new epoch; either way the next
    /// owner finds the intent. Writing the same intent again (same job and epoch) succeeds, so a
    /// call that failed with `.connection` can be repeated.
    /// - Parameter allowElsewhere: resend-and-annul sends a job in doubt to a second kassa on
    ///   purpose; only then may another kassa hold an intent for it.
    /// - Throws: `.fenced` when the kassa is not at `epoch`; `.conflict` when the kassa has an
    ///   intent for another job or epoch; `.notFound` for an unknown kassa or job.
    @discardableResult
    public func writeIntent(kassaID: Int64, jobUUID: UUID, epoch: Int64, lastDocumentNumber: Int64,
                            allowElsewhere: Bool = false) async throws -> IntentOutcome {
        // One call to the registry's write_intent (migration 5), batched with whatever other
        // intents this process writes meanwhile: the steps below run there.
        let write = IntentWrite(kassaID: kassaID, jobUUID: jobUUID, epoch: epoch, lastDocumentNumber: lastDocumentNumber,
                                allowElsewhere: allowElsewhere)
        let row = try await intentWrites.run(write) { writes in await self.writeIntentRows(writes) }
        return try Self.intentOutcome(row, kassaID: kassaID, jobUUID: jobUUID, epoch: epoch)
    }

    /// What write_intent answered, from its columns (named with `prefix` where another
    /// function passes them on; `seen_epoch` is the kassa's either way).
    static func intentOutcome(_ row: PostgresRow, prefix: String = "", kassaID: Int64, jobUUID: UUID, epoch: Int64) throws -> IntentOutcome {
        // 1. The job's row, locked: it orders concurrent intent writers for one job.
        guard try row.bool(prefix + "job_found") else { throw RegistryError.notFound("job \(jobUUID)") }
        let status = JobStatus(rawValue: try row.string(prefix + "job_status")) ?? .wait
        if status != .wait { return .jobFinished(status) }
        // 2. An intent for the job on another kassa (seen with a snapshot taken after the lock).
        if let other = try row.optionalInt64(prefix + "elsewhere") { return .inDoubtElsewhere(kassaID: other) }
        // 3. The fence and the insert.
        guard try row.bool(prefix + "fence_held") else {
            throw fenceError(kassaID: kassaID, epoch: epoch, seenEpoch: try row.optionalInt64("seen_epoch"))
        }
        if try row.bool(prefix + "inserted") { return .written }
        let heldJob = try row.optionalUUID(prefix + "held_job")
        let heldEpoch = try row.optionalInt64(prefix + "held_epoch")
        if heldJob == jobUUID, heldEpoch == epoch { return .written }  // a repeat of our own write
        let holder = heldJob.map { "job \($0) at epoch \(heldEpoch.map { String($0) } ?? "?")" } ?? "another job"
        throw RegistryError.conflict("kassa \(kassaID) already has an intent for \(holder)")
    }

    /// Runs write_intent for each write, in one statement however many there are (each write
    /// still sees what the ones before it did: the function takes a fresh snapshot per step).
    /// See `rowsPerInput` for errors.
    func writeIntentRows(_ writes: [IntentWrite]) async -> [Result<PostgresRow, any Error>] {
        await rowsPerInput(writes, inKassaOrder: \.kassaID, what: "write_intent") { connection, writes in
            try connection.query("""
                SELECT w.* FROM unnest($1::bigint[], $2::uuid[], $3::bigint[], $4::bigint[], $5::boolean[]) WITH ORDINALITY
                    AS x (kassa_id, job_uuid, epoch, last_document_number, allow_elsewhere, n)
                CROSS JOIN LATERAL write_intent(x.kassa_id, x.job_uuid, x.epoch, x.last_document_number, x.allow_elsewhere) AS w
                ORDER BY x.n
                """, [PostgresText.array(writes.map(\.kassaID)), PostgresText.array(writes.map { $0.jobUUID.uuidString }),
                      PostgresText.array(writes.map(\.epoch)), PostgresText.array(writes.map(\.lastDocumentNumber)),
                      PostgresText.array(writes.map { $0.allowElsewhere ? "true" : "false" })])
        }
    }

    /// The kassa's open intent, if any.
    public func intent(kassaID: Int64) async throws -> IntentRecord? {
        try await withConnection { connection in
            try connection.query("SELECT \(IntentRecord.columns) FROM intents WHERE kassa_id = $1::bigint", [String(kassaID)])
                .first.map(IntentRecord.init(row:))
        }
    }

    /// The open intents of these kassas, in one query, by kassa id.
    public func intents(kassaIDs: [Int64]) async throws -> [IntentRecord] {
        guard !kassaIDs.isEmpty else { return [] }
        return try await withConnection { connection in
            try connection.query("""
                SELECT \(IntentRecord.columns) FROM intents WHERE kassa_id = ANY ($1::bigint[]) ORDER BY kassa_id
                """, [PostgresText.array(kassaIDs)]).map(IntentRecord.init(row:))
        }
    }

    /// After reconciliation found no document for the job: drops the intent (the job is free to
    /// go to any kassa) and raises the kassa's last document number to what the archive showed.
    /// Fenced by `epoch` like `commitResult`; one statement.
    /// - Returns: true if the intent existed and was dropped.
    /// - Throws: `.fenced` (nothing changed) or `.notFound` for an unknown kassa.
    @discardableResult
    public func releaseIntent(kassaID: Int64, jobUUID: UUID, epoch: Int64, lastDocumentNumber: Int64) async throws -> Bool {
        let rows = try await withConnection { connection in
            try connection.query("""
                WITH fence AS (
                    UPDATE kassas SET last_document_number = greatest(last_document_number, $4::bigint)
                    WHERE id = $1::bigint AND lease_epoch = $3::bigint
                    RETURNING id
                ), cleared AS (
                    DELETE FROM intents
                    WHERE kassa_id = $1::bigint AND job_uuid = $2::uuid AND EXISTS (SELECT 1 FROM fence)
                    RETURNING kassa_id
                )
                SELECT (SELECT count(*) FROM fence) AS fence_held,
                       (SELECT count(*) FROM cleared) AS cleared,
                       (SELECT lease_epoch FROM kassas WHERE id = $1::bigint) AS seen_epoch
                """, [String(kassaID), jobUUID.uuidString, String(epoch), String(lastDocumentNumber)])
        }
        guard let row = rows.first else { throw RegistryError.decoding("releaseIntent returned no row") }
        guard try row.int64("fence_held") == 1 else {
            throw Self.fenceError(kassaID: kassaID, epoch: epoch, seenEpoch: try row.optionalInt64("seen_epoch"))
        }
        return try row.int64("cleared") == 1
    }
}
