import Foundation

/// Where a job stands, as the shop's report shows it.
public enum JobStatus: String, Sendable, CaseIterable {
    case wait, done, fail
}

extension PostgresRow {
    /// A job status column; an unknown value is a decoding error naming it.
    func jobStatus(_ column: String) throws -> JobStatus {
        let text = try string(column)
        guard let status = JobStatus(rawValue: text) else {
            throw RegistryError.decoding("column '\(column)': unknown job status '\(text)'")
        }
        return status
    }
}

/// A receipt job as registered.
public struct JobRecord: Sendable, Equatable {
    public var uuid: UUID
    public var tenantID: Int64
    public var groupCode: String
    public var externalID: String
    /// `sell`, `sell_refund`, `sell_correction`, `buy`, `buy_refund`, `buy_correction`.
    public var operation: String
    public var status: JobStatus
    /// When the ingress accepted the receipt (its clock).
    public var acceptedAt: Date
    /// When the registry first saw the job (database clock).
    public var registeredAt: Date
    public var callbackURL: String?
    /// The kassa that fiscalized the job, or that failed it.
    public var kassaID: Int64?
    public var errorCode: Int?
    public var errorType: String?
    public var errorText: String?
    public var finishedAt: Date?
    /// When the job was flagged as still queued past its tenant's deadline (`markLate`); nil
    /// when it is not late, and cleared when the job is re-opened for a resend.
    public var lateAt: Date?
    /// How many times the failed job was re-opened and re-sent (`reopenForResend`).
    public var resendCount: Int
    /// When it was last re-opened for a resend.
    public var lastResentAt: Date?

    init(row: PostgresRow) throws {
        uuid = try row.uuid("uuid")
        tenantID = try row.int64("tenant_id")
        groupCode = try row.string("group_code")
        externalID = try row.string("external_id")
        operation = try row.string("operation")
        status = try row.jobStatus("status")
        acceptedAt = try row.date("accepted_at")
        registeredAt = try row.date("registered_at")
        callbackURL = try row.optionalString("callback_url")
        kassaID = try row.optionalInt64("kassa_id")
        errorCode = try row.optionalInt("error_code")
        errorType = try row.optionalString("error_type")
        errorText = try row.optionalString("error_text")
        finishedAt = try row.optionalDate("finished_at")
        lateAt = try row.optionalDate("late_at")
        resendCount = try row.int("resend_count")
        lastResentAt = try row.optionalDate("last_resent_at")
    }
}

/// The fiscal attributes of one document the FN issued for a job.
///
/// Build it with the attributes from the kassa's answer (or from the FN archive during
/// reconciliation) and pass it to `commitResult`; `jobUUID`, `kassaID`, `leaseEpoch` and
/// `createdAt` are the registry's bookkeeping, filled in when a record is read back (values
/// set by the caller are ignored by `commitResult`, which takes them as arguments).
public struct FiscalResultRecord: Sendable, Equatable {
    public var fnSerial: String
    public var registrationNumber: String
    /// ФД: the document's number on the FN.
    public var fiscalDocumentNumber: Int64
    /// ФПД: the fiscal sign.
    public var fiscalDocumentAttribute: Int64
    /// Receipt number within the shift.
    public var fiscalReceiptNumber: Int
    public var shiftNumber: Int
    /// As the kassa printed it (e.g. `01.05.2024 12:34:56`), kept verbatim for the report.
    public var receiptDatetime: String
    public var totalKopecks: Int64

    public var jobUUID: UUID?
    public var kassaID: Int64?
    public var leaseEpoch: Int64?
    public var createdAt: Date?

    public init(
        fnSerial: String, registrationNumber: String, fiscalDocumentNumber: Int64,
        fiscalDocumentAttribute: Int64, fiscalReceiptNumber: Int, shiftNumber: Int,
        receiptDatetime: String, totalKopecks: Int64,
        jobUUID: UUID? = nil, kassaID: Int64? = nil, leaseEpoch: Int64? = nil, createdAt: Date? = nil
    ) {
        self.fnSerial = fnSerial
        self.registrationNumber = registrationNumber
        self.fiscalDocumentNumber = fiscalDocumentNumber
        self.fiscalDocumentAttribute = fiscalDocumentAttribute
        self.fiscalReceiptNumber = fiscalReceiptNumber
        self.shiftNumber = shiftNumber
        self.receiptDatetime = receiptDatetime
        self.totalKopecks = totalKopecks
        self.jobUUID = jobUUID
        self.kassaID = kassaID
        self.leaseEpoch = leaseEpoch
        self.createdAt = createdAt
    }

