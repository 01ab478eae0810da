import Foundation
import KassaModel
import Registry

/// The ingress's view of the registry: reads, plus the primary as the `ResendStore` of the
/// resend endpoint.
///
/// Reads may go to a replica in the ingress's own site (`reads`): tokens, duplicate checks and
/// report polls then cost no WAN round trip and go on while the site is cut off from the
/// primary. A replica may lag by a moment: a report then says `wait` a little longer, and a
/// repeat it does not know yet is published again and skipped by the dispatcher (the job is
/// registered once).
public struct RegistryReads: IngressRegistry {
    let reads: Registry
    let primary: Registry

    /// - Parameters:
    ///   - registry: where reads go (a local replica, or the primary itself).
    ///   - primary: the writable registry (resend); `registry` when nil.
    public init(registry: Registry, primary: Registry? = nil) {
        self.reads = registry
        self.primary = primary ?? registry
    }

    public func authenticate(login: String, password: String) async throws -> TenantAccount? {
        guard let tenant = try await reads.tenant(login: login), reads.verifyPassword(tenant, password: password) else { return nil }
        return TenantAccount(id: tenant.id, groupCode: tenant.groupCode, blocked: tenant.blocked)
    }

    public func report(uuid: UUID) async throws -> JobReport? {
        guard let (job, result, hasAnnulments) = try await reads.jobForReport(uuid: uuid) else { return nil }
        var report = JobReport(uuid: job.uuid, groupCode: job.groupCode, externalID: job.externalID,
                               status: JobReport.Status(rawValue: job.status.rawValue) ?? .wait, callbackURL: job.callbackURL)
        if let result {
            report.payload = FiscalPayload(
                fiscalReceiptNumber: result.fiscalReceiptNumber, shiftNumber: result.shiftNumber, receiptDatetime: result.receiptDatetime,
                total: result.totalKopecks, fnNumber: result.fnSerial, ecrRegistrationNumber: result.registrationNumber,
                fiscalDocumentNumber: result.fiscalDocumentNumber, fiscalDocumentAttribute: result.fiscalDocumentAttribute)
            report.deviceCode = result.kassaID.map { "kassa-\($0)" }
            report.annulled = hasAnnulments ? try await reads.annulments(jobUUID: job.uuid).map {
                .init(fnNumber: $0.fnSerial, fiscalDocumentNumber: $0.fiscalDocumentNumber, refunded: $0.annulledAt != nil)
            } : []
        }
        if report.status == .wait { report.lateSince = job.lateAt }
        if report.status == .fail, let code = job.errorCode {
            report.error = ATOLError(code: code, text: job.errorText ?? "", type: job.errorType ?? "system")
        }
        return report
    }

    public func groupCode(ofJob uuid: UUID) async throws -> String? {
        try await reads.groupCode(ofJob: uuid)
    }

    public func isReachable() async -> Bool {
        await reads.isReachable()
    }

    public var resendStore: (any ResendStore)? { primary }
}
