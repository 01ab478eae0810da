import Foundation

/// Which failed jobs of a tenant a resend takes. Every condition given must hold; none given
/// means every failed job (up to `limit`).
///
/// The time range applies to `accepted_at` (when the ingress took the receipt), not to
/// `finished_at`: acceptance is fixed for the receipt's life, while `finished_at` moves on
/// every resend, so a range on it would select different jobs after each try.
public struct ResendFilter: Sendable, Equatable {
    /// The most jobs one call lists or re-sends.
    public static let maxLimit = 1000

    /// The job's error code (e.g. 2003 for an INN mismatch).
    public var errorCode: Int?
    /// The job's error type (`agent`, `driver`, `system`, `timeout`, `unknown`).
    public var errorType: String?
    /// Accepted at or after this instant.
    public var from: Date?
    /// Accepted before this instant (exclusive).
    public var to: Date?
    /// Only these jobs.
    public var uuids: [UUID]?
    /// At most this many jobs, oldest accepted first (1 ... `maxLimit`).
    public var limit: Int

    public init(errorCode: Int? = nil, errorType: String? = nil, from: Date? = nil, to: Date? = nil,
                uuids: [UUID]? = nil, limit: Int = ResendFilter.maxLimit) {
        self.errorCode = errorCode
        self.errorType = errorType
        self.from = from
        self.to = to
        self.uuids = uuids
        self.limit = limit
    }

    /// Throws `.invalidArgument` for a limit outside 1 ... `maxLimit` or `from` not before `to`.
    func validate() throws {
        guard (1...Self.maxLimit).contains(limit) else {
            throw RegistryError.invalidArgument("resend limit must be 1...\(Self.maxLimit), got \(limit)")
        }
        if let from, let to, from >= to {
            throw RegistryError.invalidArgument("resend range: 'from' (\(from)) must be before 'to' (\(to))")
        }
    }
}

/// A failed job as a resend sees it.
public struct FailedJob: Sendable, Equatable {
    public var uuid: UUID
    public var externalID: String
    /// The job's JSON as published on the job topic; nil for a job registered before bodies were
    /// kept, which cannot be re-sent.
    public var body: String?
    public var errorCode: Int?
    public var errorType: String?
    public var errorText: String?
    public var acceptedAt: Date
    public var finishedAt: Date?
    public var resendCount: Int

    public init(uuid: UUID, externalID: String, body: String?, errorCode: Int?, errorType: String?, errorText: String?,
                acceptedAt: Date, finishedAt: Date?, resendCount: Int) {
        self.uuid = uuid
        self.externalID = externalID
        self.body = body
        self.errorCode = errorCode
        self.errorType = errorType
        self.errorText = errorText
        self.acceptedAt = acceptedAt
        self.finishedAt = finishedAt
        self.resendCount = resendCount
    }

    init(row: PostgresRow) throws {
        uuid = try row.uuid("uuid")
        externalID = try row.string("external_id")
        body = try row.optionalString("body")
        errorCode = try row.optionalInt("error_code")
        errorType = try row.optionalString("error_type")
        errorText = try row.optionalString("error_text")
        acceptedAt = try row.date("accepted_at")
        finishedAt = try row.optionalDate("finished_at")
        resendCount = try row.int("resend_count")
    }
}

/// A failed job that `reopenForResend` put back to `wait`, with what it had before, so
/// `restoreFailure` can undo the reopening if the job cannot be published.
public struct ReopenedJob: Sendable, Equatable {
    public var uuid: UUID
    /// The job's JSON as published on the job topic: publish it again, unchanged.
    public var body: String
    /// The resend count after this reopening.
    public var resendCount: Int
    public var previousErrorCode: Int?
    public var previousErrorType: String?
    public var previousErrorText: String?
    public var previousKassaID: Int64?
    public var previousFinishedAt: Date?

    public init(uuid: UUID, body: String, resendCount: Int, previousErrorCode: Int?, previousErrorType: String?,
                previousErrorText: String?, previousKassaID: Int64?, previousFinishedAt: Date?) {
        self.uuid = uuid
        self.body = body
        self.resendCount = resendCount
        self.previousErrorCode = previousErrorCode
        self.previousErrorType = previousErrorType
        self.previousErrorText = previousErrorText
        self.previousKassaID = previousKassaID
        self.previousFinishedAt = previousFinishedAt
    }

    init(row: PostgresRow) throws {
        uuid = try row.uuid("uuid")
        body = try row.string("body")
        resendCount = try row.int("resend_count")
        previousErrorCode = try row.optionalInt("previous_error_code")
        previousErrorType = try row.optionalString("previous_error_type")
        previousErrorText = try row.optionalString("previous_error_text")
        previousKassaID = try row.optionalInt64("previous_kassa_id")
        previousFinishedAt = try row.optionalDate("previous_finished_at")
    }
}