    /// Whether both name the same FN document.
    public func isSameDocument(as other: FiscalResultRecord) -> Bool {
        fnSerial == other.fnSerial && fiscalDocumentNumber == other.fiscalDocumentNumber
    }

    /// Reads columns named with `prefix` (for joins).
    init(row: PostgresRow, prefix: String = "") throws {
        fnSerial = try row.string(prefix + "fn_serial")
        registrationNumber = try row.string(prefix + "registration_number")
        fiscalDocumentNumber = try row.int64(prefix + "fiscal_document_number")
        fiscalDocumentAttribute = try row.int64(prefix + "fiscal_document_attribute")
        fiscalReceiptNumber = try row.int(prefix + "fiscal_receipt_number")
        shiftNumber = try row.int(prefix + "shift_number")
        receiptDatetime = try row.string(prefix + "receipt_datetime")
        totalKopecks = try row.int64(prefix + "total_kopecks")
        jobUUID = try row.uuid(prefix + "job_uuid")
        kassaID = try row.int64(prefix + "kassa_id")
        leaseEpoch = try row.int64(prefix + "lease_epoch")
        createdAt = try row.date(prefix + "created_at")
    }

    static func columns(alias: String, prefix: String) -> String {
        ["job_uuid", "kassa_id", "lease_epoch", "fn_serial", "registration_number", "fiscal_document_number",
         "fiscal_document_attribute", "fiscal_receipt_number", "shift_number", "receipt_datetime",
         "total_kopecks", "created_at"]
            .map { "\(alias).\($0) AS \(prefix)\($0)" }.joined(separator: ", ")
    }
}

/// What `commitResult` did.
public enum CommitOutcome: Sendable, Equatable {
    /// The result is now on record: job done, intent dropped, document number advanced.
    case recorded
    /// This very document was already on record for the job (a retried commit); nothing new.
    case alreadyRecorded
    /// A DIFFERENT document is on record for the job: the receipt was fiscalized twice. The new
    /// document is not recorded (the job keeps `existing`) and the document number is advanced,
    /// since the kassa did issue it; the intent STAYS, so the kassa is not used (and the
    /// duplicate not forgotten) until `recordDuplicate` has put the annulment on record.
    case duplicate(existing: FiscalResultRecord)
}

/// What became of the next job's intent that a commit was asked to write (`commitResult(_:jobUUID:kassaID:epoch:thenIntent:)`).
public enum NextIntentOutcome: Sendable, Equatable {
    /// On record, durable with the commit: the next job may be sent to the kassa.
    case written
    /// Not written, and nothing of the next job changed: the commit did not record this job's
    /// document (a duplicate keeps its intent), or the next job is finished, unknown, or in
    /// doubt on another kassa. It can go the usual way (`writeIntent`), which tells which.
    case notWritten(reason: String)
}

/// One `commitResult` call, as it waits for its batch.
struct ResultCommit: Sendable {
    var result: FiscalResultRecord
    var jobUUID: UUID
    var kassaID: Int64
    var epoch: Int64
    /// The kassa's next job, whose intent goes in the same transaction.
    var nextJob: UUID? = nil
}

extension Registry {
    private static let jobColumns = """
        j.uuid, j.tenant_id, j.group_code, j.external_id, j.operation, j.status, j.accepted_at,
        j.registered_at, j.callback_url, j.kassa_id, j.error_code, j.error_type, j.error_text, j.finished_at,
        j.late_at, j.resend_count, j.last_resent_at
        """

    /// Registers a job once. Returns true if this call inserted it, false if it was known (same
    /// uuid, or same group code and external id). Throws `.notFound` for an unknown tenant.
    ///
    /// `body` is the job's JSON exactly as published on the job topic; it is stored on insert
    /// (never changed by a repeat) so a failed receipt can be re-sent without the topic. A job
    /// registered without a body cannot be re-sent.
    @discardableResult
    public func registerJob(uuid: UUID, tenantID: Int64, groupCode: String, externalID: String,
                            operation: String, acceptedAt: Date, callbackURL: String?,
                            body: String? = nil) async throws -> Bool {
        let params: [String?] = [uuid.uuidString, String(tenantID), groupCode, externalID, operation,
                                 PostgresText.timestamp(acceptedAt), callbackURL, body]
        let rows = try await withConnection { connection in
            try mapConstraintErrors {
                try connection.query("""
                    INSERT INTO jobs (uuid, tenant_id, group_code, external_id, operation, status,
                                      accepted_at, callback_url, body)
                    VALUES ($1::uuid, $2::bigint, $3, $4, $5, 'wait', $6::timestamptz, $7, $8)
                    ON CONFLICT DO NOTHING
                    RETURNING uuid
                    """, params)
            }
        }
        return !rows.isEmpty
    }

