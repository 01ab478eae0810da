import Foundation

/// A duplicate fiscal document and the refund job that cancels it.
public struct AnnulmentRecord: Sendable, Equatable {
    /// The receipt that was fiscalized twice.
    public var jobUUID: UUID
    /// Where the duplicate document is.
    public var kassaID: Int64
    public var fnSerial: String
    public var fiscalDocumentNumber: Int64
    public var fiscalDocumentAttribute: Int64
    public var totalKopecks: Int64
    /// The refund receipt's job.
    public var annulJobUUID: UUID
    /// When the refund's result was committed; nil while pending.
    public var annulledAt: Date?

    public init(jobUUID: UUID, kassaID: Int64, fnSerial: String, fiscalDocumentNumber: Int64, fiscalDocumentAttribute: Int64,
                totalKopecks: Int64, annulJobUUID: UUID, annulledAt: Date? = nil) {
        self.jobUUID = jobUUID
        self.kassaID = kassaID
        self.fnSerial = fnSerial
        self.fiscalDocumentNumber = fiscalDocumentNumber
        self.fiscalDocumentAttribute = fiscalDocumentAttribute
        self.totalKopecks = totalKopecks
        self.annulJobUUID = annulJobUUID
        self.annulledAt = annulledAt
    }
}

extension Registry {
    /// Puts a duplicate document on record with the refund job that will annul it, and drops the
    /// kassa's intent for the job, in one transaction fenced by the lease epoch. Idempotent: a
    /// second call for the same FN document changes nothing and returns false.
    ///
    /// - Parameters:
    ///   - annulOperation: the refund's operation (the inverse of the job's).
    ///   - annulBody: the refund job as published JSON (so it can be run, or re-run, from here).
    /// - Throws: `.fenced` when the lease moved on (nothing changed).
    @discardableResult
    public func recordDuplicate(_ annulment: AnnulmentRecord, epoch: Int64, tenantID: Int64, groupCode: String,
                                annulExternalID: String, annulOperation: String, annulBody: String) async throws -> Bool {
        try await transaction { connection in
            let fence = try connection.query("SELECT id FROM kassas WHERE id = $1::bigint AND lease_epoch = $2::bigint FOR SHARE",
                                             [String(annulment.kassaID), String(epoch)])
            guard !fence.isEmpty else {
                throw RegistryError.fenced("kassa \(annulment.kassaID): lease epoch \(epoch) is no longer current")
            }
            try connection.execute("""
                INSERT INTO jobs (uuid, tenant_id, group_code, external_id, operation, status, accepted_at, body, annuls)
                VALUES ($1::uuid, $2::bigint, $3, $4, $5, 'wait', now(), $6, $7::uuid)
                ON CONFLICT DO NOTHING
                """, [annulment.annulJobUUID.uuidString, String(tenantID), groupCode, annulExternalID, annulOperation, annulBody,
                      annulment.jobUUID.uuidString])
            let inserted = try connection.execute("""
                INSERT INTO annulments (job_uuid, kassa_id, fn_serial, fiscal_document_number, fiscal_document_attribute,
                                        total_kopecks, annul_job_uuid)
                VALUES ($1::uuid, $2::bigint, $3, $4::bigint, $5::bigint, $6::bigint, $7::uuid)
                ON CONFLICT DO NOTHING
                """, [annulment.jobUUID.uuidString, String(annulment.kassaID), annulment.fnSerial, String(annulment.fiscalDocumentNumber),
                      String(annulment.fiscalDocumentAttribute), String(annulment.totalKopecks), annulment.annulJobUUID.uuidString])
            try connection.execute("DELETE FROM intents WHERE kassa_id = $1::bigint AND job_uuid = $2::uuid",
                                   [String(annulment.kassaID), annulment.jobUUID.uuidString])
            return inserted == 1
        }
    }

    /// The tenant's annulments whose refund is not fiscalized yet (and not in doubt on a kassa),
    /// with the refund job's body.
    public func pendingAnnulments(tenantID: Int64) async throws -> [(AnnulmentRecord, body: String)] {
        try await withConnection { connection in
            try connection.query("""
                SELECT a.job_uuid, a.kassa_id, a.fn_serial, a.fiscal_document_number, a.fiscal_document_attribute,
                       a.total_kopecks, a.annul_job_uuid, a.annulled_at, j.body
                FROM annulments a JOIN jobs j ON j.uuid = a.annul_job_uuid
                WHERE a.annulled_at IS NULL AND j.tenant_id = $1::bigint AND j.body IS NOT NULL
                  -- A refund in doubt on some kassa is that kassa's to reconcile, not to run again.
                  AND NOT EXISTS (SELECT 1 FROM intents i WHERE i.job_uuid = a.annul_job_uuid)
                ORDER BY a.created_at
                """, [String(tenantID)]).map { row in
                (try Self.annulment(row), body: try row.string("body"))
            }
        }
    }

    /// The annulments of one job's duplicates (for its report).
    public func annulments(jobUUID: UUID) async throws -> [AnnulmentRecord] {
        try await withConnection { connection in
            try connection.query("""
                SELECT job_uuid, kassa_id, fn_serial, fiscal_document_number, fiscal_document_attribute, total_kopecks,
                       annul_job_uuid, annulled_at
                FROM annulments WHERE job_uuid = $1::uuid ORDER BY created_at
                """, [jobUUID.uuidString]).map { try Self.annulment($0) }
        }
    }

    private static func annulment(_ row: PostgresRow) throws -> AnnulmentRecord {
        AnnulmentRecord(
            jobUUID: try row.uuid("job_uuid"), kassaID: try row.int64("kassa_id"), fnSerial: try row.string("fn_serial"),
            fiscalDocumentNumber: try row.int64("fiscal_document_number"),
            fiscalDocumentAttribute: try row.int64("fiscal_document_attribute"), totalKopecks: try row.int64("total_kopecks"),
            annulJobUUID: try row.uuid("annul_job_uuid"), annulledAt: try row.optionalDate("annulled_at"))
    }
}

extension Registry {
    /// The job's body as published (nil for an unknown job or one registered without it).
    public func jobBody(uuid: UUID) async throws -> String? {
        try await withConnection { connection in
            try connection.query("SELECT body FROM jobs WHERE uuid = $1::uuid", [uuid.uuidString]).first?.optionalString("body")
        }
    }
}
