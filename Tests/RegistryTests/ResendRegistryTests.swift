import Foundation
import Testing

@testable import Registry

/// Migration v2: tenant policies, stored job bodies, lateness, reopening failed jobs for a resend.
/// Part of `RegistryTests`, so it shares the suite's PostgreSQL server.
extension RegistryTests {

    // MARK: Migration v2

    @Test func migrationV2AppliesOnTopOfAV1Database() async throws {
        let (registry, _) = try await Self.registry(migrate: false)
        defer { registry.close() }
        // A database as release 1 left it, with a tenant and a failed job in it.
        let v1 = try #require(Registry.migrations.first { $0.version == 1 })
        try await registry.transaction { connection in
            try connection.execute("""
                CREATE TABLE schema_migrations (version integer PRIMARY KEY, name text NOT NULL,
                                                applied_at timestamptz NOT NULL DEFAULT now())
                """)
            for statement in v1.statements { try connection.execute(statement) }
            try connection.execute("INSERT INTO schema_migrations (version, name) VALUES (1, $1)", [v1.name])
            try connection.execute("""
                INSERT INTO tenants (group_code, inn, payment_address, sno, login, password_salt, password_hash)
                VALUES ('old-shop', '7700000000', 'https://old.example', '{osn}', 'old-login', 'salt', 'hash')
                """)
            try connection.execute("""
                INSERT INTO jobs (uuid, tenant_id, group_code, external_id, operation, status, accepted_at,
                                  error_code, error_type, error_text, finished_at)
                SELECT 'a0000000-0000-0000-0000-000000000001'::uuid, id, 'old-shop', 'e1', 'sell', 'fail', now(),
                       2003, 'agent', 'INN mismatch', now()
                FROM tenants
                """)
        }
        #expect(try await registry.migrate() == Registry.migrations.map(\.version).filter { $0 >= 2 })

        let tenant = try #require(try await registry.tenant(groupCode: "old-shop"))
        #expect(tenant.policy == .default)
        let uuid = try #require(UUID(uuidString: "a0000000-0000-0000-0000-000000000001"))
        let job = try #require(try await registry.job(uuid: uuid)?.0)
        #expect(job.resendCount == 0)
        #expect(job.lateAt == nil && job.lastResentAt == nil)
        // A job from before bodies were kept is listed but cannot be reopened.
        let failed = try await registry.failedJobs(tenantID: tenant.id, filter: ResendFilter())
        #expect(failed.map(\.uuid) == [uuid])
        #expect(failed.first?.body == nil)
        #expect(try await registry.reopenForResend(uuids: [uuid], tenantID: tenant.id).isEmpty)
        #expect(try await registry.job(uuid: uuid)?.0.status == .fail)
    }

    // MARK: Tenant policy

    @Test func tenantPoliciesRoundTrip() async throws {
        let (registry, _) = try await Self.registry()
        defer { registry.close() }
        let plain = try await Self.tenant(registry, "plain")
        #expect(plain.policy == .default)
        #expect(plain.policy.inDoubt == .wait)
        #expect(plain.policy.deadline == .seconds(300))
        #expect(plain.policy.deadlineAction == .flag)

        let strict = TenantPolicy(inDoubt: .resendAndAnnul(resendAfter: .milliseconds(45_500)),
                                  deadline: .seconds(120), deadlineAction: .fail)
        let created = try await registry.upsertTenant(
            groupCode: "strict", inn: "7700000001", paymentAddress: "https://strict.example", sno: ["osn"],
            login: "strict-login", password: "p", callbackURL: nil, policy: strict)
        #expect(created.policy == strict)
        #expect(try await registry.tenant(groupCode: "strict")?.policy == strict)
        #expect(try await registry.tenant(login: "strict-login")?.policy == strict)
        let stored = try await registry.withConnection { connection in
            try connection.query("""
                SELECT in_doubt_policy, in_doubt_resend_after_ms, deadline_ms, deadline_action
                FROM tenants WHERE group_code = 'strict'
                """)
        }
        #expect(try stored.first?.string("in_doubt_policy") == "resend-and-annul")
        #expect(try stored.first?.int("in_doubt_resend_after_ms") == 45_500)
        #expect(try stored.first?.int("deadline_ms") == 120_000)
        #expect(try stored.first?.string("deadline_action") == "fail")

        // An upsert sets the policy it is given (here: back to the default).
        let relaxed = try await registry.upsertTenant(
            groupCode: "strict", inn: "7700000001", paymentAddress: "https://strict.example", sno: ["osn"],
            login: "strict-login", password: "p", callbackURL: nil)
        #expect(relaxed.id == created.id)
        #expect(relaxed.policy == .default)

        // Durations the columns cannot hold are refused before reaching the server.
        for bad in [TenantPolicy(inDoubt: .wait, deadline: .zero, deadlineAction: .flag),
                    TenantPolicy(inDoubt: .resendAndAnnul(resendAfter: .milliseconds(-5)), deadline: .seconds(1), deadlineAction: .flag),
                    TenantPolicy(inDoubt: .wait, deadline: .seconds(3_000_000), deadlineAction: .flag)] {
            await #expect {
                try await registry.upsertTenant(groupCode: "bad", inn: "7700000002", paymentAddress: "x", sno: ["osn"],
                                                login: "bad-login", password: "p", callbackURL: nil, policy: bad)
            } throws: { error in
                guard case RegistryError.invalidArgument = error else { return false }
                return true
            }
        }
        #expect(try await registry.tenant(groupCode: "bad") == nil)