    /// Flags a job still queued (status `wait`) as past its tenant's deadline: sets `late_at`
    /// to now, once. Returns true if this call flagged it; false if it was already flagged, is
    /// done or failed, or is unknown.
    @discardableResult
    public func markLate(jobUUID: UUID) async throws -> Bool {
        try await withConnection { connection in
            try connection.execute("""
                UPDATE jobs SET late_at = now()
                WHERE uuid = $1::uuid AND status = 'wait' AND late_at IS NULL
                """, [jobUUID.uuidString]) == 1
        }
    }

    /// What `admitJob` found: a new job, or a known one with its status.
    public enum Admission: Sendable, Equatable {
        /// Registered by this call.
        case registered
        /// Known already; `lastResentAt` is set when it was re-sent.
        case known(status: JobStatus, lastResentAt: Date?)
    }

    /// `registerJob` and, for a known job, its status, in one statement (`admitJobs` of one job).
    public func admitJob(uuid: UUID, tenantID: Int64, groupCode: String, externalID: String, operation: String,
                         acceptedAt: Date, callbackURL: String?, body: String?) async throws -> Admission {
        let answers = try await admitJobs([JobAdmission(uuid: uuid, tenantID: tenantID, groupCode: groupCode, externalID: externalID,
                                                        operation: operation, acceptedAt: acceptedAt, callbackURL: callbackURL, body: body)])
        guard let answer = answers.first else { throw RegistryError.decoding("admitJob returned no answer") }
        return answer
    }

    /// One job as a dispatcher takes it from the topic, for `admitJobs`.
    public struct JobAdmission: Sendable {
        public var uuid: UUID
        public var tenantID: Int64
        public var groupCode: String
        public var externalID: String
        public var operation: String
        public var acceptedAt: Date
        public var callbackURL: String?
        public var body: String?

        public init(uuid: UUID, tenantID: Int64, groupCode: String, externalID: String, operation: String,
                    acceptedAt: Date, callbackURL: String?, body: String?) {
            self.uuid = uuid
            self.tenantID = tenantID
            self.groupCode = groupCode
            self.externalID = externalID
            self.operation = operation
            self.acceptedAt = acceptedAt
            self.callbackURL = callbackURL
            self.body = body
        }
    }

    /// `admitJob` for many jobs in one statement, answers in the jobs' order. A dispatcher admits
    /// whatever it took from the topic while the previous batch was on its way (group commit):
    /// with the registry a WAN round trip away, one statement per job would cap a dispatcher at
    /// one job per round trip. A uuid repeated within the batch is registered by its first
    /// occurrence; the others are answered `known` (waiting).
    public func admitJobs(_ jobs: [JobAdmission]) async throws -> [Admission] {
        guard !jobs.isEmpty else { return [] }
        let params: [String?] = [
            PostgresText.array(jobs.map { $0.uuid.uuidString }),
            PostgresText.array(jobs.map(\.tenantID)),
            PostgresText.array(jobs.map(\.groupCode)),
            PostgresText.array(jobs.map(\.externalID)),
            PostgresText.array(jobs.map(\.operation)),
            PostgresText.array(jobs.map { PostgresText.timestamp($0.acceptedAt) }),
            PostgresText.array(jobs.map(\.callbackURL)),
            PostgresText.array(jobs.map(\.body)),
        ]
        let rows = try await withConnection { connection in
            try mapConstraintErrors {
                // As in admitJob, the outer SELECT reads the snapshot from before the insert.
                try connection.query("""
                    WITH input AS (
                        SELECT * FROM unnest($1::uuid[], $2::bigint[], $3::text[], $4::text[], $5::text[],
                                             $6::timestamptz[], $7::text[], $8::text[]) WITH ORDINALITY
                            AS i (uuid, tenant_id, group_code, external_id, operation, accepted_at, callback_url, body, n)
                    ), inserted AS (
                        INSERT INTO jobs (uuid, tenant_id, group_code, external_id, operation, status,
                                          accepted_at, callback_url, body)
                        SELECT uuid, tenant_id, group_code, external_id, operation, 'wait', accepted_at, callback_url, body
                        FROM input ORDER BY n
                        ON CONFLICT DO NOTHING
                        RETURNING uuid
                    )
                    SELECT i.n, i.n = min(i.n) OVER (PARTITION BY i.uuid) AND i.uuid IN (SELECT uuid FROM inserted) AS inserted,
                           j.status, j.last_resent_at
                    FROM input i LEFT JOIN jobs j ON j.uuid = i.uuid
                    ORDER BY i.n
                    """, params)
            }
        }
        guard rows.count == jobs.count else {
            throw RegistryError.decoding("admitJobs answered \(rows.count) rows for \(jobs.count) jobs")
        }
        return try rows.map { row in
            if try row.bool("inserted") { return .registered }
            // Known under another uuid by (group code, external id), or a repeat within the batch.
            guard let status = try row.optionalString("status").flatMap(JobStatus.init(rawValue:)) else {
                return .known(status: .wait, lastResentAt: nil)
            }
            return .known(status: status, lastResentAt: try row.optionalDate("last_resent_at"))
        }
    }