extension Registry {
    /// The tenant's failed jobs matching `filter`, oldest accepted first. Jobs that have a
    /// fiscal result are never listed (a result makes a job done, whatever its status says).
    /// - Throws: `.invalidArgument` for a bad filter (see `ResendFilter`).
    public func failedJobs(tenantID: Int64, filter: ResendFilter) async throws -> [FailedJob] {
        try filter.validate()
        let params: [String?] = [
            String(tenantID), filter.errorCode.map { String($0) }, filter.errorType,
            filter.from.map(PostgresText.timestamp), filter.to.map(PostgresText.timestamp),
            filter.uuids.map { PostgresText.array($0.map { Optional($0.uuidString) }) }, String(filter.limit),
        ]
        let rows = try await withConnection { connection in
            try connection.query("""
                SELECT j.uuid, j.external_id, j.body, j.error_code, j.error_type, j.error_text,
                       j.accepted_at, j.finished_at, j.resend_count
                FROM jobs j
                WHERE j.tenant_id = $1::bigint AND j.status = 'fail' AND j.error_code IS NOT NULL  -- jobs_failed_idx
                  AND ($2::integer IS NULL OR j.error_code = $2::integer)
                  AND ($3::text IS NULL OR j.error_type = $3::text)
                  AND ($4::timestamptz IS NULL OR j.accepted_at >= $4::timestamptz)
                  AND ($5::timestamptz IS NULL OR j.accepted_at < $5::timestamptz)
                  AND ($6::uuid[] IS NULL OR j.uuid = ANY ($6::uuid[]))
                  AND NOT EXISTS (SELECT 1 FROM results r WHERE r.job_uuid = j.uuid)
                ORDER BY j.accepted_at, j.uuid
                LIMIT $7::integer
                """, params)
        }
        return try rows.map(FailedJob.init(row:))
    }

    /// Puts failed jobs back in the queue's hands, in ONE statement: for each of `uuids` that
    /// belongs to the tenant, is failed, has a stored body and has no fiscal result, sets status
    /// `wait`, clears `finished_at`, the error, the kassa and `late_at`, adds one to
    /// `resend_count` and sets `last_resent_at` to now. Returns the jobs it reopened (in no
    /// particular order) with their bodies, to be published again under the same uuid.
    ///
    /// Rows are locked while they are changed, so a second call for the same jobs (concurrent or
    /// later) finds them in `wait` and reopens nothing: each failure is re-sent once per call
    /// that wins it. The dispatcher runs a reopened job because its status is `wait`.
    public func reopenForResend(uuids: [UUID], tenantID: Int64) async throws -> [ReopenedJob] {
        guard !uuids.isEmpty else { return [] }
        let params: [String?] = [PostgresText.array(uuids.map { Optional($0.uuidString) }), String(tenantID)]
        let rows = try await withConnection { connection in
            try connection.query("""
                WITH target AS (
                    SELECT uuid, error_code, error_type, error_text, kassa_id, finished_at
                    FROM jobs
                    WHERE uuid = ANY ($1::uuid[]) AND tenant_id = $2::bigint AND status = 'fail'
                      AND body IS NOT NULL
                      AND NOT EXISTS (SELECT 1 FROM results r WHERE r.job_uuid = jobs.uuid)
                    FOR UPDATE
                )
                UPDATE jobs j
                SET status = 'wait', finished_at = NULL, error_code = NULL, error_type = NULL, error_text = NULL,
                    kassa_id = NULL, late_at = NULL, resend_count = j.resend_count + 1, last_resent_at = now()
                FROM target t
                WHERE j.uuid = t.uuid
                RETURNING j.uuid, j.body, j.resend_count,
                          t.error_code AS previous_error_code, t.error_type AS previous_error_type,
                          t.error_text AS previous_error_text, t.kassa_id AS previous_kassa_id,
                          t.finished_at AS previous_finished_at
                """, params, planning: .eachRun)
        }
        return try rows.map(ReopenedJob.init(row:))
    }

    /// Undoes `reopenForResend` for one job that could not be published: back to `fail` with its
    /// previous error, kassa and finish time, and `resend_count` one lower (the resend did not
    /// reach the queue; `last_resent_at` keeps the attempt's time). Only while the job is still
    /// `wait` with no fiscal result and no intent: if a dispatcher got it after all, its outcome
    /// stands. Returns whether the job was restored.
    @discardableResult
    public func restoreFailure(_ job: ReopenedJob, tenantID: Int64) async throws -> Bool {
        let params: [String?] = [
            job.uuid.uuidString, String(tenantID), job.previousErrorCode.map { String($0) }, job.previousErrorType,
            job.previousErrorText, job.previousKassaID.map { String($0) },
            PostgresText.timestamp(job.previousFinishedAt ?? Date()),
        ]
        return try await withConnection { connection in
            try connection.execute("""
                UPDATE jobs
                SET status = 'fail', error_code = $3::integer, error_type = $4, error_text = $5,
                    kassa_id = $6::bigint, finished_at = $7::timestamptz,
                    resend_count = greatest(resend_count - 1, 0)
                WHERE uuid = $1::uuid AND tenant_id = $2::bigint AND status = 'wait'
                  AND NOT EXISTS (SELECT 1 FROM results r WHERE r.job_uuid = jobs.uuid)
                  AND NOT EXISTS (SELECT 1 FROM intents i WHERE i.job_uuid = jobs.uuid)
                """, params) == 1
        }
    }
}