        // The schema itself refuses values outside the enumerations.
        await #expect {
            try await registry.withConnection { connection in
                try connection.execute("UPDATE tenants SET in_doubt_policy = 'retry' WHERE group_code = 'plain'")
            }
        } throws: { error in
            (error as? RegistryError)?.sqlState == "23514"
        }
    }

    // MARK: Bodies and lateness

    @Test func registerJobStoresTheBodyOnceAndMarkLateFlagsOnlyWaitingJobsOnce() async throws {
        let (registry, _) = try await Self.registry()
        defer { registry.close() }
        let tenant = try await Self.tenant(registry)
        let job = UUID()
        #expect(try await registry.registerJob(uuid: job, tenantID: tenant.id, groupCode: tenant.groupCode, externalID: "e1",
                                               operation: "sell", acceptedAt: Date(), callbackURL: nil, body: #"{"first":1}"#))
        #expect(!(try await registry.registerJob(uuid: job, tenantID: tenant.id, groupCode: tenant.groupCode, externalID: "e1",
                                                 operation: "sell", acceptedAt: Date(), callbackURL: nil, body: #"{"second":2}"#)))
        let body = try await registry.withConnection { connection in
            try connection.query("SELECT body FROM jobs WHERE uuid = $1::uuid", [job.uuidString]).first?.optionalString("body")
        }
        #expect(body == #"{"first":1}"#)

        #expect(try await registry.job(uuid: job)?.0.lateAt == nil)
        #expect(try await registry.markLate(jobUUID: job))
        let late = try #require(try await registry.job(uuid: job)?.0.lateAt)
        #expect(!(try await registry.markLate(jobUUID: job)))
        #expect(try await registry.job(uuid: job)?.0.lateAt == late)  // set once

        let failed = UUID()
        try await registry.registerJob(uuid: failed, tenantID: tenant.id, groupCode: tenant.groupCode, externalID: "e2",
                                       operation: "sell", acceptedAt: Date(), callbackURL: nil, body: "{}")
        try await registry.failJob(jobUUID: failed, kassaID: nil, epoch: nil, code: 2003, type: "agent", text: "INN")
        #expect(!(try await registry.markLate(jobUUID: failed)))
        #expect(try await registry.job(uuid: failed)?.0.lateAt == nil)
        #expect(!(try await registry.markLate(jobUUID: UUID())))
    }

    // MARK: Reopen and restore

    /// Registers a job with a body and fails it (through the kassa when given, fenced).
    static func failedJob(_ registry: Registry, tenant: TenantRecord, externalID: String, code: Int = 2003,
                          type: String = "agent", body: String? = "{\"job\":true}", acceptedAt: Date = Date(),
                          kassa: (id: Int64, epoch: Int64)? = nil) async throws -> UUID {
        let uuid = UUID()
        try await registry.registerJob(uuid: uuid, tenantID: tenant.id, groupCode: tenant.groupCode, externalID: externalID,
                                       operation: "sell", acceptedAt: acceptedAt, callbackURL: nil, body: body)
        try await registry.failJob(jobUUID: uuid, kassaID: kassa?.id, epoch: kassa?.epoch, code: code, type: type,
                                   text: "error \(code) for \(externalID)")
        return uuid
    }

    @Test func reopenForResendTakesOnlyTheTenantsFailedJobsWithABodyAndNoResult() async throws {
        let (registry, _) = try await Self.registry()
        defer { registry.close() }
        let (kassa, waiting, tenant) = try await Self.fencedScene(registry)  // `waiting` stays in wait
        let other = try await Self.tenant(registry, "shop2")

        let failed = try await Self.failedJob(registry, tenant: tenant, externalID: "f1", kassa: (kassa.id, 2))
        let withoutBody = try await Self.failedJob(registry, tenant: tenant, externalID: "f2", body: nil)
        let othersFailure = try await Self.failedJob(registry, tenant: other, externalID: "f3")
        // A job with a result whose status says fail (never written by the dispatcher, but the
        // result is what counts): not reopened.
        let fiscalized = try await Self.failedJob(registry, tenant: tenant, externalID: "f4")
        try await registry.withConnection { connection in
            try connection.execute("UPDATE jobs SET status = 'wait', finished_at = NULL WHERE uuid = $1::uuid", [fiscalized.uuidString])
        }
        #expect(try await registry.commitResult(Self.document(42), jobUUID: fiscalized, kassaID: kassa.id, epoch: 2) == .recorded)
        try await registry.withConnection { connection in
            try connection.execute("UPDATE jobs SET status = 'fail', finished_at = now() WHERE uuid = $1::uuid", [fiscalized.uuidString])
        }
        let before = try #require(try await registry.job(uuid: failed)?.0)
        #expect(before.kassaID == kassa.id && before.resendCount == 0)

        let asked = [failed, withoutBody, othersFailure, fiscalized, waiting, UUID()]
        let reopened = try await registry.reopenForResend(uuids: asked, tenantID: tenant.id)
        #expect(reopened.map(\.uuid) == [failed])
        let first = try #require(reopened.first)
        #expect(first.body == "{\"job\":true}")
        #expect(first.resendCount == 1)
        #expect(first.previousErrorCode == 2003 && first.previousErrorType == "agent" && first.previousErrorText == "error 2003 for f1")
        #expect(first.previousKassaID == kassa.id)
        #expect(first.previousFinishedAt == before.finishedAt)

        let job = try #require(try await registry.job(uuid: failed)?.0)
        #expect(job.status == .wait)
        #expect(job.finishedAt == nil && job.errorCode == nil && job.errorType == nil && job.errorText == nil && job.kassaID == nil)
        #expect(job.resendCount == 1)
        #expect(job.lastResentAt != nil)
        for untouched in [withoutBody, othersFailure, fiscalized] {
            #expect(try await registry.job(uuid: untouched)?.0.status == .fail)
            #expect(try await registry.job(uuid: untouched)?.0.resendCount == 0)
        }

        // A second call finds nothing to reopen and changes nothing.
        #expect(try await registry.reopenForResend(uuids: asked, tenantID: tenant.id).isEmpty)
        #expect(try await registry.job(uuid: failed)?.0.resendCount == 1)
        #expect(try await registry.reopenForResend(uuids: [], tenantID: tenant.id).isEmpty)

        // Late, failed again, reopened again: count 2, lateness cleared for the new try.
        #expect(try await registry.markLate(jobUUID: failed))
        try await registry.failJob(jobUUID: failed, kassaID: nil, epoch: nil, code: 2003, type: "agent", text: "again")
        #expect(try await registry.job(uuid: failed)?.0.lateAt != nil)
        #expect(try await registry.reopenForResend(uuids: [failed], tenantID: tenant.id).map(\.resendCount) == [2])
        let again = try #require(try await registry.job(uuid: failed)?.0)
        #expect(again.resendCount == 2 && again.lateAt == nil && again.status == .wait)
    }

    @Test func concurrentReopensReopenEachFailureOnce() async throws {
        let (registry, _) = try await Self.registry(poolSize: 8)
        defer { registry.close() }
        let tenant = try await Self.tenant(registry)
        var created: [UUID] = []
        for n in 0..<20 { created.append(try await Self.failedJob(registry, tenant: tenant, externalID: "c\(n)")) }
        let uuids = created
        let batches = try await withThrowingTaskGroup(of: [ReopenedJob].self) { group in
            for _ in 0..<6 {
                group.addTask { try await registry.reopenForResend(uuids: uuids.shuffled(), tenantID: tenant.id) }
            }
            var all: [[ReopenedJob]] = []
            for try await batch in group { all.append(batch) }
            return all
        }
        let reopened = batches.flatMap { $0.map(\.uuid) }
        #expect(reopened.count == uuids.count)
        #expect(Set(reopened) == Set(uuids))
        for uuid in uuids { #expect(try await registry.job(uuid: uuid)?.0.resendCount == 1) }
    }

    @Test func restoreFailurePutsTheJobBackUnlessADispatcherHasIt() async throws {
        let (registry, _) = try await Self.registry()
        defer { registry.close() }
        let (kassa, _, tenant) = try await Self.fencedScene(registry)
        let other = try await Self.tenant(registry, "shop2")
        let uuid = try await Self.failedJob(registry, tenant: tenant, externalID: "r1", kassa: (kassa.id, 2))
        let before = try #require(try await registry.job(uuid: uuid)?.0)
        let reopened = try #require(try await registry.reopenForResend(uuids: [uuid], tenantID: tenant.id).first)

        #expect(!(try await registry.restoreFailure(reopened, tenantID: other.id)))  // not that tenant's job
        #expect(try await registry.restoreFailure(reopened, tenantID: tenant.id))
        let restored = try #require(try await registry.job(uuid: uuid)?.0)
        #expect(restored.status == .fail)
        #expect(restored.errorCode == before.errorCode && restored.errorType == before.errorType && restored.errorText == before.errorText)
        #expect(restored.kassaID == kassa.id)
        #expect(restored.finishedAt == before.finishedAt)
        #expect(restored.resendCount == 0)
        #expect(!(try await registry.restoreFailure(reopened, tenantID: tenant.id)))  // no longer wait

        // Reopened and taken by a dispatcher (intent written): the restore leaves it alone.
        let again = try #require(try await registry.reopenForResend(uuids: [uuid], tenantID: tenant.id).first)
        try await registry.writeIntent(kassaID: kassa.id, jobUUID: uuid, epoch: 2, lastDocumentNumber: 41)
        #expect(!(try await registry.restoreFailure(again, tenantID: tenant.id)))
        #expect(try await registry.job(uuid: uuid)?.0.status == .wait)
        // Its result wins; a restore after that changes nothing either.
        #expect(try await registry.commitResult(Self.document(42), jobUUID: uuid, kassaID: kassa.id, epoch: 2) == .recorded)
        #expect(!(try await registry.restoreFailure(again, tenantID: tenant.id)))
        #expect(try await registry.job(uuid: uuid)?.0.status == .done)
    }

    // MARK: Listing failed jobs

    @Test func failedJobsFilterByErrorTimeUUIDsAndLimit() async throws {
        let (registry, _) = try await Self.registry()
        defer { registry.close() }
        let tenant = try await Self.tenant(registry)
        let other = try await Self.tenant(registry, "shop2")
        let base = Date(timeIntervalSince1970: 1_800_000_000)
        let innEarly = try await Self.failedJob(registry, tenant: tenant, externalID: "a", code: 2003, type: "agent", acceptedAt: base)
        let innLate = try await Self.failedJob(registry, tenant: tenant, externalID: "b", code: 2003, type: "agent",
                                               acceptedAt: base.addingTimeInterval(60))
        let address = try await Self.failedJob(registry, tenant: tenant, externalID: "c", code: 2007, type: "driver",
                                               acceptedAt: base.addingTimeInterval(120))
        let timeout = try await Self.failedJob(registry, tenant: tenant, externalID: "d", code: 1, type: "timeout",
                                               body: nil, acceptedAt: base.addingTimeInterval(180))
        _ = try await Self.failedJob(registry, tenant: other, externalID: "e", code: 2003, type: "agent", acceptedAt: base)
        let waiting = UUID()
        try await registry.registerJob(uuid: waiting, tenantID: tenant.id, groupCode: tenant.groupCode, externalID: "f",
                                       operation: "sell", acceptedAt: base, callbackURL: nil, body: "{}")

        func list(_ filter: ResendFilter) async throws -> [UUID] {
            try await registry.failedJobs(tenantID: tenant.id, filter: filter).map(\.uuid)
        }
        #expect(try await list(ResendFilter()) == [innEarly, innLate, address, timeout])
        #expect(try await list(ResendFilter(errorCode: 2003)) == [innEarly, innLate])
        #expect(try await list(ResendFilter(errorType: "driver")) == [address])
        #expect(try await list(ResendFilter(errorCode: 2003, errorType: "driver")) == [])
        // from inclusive, to exclusive, on accepted_at.
        #expect(try await list(ResendFilter(from: base.addingTimeInterval(60))) == [innLate, address, timeout])
        #expect(try await list(ResendFilter(to: base.addingTimeInterval(120))) == [innEarly, innLate])
        #expect(try await list(ResendFilter(from: base.addingTimeInterval(60), to: base.addingTimeInterval(61))) == [innLate])
        #expect(try await list(ResendFilter(uuids: [address, timeout, waiting, UUID()])) == [address, timeout])
        #expect(try await list(ResendFilter(uuids: [])) == [])
        #expect(try await list(ResendFilter(limit: 2)) == [innEarly, innLate])

        let detail = try #require(try await registry.failedJobs(tenantID: tenant.id, filter: ResendFilter(uuids: [address])).first)
        #expect(detail.externalID == "c" && detail.errorCode == 2007 && detail.errorType == "driver")
        #expect(detail.errorText == "error 2007 for c" && detail.body == "{\"job\":true}" && detail.resendCount == 0)
        #expect(detail.acceptedAt == base.addingTimeInterval(120))
        #expect(try await registry.failedJobs(tenantID: tenant.id, filter: ResendFilter(uuids: [timeout])).first?.body == nil)

        for bad in [ResendFilter(limit: 0), ResendFilter(limit: ResendFilter.maxLimit + 1),
                    ResendFilter(from: base, to: base)] {
            await #expect {
                try await registry.failedJobs(tenantID: tenant.id, filter: bad)
            } throws: { error in
                guard case RegistryError.invalidArgument = error else { return false }
                return true
            }
        }
    }
}