    /// A job with its fiscal result when it has one.
    public func job(uuid: UUID) async throws -> (JobRecord, FiscalResultRecord?)? {
        try await jobWithResult(where: "j.uuid = $1::uuid", [uuid.uuidString]).map { ($0.job, $0.result) }
    }

    public func job(groupCode: String, externalID: String) async throws -> (JobRecord, FiscalResultRecord?)? {
        try await jobWithResult(where: "j.group_code = $1 AND j.external_id = $2", [groupCode, externalID]).map { ($0.job, $0.result) }
    }

    /// The group code of the job, nil when the registry does not know it: the ingress's check
    /// for a repeat, made on every receipt. Calls made at the same time go to the server
    /// together, one statement for many (see `GroupCommit`).
    public func groupCode(ofJob uuid: UUID) async throws -> String? {
        try await jobLookups.run(uuid) { uuids in
            do {
                let known = try await self.groupCodes(ofJobs: uuids)
                return uuids.map { .success(known[$0]) }
            } catch {
                return Array(repeating: .failure(error), count: uuids.count)
            }
        }
    }

    /// One batch of `groupCode(ofJob:)`: the group code of each job the registry knows.
    func groupCodes(ofJobs uuids: [UUID]) async throws -> [UUID: String] {
        let rows = try await withConnection { connection in
            // Alone (as nearly every check is at moderate rates): by the primary key, prepared.
            // Parsing and planning the list form on each run cost PostgreSQL about as much again.
            if uuids.count == 1, let only = uuids.first {
                return try connection.query("SELECT uuid, group_code FROM jobs WHERE uuid = $1::uuid", [only.uuidString])
            }
            return try connection.query("SELECT uuid, group_code FROM jobs WHERE uuid = ANY ($1::uuid[])",
                                        [PostgresText.array(uuids.map { $0.uuidString })], planning: .eachRun)
        }
        var known: [UUID: String] = [:]
        for row in rows { known[try row.uuid("uuid")] = try row.string("group_code") }
        return known
    }

    /// A job as its report shows it: with its result, and whether a duplicate document of it
    /// was annulled (only then are its `annulments(jobUUID:)` worth a second read). One statement.
    public func jobForReport(uuid: UUID) async throws -> (job: JobRecord, result: FiscalResultRecord?, hasAnnulments: Bool)? {
        try await jobWithResult(where: "j.uuid = $1::uuid", [uuid.uuidString])
    }

    private func jobWithResult(where condition: String, _ params: [String?]) async throws -> (job: JobRecord, result: FiscalResultRecord?, hasAnnulments: Bool)? {
        let rows = try await withConnection { connection in
            try connection.query("""
                SELECT \(Self.jobColumns), \(FiscalResultRecord.columns(alias: "r", prefix: "r_")),
                       EXISTS (SELECT 1 FROM annulments a WHERE a.job_uuid = j.uuid) AS has_annulments
                FROM jobs j LEFT JOIN results r ON r.job_uuid = j.uuid
                WHERE \(condition)
                """, params)
        }
        guard let row = rows.first else { return nil }
        let job = try JobRecord(row: row)
        let result = try row.isNull("r_job_uuid") ? nil : FiscalResultRecord(row: row, prefix: "r_")
        return (job, result, try row.bool("has_annulments"))
    }

