import Foundation
import KassaModel
import Registry

/// The ingress's view of the registry: reads, plus the registry itself as the `ResendStore` of
/// the resend endpoint.
public struct RegistryReads: IngressRegistry {
    let registry: Registry

    public init(registry: Registry) {
        self.registry = registry
    }

    public func authenticate(login: String, password: String) async throws -> TenantAccount? {
        guard let tenant = try await registry.tenant(login: login), registry.verifyPassword(tenant, password: password) else { return nil }
        return TenantAccount(id: tenant.id, groupCode: tenant.groupCode, blocked: tenant.blocked)
    }

    public func report(uuid: UUID) async throws -> JobReport? {
        guard let (job, result) = try await registry.job(uuid: uuid) else { return nil }
        var report = JobReport(uuid: job.uuid, groupCode: job.groupCode, externalID: job.externalID,
                               status: JobReport.Status(rawValue: job.status.rawValue) ?? .wait, callbackURL: job.callbackURL)
        if let result {
            report.payload = FiscalPayload(
                fiscalReceiptNumber: result.fiscalReceiptNumber, shiftNumber: result.shiftNumber, receiptDatetime: result.receiptDatetime,
                total: result.totalKopecks, fnNumber: result.fnSerial, ecrRegistrationNumber: result.registrationNumber,
                fiscalDocumentNumber: result.fiscalDocumentNumber, fiscalDocumentAttribute: result.fiscalDocumentAttribute)
            report.deviceCode = result.kassaID.map { "kassa-\($0)" }
            report.annulled = try await registry.annulments(jobUUID: job.uuid).map {
                .init(fnNumber: $0.fnSerial, fiscalDocumentNumber: $0.fiscalDocumentNumber, refunded: $0.annulledAt != nil)
            }
        }
        if report.status == .wait { report.lateSince = job.lateAt }
        if report.status == .fail, let code = job.errorCode {
            report.error = ATOLError(code: code, text: job.errorText ?? "", type: job.errorType ?? "system")
        }
        return report
    }

    public func isReachable() async -> Bool {
        await registry.isReachable()
    }

    public var resendStore: (any ResendStore)? { registry }
}
