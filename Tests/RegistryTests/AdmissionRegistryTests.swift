import Foundation
import Testing

@testable import Registry

extension RegistryTests {
    static func admission(_ tenant: TenantRecord, _ uuid: UUID, _ externalID: String) -> Registry.JobAdmission {
        Registry.JobAdmission(uuid: uuid, tenantID: tenant.id, groupCode: tenant.groupCode, externalID: externalID, operation: "sell",
                              acceptedAt: Date(timeIntervalSince1970: 1_800_000_000), callbackURL: nil, body: "{}")
    }

    /// One statement admits a batch and answers each job in order: new ones registered, a repeat
    /// within the batch known (waiting), a finished one known with its status, one known by
    /// (group code, external id) under another uuid known (waiting).
    @Test func aBatchOfJobsIsAdmittedInOneStatementAnsweredInOrder() async throws {
        let (registry, _) = try await Self.registry()
        defer { registry.close() }
        let tenant = try await Self.tenant(registry, "shop-batch")
        let failed = UUID()
        _ = try await registry.admitJobs([Self.admission(tenant, failed, "f1")])
        #expect(try await registry.failJob(jobUUID: failed, kassaID: nil, epoch: nil, code: 1, type: "driver", text: "bad"))
        let (first, second, clash) = (UUID(), UUID(), UUID())
        let answers = try await registry.admitJobs([
            Self.admission(tenant, first, "e1"),
            Self.admission(tenant, failed, "f1"),
            Self.admission(tenant, second, "e2"),
            Self.admission(tenant, first, "e1"),
            Self.admission(tenant, clash, "e2"),
        ])
        #expect(answers == [
            .registered,
            .known(status: .fail, lastResentAt: nil),
            .registered,
            .known(status: .wait, lastResentAt: nil),
            .known(status: .wait, lastResentAt: nil),
        ])
        #expect(try await registry.job(uuid: first)?.0.status == .wait)
        #expect(try await registry.job(uuid: clash) == nil)
        #expect(try await registry.admitJobs([]) == [])
    }

    /// A dispatcher reads back the jobs it kept only by uuid: each one on record with its status
    /// and its body as admitted; an unknown uuid is simply absent.
    @Test func queuedJobsAreReadBackWithTheirStatusAndBody() async throws {
        let (registry, _) = try await Self.registry()
        defer { registry.close() }
        let tenant = try await Self.tenant(registry, "shop-read-back")
        let (waiting, failed, unknown) = (UUID(), UUID(), UUID())
        var admissions = [Self.admission(tenant, waiting, "w1"), Self.admission(tenant, failed, "f1")]
        admissions[0].body = #"{"n":1}"#
        _ = try await registry.admitJobs(admissions)
        #expect(try await registry.failJob(jobUUID: failed, kassaID: nil, epoch: nil, code: 1, type: "timeout", text: "late"))
        let stored = try await registry.queuedJobs(uuids: [waiting, failed, unknown])
        #expect(stored.count == 2)
        #expect(stored[waiting]?.status == .wait)
        #expect(stored[waiting]?.body == #"{"n":1}"#)
        #expect(stored[failed]?.status == .fail)
        #expect(stored[unknown] == nil)
        #expect(try await registry.queuedJobs(uuids: []).isEmpty)
    }
}