    /// The fiscal result recorded for a job, if any.
    public func result(jobUUID: UUID) async throws -> FiscalResultRecord? {
        try await withConnection { connection in
            try Self.result(jobUUID: jobUUID, on: connection)
        }
    }

    static func result(jobUUID: UUID, on connection: PostgresConnection) throws -> FiscalResultRecord? {
        try connection.query("""
            SELECT \(FiscalResultRecord.columns(alias: "r", prefix: "")) FROM results r WHERE r.job_uuid = $1::uuid
            """, [jobUUID.uuidString]).first.map { try FiscalResultRecord(row: $0) }
    }

    /// Whether the job is done or failed. An unknown job is not finished.
    public func hasFinished(uuid: UUID) async throws -> Bool {
        try await !finishedJobs(uuids: [uuid]).isEmpty
    }

    /// Of these jobs, the ones done or failed, in one query (the offset watermark checks a
    /// whole batch of redelivered jobs at once).
    public func finishedJobs(uuids: [UUID]) async throws -> Set<UUID> {
        guard !uuids.isEmpty else { return [] }
        let list = PostgresText.array(uuids.map { Optional($0.uuidString) })
        let rows = try await withConnection { connection in
            try connection.query("SELECT uuid FROM jobs WHERE uuid = ANY ($1::uuid[]) AND status <> 'wait'", [list],
                                 planning: .eachRun)
        }
        return Set(try rows.map { try $0.uuid("uuid") })
    }

    /// Of these jobs, each one on record with its status and its body as published (nil for
    /// a job registered without one), in one query: a dispatcher reads back the queued jobs
    /// it kept only by uuid while its queue was long.
    public func queuedJobs(uuids: [UUID]) async throws -> [UUID: (status: JobStatus, body: String?)] {
        guard !uuids.isEmpty else { return [:] }
        let list = PostgresText.array(uuids.map { Optional($0.uuidString) })
        let rows = try await withConnection { connection in
            try connection.query("SELECT uuid, status, body FROM jobs WHERE uuid = ANY ($1::uuid[])", [list], planning: .eachRun)
        }
        var jobs: [UUID: (status: JobStatus, body: String?)] = [:]
        for row in rows {
            jobs[try row.uuid("uuid")] = (try row.jobStatus("status"), try row.optionalString("body"))
        }
        return jobs
    }

    /// The exactly-once commit, in ONE statement (so one round trip, atomic): only if the kassa
    /// is still at lease `epoch`, record `result` for the job (unique by job), mark the job done,
    /// drop the kassa's intent for this job and raise the kassa's last document number to the
    /// result's.
    ///
    /// The fence is an UPDATE of the kassa row, whose lock orders this commit against a
    /// concurrent `acquireLease`: whichever comes second sees the other's effect.
    /// Safe to repeat after a `.connection` error: a repeat reports `.alreadyRecorded`.
    /// - Throws: `.fenced` when the epoch no longer matches (nothing changed); `.notFound` for
    ///   an unknown kassa or job; `.conflict` if this FN document is on record for another job.
    public func commitResult(_ result: FiscalResultRecord, jobUUID: UUID, kassaID: Int64, epoch: Int64) async throws -> CommitOutcome {
        try await commitResult(result, jobUUID: jobUUID, kassaID: kassaID, epoch: epoch, thenIntent: nil).0
    }

    /// `commitResult`, and in the same transaction the intent for the kassa's next job, as
    /// `writeIntent` would write it (fenced by `epoch`, never for a job in doubt elsewhere), with
    /// this document's number as the FN's last: one round trip between two sales on a kassa.
    /// The intent is written only when this document is the job's result (`.recorded` or
    /// `.alreadyRecorded`), since only then is the kassa's intent for this job gone.
    ///
    /// Safe to repeat after a `.connection` error, like `commitResult`: a repeat finds the
    /// document recorded and the next intent its own. After a thrown error the next intent may
    /// or may not be on record (only for `.fenced` is it known not to be).
    /// - Returns: the commit's outcome, and the next intent's (nil without a next job).
    public func commitResult(_ result: FiscalResultRecord, jobUUID: UUID, kassaID: Int64, epoch: Int64,
                             thenIntent nextJob: UUID?) async throws -> (CommitOutcome, next: NextIntentOutcome?) {
        let answer = try await commit(ResultCommit(result: result, jobUUID: jobUUID, kassaID: kassaID, epoch: epoch, nextJob: nextJob))
        guard let nextJob else { return (answer.outcome, nil) }
        guard try answer.row.bool("next_tried") else {
            return (answer.outcome, .notWritten(reason: "the commit did not record this document"))
        }
        do {
            switch try Self.intentOutcome(answer.row, prefix: "next_", kassaID: kassaID, jobUUID: nextJob, epoch: epoch) {
            case .written: return (answer.outcome, .written)
            case .jobFinished(let status): return (answer.outcome, .notWritten(reason: "job \(nextJob) is \(status.rawValue)"))
            case .inDoubtElsewhere(let other):
                return (answer.outcome, .notWritten(reason: "job \(nextJob) has an intent on kassa \(other)"))
            }
        } catch RegistryError.notFound(let reason), RegistryError.fenced(let reason), RegistryError.conflict(let reason) {
            return (answer.outcome, .notWritten(reason: reason))
        }
    }

    private func commit(_ commit: ResultCommit) async throws -> (outcome: CommitOutcome, row: PostgresRow) {
        // One call to commit_and_intend (migration 9), batched with whatever other results
        // this process commits meanwhile.
        let result = commit.result, jobUUID = commit.jobUUID, kassaID = commit.kassaID, epoch = commit.epoch
        let row = try await resultCommits.run(commit) { commits in await self.commitResultRows(commits) }
        guard try row.bool("fence_held") else {
            throw Self.fenceError(kassaID: kassaID, epoch: epoch, seenEpoch: try row.optionalInt64("seen_epoch"))
        }
        if try row.bool("inserted") {
            // A result is added only for a job on record, which the same statement marked done.
            return (.recorded, row)
        }
        // Read in a new statement: a result committed by a racing commit after the commit's
        // snapshot is visible now.
        guard let existing = try await self.result(jobUUID: jobUUID) else {
            // Nothing added and nothing on record: commit_result adds no result for a job it
            // cannot find (migration 8).
            guard try await job(uuid: jobUUID) != nil else { throw RegistryError.notFound("job \(jobUUID)") }
            throw RegistryError.decoding("result for job \(jobUUID) conflicted but cannot be read")
        }
        return (existing.isSameDocument(as: result) ? .alreadyRecorded : .duplicate(existing: existing), row)
    }

    /// Runs commit_and_intend for each commit, in one statement however many there are (each
    /// commit is its own statement inside the function, so one commit's fence and snapshot are
    /// exactly as when it ran alone). See `rowsPerInput` for errors.
    func commitResultRows(_ commits: [ResultCommit]) async -> [Result<PostgresRow, any Error>] {
        await rowsPerInput(commits, inKassaOrder: \.kassaID, what: "commit_and_intend") { connection, commits in
            try mapConstraintErrors {
                try connection.query("""
                    SELECT c.* FROM unnest($1::uuid[], $2::bigint[], $3::bigint[], $4::bigint[], $5::text[], $6::text[],
                                           $7::bigint[], $8::integer[], $9::integer[], $10::text[], $11::bigint[],
                                           $12::uuid[]) WITH ORDINALITY
                        AS x (job_uuid, kassa_id, epoch, document, fn_serial, registration_number, attribute,
                              receipt_number, shift_number, receipt_datetime, total_kopecks, next_job, n)
                    CROSS JOIN LATERAL commit_and_intend(x.job_uuid, x.kassa_id, x.epoch, x.document, x.fn_serial,
                                                         x.registration_number, x.attribute, x.receipt_number,
                                                         x.shift_number, x.receipt_datetime, x.total_kopecks,
                                                         x.next_job) AS c
                    ORDER BY x.n
                    """, [PostgresText.array(commits.map { $0.jobUUID.uuidString }), PostgresText.array(commits.map(\.kassaID)),
                          PostgresText.array(commits.map(\.epoch)), PostgresText.array(commits.map(\.result.fiscalDocumentNumber)),
                          PostgresText.array(commits.map { Optional($0.result.fnSerial) }),
                          PostgresText.array(commits.map { Optional($0.result.registrationNumber) }),
                          PostgresText.array(commits.map(\.result.fiscalDocumentAttribute)),
                          PostgresText.array(commits.map(\.result.fiscalReceiptNumber)),
                          PostgresText.array(commits.map(\.result.shiftNumber)),
                          PostgresText.array(commits.map { Optional($0.result.receiptDatetime) }),
                          PostgresText.array(commits.map(\.result.totalKopecks)),
                          PostgresText.array(commits.map { $0.nextJob?.uuidString })])
            }
        }
    }

    /// Fails a job with an error for the shop's report. Never overwrites a done job.
    ///
    /// With `kassaID` and `epoch` (a kassa refused the receipt, so no document exists) the call
    /// is fenced like `commitResult`, records the kassa on the job and drops the kassa's intent
    /// for the job. Without them (validation, tenant errors) it is not fenced.
    /// - Returns: true if the job is now failed by this call, false if it was already done.
    /// - Throws: `.fenced` (nothing changed), `.notFound` for an unknown job or kassa,
    ///   `.invalidArgument` if only one of `kassaID`/`epoch` is given.
    @discardableResult
    public func failJob(jobUUID: UUID, kassaID: Int64?, epoch: Int64?, code: Int, type: String, text: String) async throws -> Bool {
        if (kassaID == nil) != (epoch == nil) {
            throw RegistryError.invalidArgument("failJob needs both kassaID and epoch, or neither")
        }
        return try await withConnection { connection in
            let failed: Bool
            if let kassaID, let epoch {
                let rows = try connection.query("""
                    WITH fence AS (
                        SELECT id FROM kassas WHERE id = $2::bigint AND lease_epoch = $3::bigint FOR SHARE
                    ), failed AS (
                        UPDATE jobs SET status = 'fail', kassa_id = $2::bigint, error_code = $4::integer,
                                        error_type = $5, error_text = $6, finished_at = now()
                        WHERE uuid = $1::uuid AND status <> 'done' AND EXISTS (SELECT 1 FROM fence)
                        RETURNING uuid
                    ), cleared AS (
                        DELETE FROM intents
                        WHERE kassa_id = $2::bigint AND job_uuid = $1::uuid AND EXISTS (SELECT 1 FROM fence)
                        RETURNING kassa_id
                    )
                    SELECT (SELECT count(*) FROM fence) AS fence_held,
                           (SELECT count(*) FROM failed) AS failed,
                           (SELECT lease_epoch FROM kassas WHERE id = $2::bigint) AS seen_epoch
                    """, [jobUUID.uuidString, String(kassaID), String(epoch), String(code), type, text])
                guard let row = rows.first else { throw RegistryError.decoding("failJob returned no row") }
                guard try row.int64("fence_held") == 1 else {
                    throw Self.fenceError(kassaID: kassaID, epoch: epoch, seenEpoch: try row.optionalInt64("seen_epoch"))
                }
                failed = try row.int64("failed") == 1
            } else {
                failed = try connection.execute("""
                    UPDATE jobs SET status = 'fail', error_code = $2::integer, error_type = $3, error_text = $4,
                                    finished_at = now()
                    WHERE uuid = $1::uuid AND status <> 'done'
                    """, [jobUUID.uuidString, String(code), type, text]) == 1
            }
            if failed { return true }
            // Not failed: the job is done, or unknown. A fresh statement sees a racing commit.
            let status = try connection.query("SELECT status FROM jobs WHERE uuid = $1::uuid", [jobUUID.uuidString])
            guard let row = status.first else { throw RegistryError.notFound("job \(jobUUID)") }
            let current = try row.string("status")
            guard current == JobStatus.done.rawValue else {
                throw RegistryError.decoding("job \(jobUUID) is '\(current)' yet was not failed")
            }
            return false
        }
    }

    /// The error for a fence that did not hold.
    static func fenceError(kassaID: Int64, epoch: Int64, seenEpoch: Int64?) -> RegistryError {
        guard let seenEpoch else { return .notFound("kassa \(kassaID)") }
        if seenEpoch == epoch {
            return .fenced("kassa \(kassaID): lease epoch moved on from \(epoch) while the statement ran")
        }
        return .fenced("kassa \(kassaID) is at lease epoch \(seenEpoch), not \(epoch)")
    }
}
