import Foundation
import Logging
import Testing

@testable import Registry

/// Every test gets its own database on one PostgreSQL server started for the suite.
@Suite(.postgresServer)
struct RegistryTests {
    static let logger: Logger = {
        var logger = Logger(label: "registry-tests")
        logger.logLevel = .warning
        return logger
    }()

    /// A migrated registry on a fresh database.
    static func registry(poolSize: Int = 4, migrate: Bool = true) async throws -> (Registry, connectionString: String) {
        let server = try TestPostgres.shared()
        let name = "t_" + UUID().uuidString.replacingOccurrences(of: "-", with: "").prefix(16).lowercased()
        let connectionString = try await server.createDatabase(name)
        let registry = try Registry(configuration: RegistryConfiguration(connectionString: connectionString, poolSize: poolSize),
                                    logger: logger)
        if migrate { _ = try await registry.migrate() }
        return (registry, connectionString)
    }

    static func placement(tenantID: Int64?, slot: Int, fn: String) -> KassaPlacement {
        KassaPlacement(tenantID: tenantID, site: "A", rack: "A-r1", assembly: "A-r1-a1", slot: slot,
                       address: "127.0.0.1:\(7000 + slot)", fnSerial: fn, registrationNumber: "000000\(slot)",
                       fnCapacity: 250_000, fnExpiresAt: Date(timeIntervalSince1970: 1_900_000_000))
    }

    static func tenant(_ registry: Registry, _ code: String = "shop1") async throws -> TenantRecord {
        try await registry.upsertTenant(groupCode: code, inn: "7700000000", paymentAddress: "https://\(code).example",
                                        sno: ["osn"], login: "\(code)-login", password: "secret", callbackURL: nil)
    }

    static func document(_ number: Int64, fn: String = "9999078900001") -> FiscalResultRecord {
        FiscalResultRecord(fnSerial: fn, registrationNumber: "0000001", fiscalDocumentNumber: number,
                           fiscalDocumentAttribute: 3_000_000_000 + number, fiscalReceiptNumber: Int(number),
                           shiftNumber: 1, receiptDatetime: "01.05.2024 12:34:56", totalKopecks: 12_345)
    }

    /// Waits on the database clock (bounded) until `date` has passed.
    static func waitForDatabaseClock(_ registry: Registry, toPass date: Date) async throws {
        for _ in 0..<500 {
            if try await registry.databaseTime() > date { return }
            try await Task.sleep(for: .milliseconds(10))
        }
        Issue.record("database clock did not pass \(date) within the bound")
    }

    // MARK: Migrations

    @Test func migrateTwiceAppliesOnce() async throws {
        let (registry, _) = try await Self.registry(migrate: false)
        defer { registry.close() }
        let all = Registry.migrations.map(\.version)
        #expect(try await registry.migrate() == all)
        #expect(try await registry.migrate() == [])
        let versions = try await registry.withConnection { try $0.query("SELECT version, name FROM schema_migrations ORDER BY version") }
        #expect(versions.count == all.count)
        #expect(try versions.map { try $0.int("version") } == all)
    }

    @Test func concurrentMigrationsAreSerialized() async throws {
        let (first, connectionString) = try await Self.registry(migrate: false)
        defer { first.close() }
        let second = try Registry(configuration: RegistryConfiguration(connectionString: connectionString), logger: Self.logger)
        defer { second.close() }
        async let a = first.migrate()
        async let b = second.migrate()
        let applied = try await a + b
        #expect(applied.sorted() == Registry.migrations.map(\.version))
    }

    // MARK: Tenants

    @Test func tenantUpsertAndPasswords() async throws {
        let (registry, _) = try await Self.registry()
        defer { registry.close() }
        let created = try await registry.upsertTenant(
            groupCode: "g1", inn: "7701234567", paymentAddress: "https://shop.example", sno: ["osn", "usn_income"],
            login: "shop", password: "correct horse", callbackURL: "https://shop.example/cb")
        #expect(created.sno == ["osn", "usn_income"])
        #expect(created.passwordHash.count == 64)
        #expect(created.passwordHash == Registry.passwordHash(salt: created.passwordSalt, password: "correct horse"))
        #expect(registry.verifyPassword(created, password: "correct horse"))
        #expect(!registry.verifyPassword(created, password: "correct horse "))
        #expect(!registry.verifyPassword(created, password: ""))

        let byLogin = try #require(try await registry.tenant(login: "shop"))
        #expect(byLogin == created)
        #expect(try await registry.tenant(groupCode: "nope") == nil)

        // Upsert of the same group code: same id, new salt, new password.
        let updated = try await registry.upsertTenant(
            groupCode: "g1", inn: "7701234567", paymentAddress: "https://shop.example", sno: ["osn"],
            login: "shop", password: "new password", callbackURL: nil)
        #expect(updated.id == created.id)
        #expect(updated.passwordSalt != created.passwordSalt)
        #expect(updated.callbackURL == nil)
        #expect(registry.verifyPassword(updated, password: "new password"))
        #expect(!registry.verifyPassword(updated, password: "correct horse"))

        // A login belongs to one tenant.
        await #expect(throws: RegistryError.self) {
            try await registry.upsertTenant(groupCode: "g2", inn: "7701234568", paymentAddress: "x", sno: ["osn"],
                                            login: "shop", password: "p", callbackURL: nil)
        }
        do {
            try await registry.upsertTenant(groupCode: "g2", inn: "7701234568", paymentAddress: "x", sno: ["osn"],
                                            login: "shop", password: "p", callbackURL: nil)
        } catch RegistryError.conflict(let message) {
            #expect(message.contains("tenants_login_key"))
        }
        #expect(try await registry.tenants().map(\.groupCode) == ["g1"])
    }

    // MARK: Kassas

    @Test func kassaUpsertKeepsLeaseAndDocumentNumber() async throws {
        let (registry, _) = try await Self.registry()
        defer { registry.close() }
        let tenant = try await Self.tenant(registry)
        let kassa = try await registry.insertKassa(Self.placement(tenantID: tenant.id, slot: 1, fn: "FN1"), lastDocumentNumber: 10)
        #expect(kassa.state == .active)
        #expect(kassa.leaseEpoch == 0)
        await #expect(throws: RegistryError.self) {  // same (assembly, slot)
            try await registry.insertKassa(Self.placement(tenantID: tenant.id, slot: 1, fn: "FN2"))
        }
        try await registry.setKassaState(id: kassa.id, .broken)
        var moved = Self.placement(tenantID: tenant.id, slot: 2, fn: "FN1")
        moved.address = "10.0.0.1:7000"
        let upserted = try await registry.upsertKassa(moved, lastDocumentNumber: 3)
        #expect(upserted.id == kassa.id)
        #expect(upserted.slot == 2)
        #expect(upserted.address == "10.0.0.1:7000")
        #expect(upserted.lastDocumentNumber == 10)  // only grows
        #expect(upserted.state == .broken)  // a reload does not revive it
        #expect(upserted.fnExpiresAt == Date(timeIntervalSince1970: 1_900_000_000))
        #expect(try await registry.kassas(tenantID: tenant.id).map(\.id) == [kassa.id])
        #expect(try await registry.kassa(id: 999) == nil)
    }

    // MARK: Leases

    @Test func leaseLifecycle() async throws {
        let (registry, _) = try await Self.registry()
        defer { registry.close() }
        let tenant = try await Self.tenant(registry)
        let kassa = try await registry.insertKassa(Self.placement(tenantID: tenant.id, slot: 1, fn: "FN1"))
        let other = try await registry.insertKassa(Self.placement(tenantID: tenant.id, slot: 2, fn: "FN2"))
        let third = try await registry.insertKassa(Self.placement(tenantID: tenant.id, slot: 3, fn: "FN3"))

        let first = try #require(try await registry.acquireLease(kassaID: kassa.id, owner: "A", ttl: .seconds(60)))
        #expect(first.epoch == 1)
        #expect(first.owner == "A")
        #expect(try await registry.acquireLease(kassaID: kassa.id, owner: "B", ttl: .seconds(60)) == nil)

        // Re-acquiring one's own live lease keeps the epoch; here it also shortens it.
        let again = try #require(try await registry.acquireLease(kassaID: kassa.id, owner: "A", ttl: .milliseconds(200)))
        #expect(again.epoch == 1)
        #expect(again.expiresAt < first.expiresAt)

        try await Self.waitForDatabaseClock(registry, toPass: again.expiresAt)
        let taken = try #require(try await registry.acquireLease(kassaID: kassa.id, owner: "B", ttl: .seconds(60)))
        #expect(taken.epoch == 2)
        #expect(taken.owner == "B")

        // The stale owner renews nothing; the new one renews everything it holds, in one call.
        #expect(try await registry.renewLeases(owner: "A", leases: [(kassa.id, 1)], ttl: .seconds(60)).isEmpty)
        let otherLease = try #require(try await registry.acquireLease(kassaID: other.id, owner: "B", ttl: .seconds(60)))
        let thirdLease = try #require(try await registry.acquireLease(kassaID: third.id, owner: "B", ttl: .seconds(60)))
        let renewed = try await registry.renewLeases(
            owner: "B", leases: [(kassa.id, 2), (other.id, otherLease.epoch), (third.id, thirdLease.epoch + 7)],
            ttl: .seconds(120))
        #expect(renewed == [kassa.id, other.id])  // a wrong epoch is not renewed
        #expect(try await registry.leases(owner: "B").map(\.kassaID) == [kassa.id, other.id, third.id])

        // Release: only the holder can; the next acquirer gets a new epoch.
        #expect(try await registry.releaseLeases(owner: "A", kassaIDs: [kassa.id]).isEmpty)
        #expect(try await registry.releaseLeases(owner: "B", kassaIDs: [kassa.id, other.id]) == [kassa.id, other.id])
        let afterRelease = try #require(try await registry.acquireLease(kassaID: kassa.id, owner: "A", ttl: .seconds(60)))
        #expect(afterRelease.epoch == 3)
        #expect(try await registry.releaseLeases(owner: "A", leases: [(kassa.id, 2)]).isEmpty)
        #expect(try await registry.releaseLeases(owner: "A", leases: [(kassa.id, 3)]) == [kassa.id])

        await #expect(throws: RegistryError.self) {
            try await registry.acquireLease(kassaID: 424_242, owner: "A", ttl: .seconds(1))
        }
        await #expect(throws: RegistryError.self) {
            try await registry.acquireLease(kassaID: kassa.id, owner: "A", ttl: .zero)
        }
    }

    @Test func racingAcquirersGetOneLease() async throws {
        let (registry, _) = try await Self.registry(poolSize: 8)
        defer { registry.close() }
        let tenant = try await Self.tenant(registry)
        let kassa = try await registry.insertKassa(Self.placement(tenantID: tenant.id, slot: 1, fn: "FN1"))
        let winners = try await withThrowingTaskGroup(of: Lease?.self) { group in
            for index in 0..<16 {
                group.addTask { try await registry.acquireLease(kassaID: kassa.id, owner: "owner-\(index)", ttl: .seconds(30)) }
            }
            return try await group.reduce(into: [Lease]()) { if let lease = $1 { $0.append(lease) } }
        }
        #expect(winners.count == 1)
        #expect(winners.first?.epoch == 1)
    }

    // MARK: Intents, results, failures

    /// A tenant, a kassa held by "B" at epoch 2 (A held epoch 1), and a registered job.
    static func fencedScene(_ registry: Registry) async throws -> (kassa: KassaRecord, job: UUID, tenant: TenantRecord) {
        let tenant = try await tenant(registry)
        let kassa = try await registry.insertKassa(placement(tenantID: tenant.id, slot: 1, fn: "9999078900001"),
                                                   lastDocumentNumber: 41)
        _ = try await registry.acquireLease(kassaID: kassa.id, owner: "A", ttl: .seconds(60))
        try await registry.releaseLeases(owner: "A", kassaIDs: [kassa.id])
        let lease = try #require(try await registry.acquireLease(kassaID: kassa.id, owner: "B", ttl: .seconds(60)))
        #expect(lease.epoch == 2)
        let job = UUID()
        #expect(try await registry.registerJob(uuid: job, tenantID: tenant.id, groupCode: tenant.groupCode,
                                               externalID: "order-1", operation: "sell", acceptedAt: Date(),
                                               callbackURL: nil))
        return (kassa, job, tenant)
    }

    @Test func jobsRegisterOnce() async throws {
        let (registry, _) = try await Self.registry()
        defer { registry.close() }
        let tenant = try await Self.tenant(registry)
        let job = UUID()
        let accepted = Date(timeIntervalSince1970: 1_714_566_896.123456)
        #expect(try await registry.registerJob(uuid: job, tenantID: tenant.id, groupCode: "shop1", externalID: "e1",
                                               operation: "sell", acceptedAt: accepted, callbackURL: "https://cb"))
        #expect(!(try await registry.registerJob(uuid: job, tenantID: tenant.id, groupCode: "shop1", externalID: "e1",
                                                 operation: "sell", acceptedAt: accepted, callbackURL: "https://cb")))
        let (record, result) = try #require(try await registry.job(groupCode: "shop1", externalID: "e1"))
        #expect(record.uuid == job)
        #expect(record.status == .wait)
        #expect(abs(record.acceptedAt.timeIntervalSince(accepted)) < 0.000_001)
        #expect(result == nil)
        #expect(try await registry.hasFinished(uuid: job) == false)
        #expect(try await registry.hasFinished(uuid: UUID()) == false)
        await #expect(throws: RegistryError.self) {
            try await registry.registerJob(uuid: UUID(), tenantID: 9_999, groupCode: "x", externalID: "y",
                                           operation: "sell", acceptedAt: Date(), callbackURL: nil)
        }
    }

    @Test func intentsAreFencedAndSingle() async throws {
        let (registry, _) = try await Self.registry()
        defer { registry.close() }
        let (kassa, job, _) = try await Self.fencedScene(registry)

        await #expect {
            try await registry.writeIntent(kassaID: kassa.id, jobUUID: job, epoch: 1, lastDocumentNumber: 41)
        } throws: { error in
            guard case RegistryError.fenced = error else { return false }
            return true
        }
        #expect(try await registry.intent(kassaID: kassa.id) == nil)

        try await registry.writeIntent(kassaID: kassa.id, jobUUID: job, epoch: 2, lastDocumentNumber: 41)
        try await registry.writeIntent(kassaID: kassa.id, jobUUID: job, epoch: 2, lastDocumentNumber: 41)  // a repeat
        let other = UUID()
        _ = try await registry.registerJob(uuid: other, tenantID: kassa.tenantID ?? 0, groupCode: "shop1", externalID: "order-2",
                                           operation: "sell", acceptedAt: Date(), callbackURL: nil)
        await #expect {
            try await registry.writeIntent(kassaID: kassa.id, jobUUID: other, epoch: 2, lastDocumentNumber: 41)
        } throws: { error in
            guard case RegistryError.conflict = error else { return false }
            return true
        }
        // A job never registered cannot be put on a kassa.
        await #expect {
            try await registry.writeIntent(kassaID: kassa.id, jobUUID: UUID(), epoch: 2, lastDocumentNumber: 41)
        } throws: { error in
            guard case RegistryError.notFound = error else { return false }
            return true
        }
        let intent = try #require(try await registry.intent(kassaID: kassa.id))
        #expect(intent.jobUUID == job)
        #expect(intent.leaseEpoch == 2)
        #expect(intent.lastDocumentNumber == 41)
        #expect(try await registry.intents(kassaIDs: [kassa.id, 77]).map(\.kassaID) == [kassa.id])

        // Reconciliation found nothing: a stale owner cannot release, the holder can.
        await #expect {
            try await registry.releaseIntent(kassaID: kassa.id, jobUUID: job, epoch: 1, lastDocumentNumber: 45)
        } throws: { error in
            guard case RegistryError.fenced = error else { return false }
            return true
        }
        #expect(try await registry.releaseIntent(kassaID: kassa.id, jobUUID: job, epoch: 2, lastDocumentNumber: 45))
        #expect(try await registry.intent(kassaID: kassa.id) == nil)
        #expect(try await registry.kassa(id: kassa.id)?.lastDocumentNumber == 45)
        #expect(try await registry.releaseIntent(kassaID: kassa.id, jobUUID: job, epoch: 2, lastDocumentNumber: 44) == false)
        #expect(try await registry.kassa(id: kassa.id)?.lastDocumentNumber == 45)  // never goes back
    }

    @Test func commitResultIsExactlyOnceAndFenced() async throws {
        let (registry, _) = try await Self.registry()
        defer { registry.close() }
        let (kassa, job, _) = try await Self.fencedScene(registry)
        try await registry.writeIntent(kassaID: kassa.id, jobUUID: job, epoch: 2, lastDocumentNumber: 41)
        let document = Self.document(42)

        // A stale owner changes nothing.
        await #expect {
            try await registry.commitResult(document, jobUUID: job, kassaID: kassa.id, epoch: 1)
        } throws: { error in
            guard case RegistryError.fenced(let message) = error else { return false }
            return message.contains("epoch 2")
        }
        #expect(try await registry.result(jobUUID: job) == nil)
        #expect(try await registry.job(uuid: job)?.0.status == .wait)
        #expect(try await registry.intent(kassaID: kassa.id)?.jobUUID == job)
        #expect(try await registry.kassa(id: kassa.id)?.lastDocumentNumber == 41)

        #expect(try await registry.commitResult(document, jobUUID: job, kassaID: kassa.id, epoch: 2) == .recorded)
        let (record, result) = try #require(try await registry.job(uuid: job))
        #expect(record.status == .done)
        #expect(record.kassaID == kassa.id)
        #expect(record.finishedAt != nil)
        let stored = try #require(result)
        #expect(stored.isSameDocument(as: document))
        #expect(stored.jobUUID == job && stored.kassaID == kassa.id && stored.leaseEpoch == 2)
        #expect(stored.fiscalDocumentAttribute == document.fiscalDocumentAttribute)
        #expect(stored.totalKopecks == 12_345)
        #expect(try await registry.intent(kassaID: kassa.id) == nil)
        #expect(try await registry.kassa(id: kassa.id)?.lastDocumentNumber == 42)
        #expect(try await registry.finishedJobs(uuids: [job, UUID()]) == [job])

        // A retried commit; the same job fiscalized a second time; a stale commit after all.
        #expect(try await registry.commitResult(document, jobUUID: job, kassaID: kassa.id, epoch: 2) == .alreadyRecorded)
        let second = Self.document(43)
        #expect(try await registry.commitResult(second, jobUUID: job, kassaID: kassa.id, epoch: 2)
                == .duplicate(existing: stored))
        #expect(try await registry.kassa(id: kassa.id)?.lastDocumentNumber == 43)
        #expect(try await registry.result(jobUUID: job) == stored)
        await #expect {
            try await registry.commitResult(Self.document(44), jobUUID: job, kassaID: kassa.id, epoch: 1)
        } throws: { error in
            guard case RegistryError.fenced = error else { return false }
            return true
        }
        #expect(try await registry.kassa(id: kassa.id)?.lastDocumentNumber == 43)

        // One FN document cannot be claimed by two jobs.
        let tenant = try #require(try await registry.tenant(groupCode: "shop1"))
        let otherJob = UUID()
        try await registry.registerJob(uuid: otherJob, tenantID: tenant.id, groupCode: "shop1", externalID: "order-2",
                                       operation: "sell", acceptedAt: Date(), callbackURL: nil)
        await #expect {
            try await registry.commitResult(document, jobUUID: otherJob, kassaID: kassa.id, epoch: 2)
        } throws: { error in
            guard case RegistryError.conflict = error else { return false }
            return true
        }
        // A job the registry never saw.
        await #expect {
            try await registry.commitResult(Self.document(50), jobUUID: UUID(), kassaID: kassa.id, epoch: 2)
        } throws: { error in
            guard case RegistryError.notFound = error else { return false }
            return true
        }
    }

    /// The commit between two sales on a kassa writes the next job's intent in the same
    /// transaction, only when it recorded this job's own document.
    @Test func aCommitWritesTheNextIntentOnlyWithItsOwnDocument() async throws {
        let (registry, _) = try await Self.registry()
        defer { registry.close() }
        let (kassa, job, tenant) = try await Self.fencedScene(registry)
        func register(_ externalID: String) async throws -> UUID {
            let uuid = UUID()
            try await registry.registerJob(uuid: uuid, tenantID: tenant.id, groupCode: tenant.groupCode, externalID: externalID,
                                           operation: "sell", acceptedAt: Date(), callbackURL: nil)
            return uuid
        }
        let next = try await register("order-2")
        try await registry.writeIntent(kassaID: kassa.id, jobUUID: job, epoch: 2, lastDocumentNumber: 41)

        // A stale owner: nothing changes, neither the commit nor the next intent.
        await #expect {
            try await registry.commitResult(Self.document(42), jobUUID: job, kassaID: kassa.id, epoch: 1, thenIntent: next)
        } throws: { error in
            guard case RegistryError.fenced = error else { return false }
            return true
        }
        #expect(try await registry.intent(kassaID: kassa.id)?.jobUUID == job)

        // Recorded, and the next intent is the kassa's, after the document just committed.
        let (outcome, nextOutcome) = try await registry.commitResult(Self.document(42), jobUUID: job, kassaID: kassa.id,
                                                                     epoch: 2, thenIntent: next)
        #expect(outcome == .recorded)
        #expect(nextOutcome == .written)
        let intent = try #require(try await registry.intent(kassaID: kassa.id))
        #expect(intent.jobUUID == next && intent.leaseEpoch == 2 && intent.lastDocumentNumber == 42)
        #expect(try await registry.job(uuid: job)?.0.status == .done)

        // A repeat after a lost answer: the same document, the same next intent.
        let repeated = try await registry.commitResult(Self.document(42), jobUUID: job, kassaID: kassa.id, epoch: 2, thenIntent: next)
        #expect(repeated.0 == .alreadyRecorded)
        #expect(repeated.next == .written)

        // The next job (in the kassa's FN, say) is recorded from another kassa's document
        // meanwhile: this kassa's document for it is a duplicate, whose intent stays, so no
        // next intent is written.
        let other = try await registry.insertKassa(Self.placement(tenantID: tenant.id, slot: 2, fn: "9999078900002"), lastDocumentNumber: 0)
        let otherLease = try #require(try await registry.acquireLease(kassaID: other.id, owner: "B", ttl: .seconds(60)))
        #expect(try await registry.commitResult(Self.document(1, fn: "9999078900002"), jobUUID: next, kassaID: other.id,
                                                epoch: otherLease.epoch) == .recorded)
        let third = try await register("order-3")
        let duplicate = try await registry.commitResult(Self.document(43), jobUUID: next, kassaID: kassa.id, epoch: 2, thenIntent: third)
        guard case .duplicate = duplicate.0, case .notWritten = duplicate.next else {
            Issue.record("expected a duplicate and no next intent, got \(duplicate)")
            return
        }
        #expect(try await registry.intent(kassaID: kassa.id)?.jobUUID == next)

        // A next job that is finished, or in doubt on another kassa, gets no intent here.
        #expect(try await registry.releaseIntent(kassaID: kassa.id, jobUUID: next, epoch: 2, lastDocumentNumber: 43))
        let fourth = try await register("order-4")
        try await registry.writeIntent(kassaID: kassa.id, jobUUID: fourth, epoch: 2, lastDocumentNumber: 43)
        try await registry.writeIntent(kassaID: other.id, jobUUID: third, epoch: otherLease.epoch, lastDocumentNumber: 1)
        let elsewhere = try await registry.commitResult(Self.document(44), jobUUID: fourth, kassaID: kassa.id, epoch: 2, thenIntent: third)
        #expect(elsewhere.0 == .recorded)
        guard case .notWritten(let reason) = elsewhere.next else {
            Issue.record("expected no next intent for a job in doubt elsewhere, got \(elsewhere.next)")
            return
        }
        #expect(reason.contains("kassa \(other.id)"))
        #expect(try await registry.intent(kassaID: kassa.id) == nil)
        let fifth = try await register("order-5")
        try await registry.writeIntent(kassaID: kassa.id, jobUUID: fifth, epoch: 2, lastDocumentNumber: 44)
        let finished = try await registry.commitResult(Self.document(45), jobUUID: fifth, kassaID: kassa.id, epoch: 2, thenIntent: job)
        #expect(finished.0 == .recorded)
        #expect(finished.next == .notWritten(reason: "job \(job) is done"))
        #expect(try await registry.intent(kassaID: kassa.id) == nil)
    }

    /// Marking a job done must not touch its indexes (a HOT update): no index may depend on
    /// the columns a commit changes, status among them (migration 10).
    @Test func aJobsCommitIsAHOTUpdate() async throws {
        let (registry, _) = try await Self.registry()
        defer { registry.close() }
        let (kassa, job, _) = try await Self.fencedScene(registry)
        try await registry.writeIntent(kassaID: kassa.id, jobUUID: job, epoch: 2, lastDocumentNumber: 41)
        let document = Self.document(42)
        // In one transaction, whose own counters are readable before anything is flushed.
        let (updated, hot) = try await registry.transaction { connection in
            _ = try connection.query("""
                SELECT * FROM commit_and_intend($1::uuid, $2::bigint, 2, 42, $3, $4, $5::bigint, 1, 1, '01.05.2024 12:00:00', 100, NULL)
                """, [job.uuidString, String(kassa.id), document.fnSerial, document.registrationNumber,
                      String(document.fiscalDocumentAttribute)])
            let row = try #require(try connection.query("""
                SELECT pg_stat_get_xact_tuples_updated('jobs'::regclass) AS updated,
                       pg_stat_get_xact_tuples_hot_updated('jobs'::regclass) AS hot
                """).first)
            return (try row.int64("updated"), try row.int64("hot"))
        }
        #expect(updated == 1)
        #expect(hot == 1)
        #expect(try await registry.job(uuid: job)?.0.status == .done)
    }

    @Test func failJobNeverOverwritesDone() async throws {
        let (registry, _) = try await Self.registry()
        defer { registry.close() }
        let (kassa, job, tenant) = try await Self.fencedScene(registry)
        #expect(try await registry.commitResult(Self.document(42), jobUUID: job, kassaID: kassa.id, epoch: 2) == .recorded)

        #expect(try await registry.failJob(jobUUID: job, kassaID: kassa.id, epoch: 2, code: 1, type: "system", text: "late") == false)
        #expect(try await registry.failJob(jobUUID: job, kassaID: nil, epoch: nil, code: 1, type: "system", text: "late") == false)
        let (record, result) = try #require(try await registry.job(uuid: job))
        #expect(record.status == .done)
        #expect(record.errorCode == nil)
        #expect(result != nil)

        // A job the kassa refused: fenced failure, drops the intent.
        let refused = UUID()
        try await registry.registerJob(uuid: refused, tenantID: tenant.id, groupCode: tenant.groupCode, externalID: "order-9",
                                       operation: "sell", acceptedAt: Date(), callbackURL: nil)
        try await registry.writeIntent(kassaID: kassa.id, jobUUID: refused, epoch: 2, lastDocumentNumber: 42)
        await #expect {
            try await registry.failJob(jobUUID: refused, kassaID: kassa.id, epoch: 1, code: 32, type: "agent", text: "refused")
        } throws: { error in
            guard case RegistryError.fenced = error else { return false }
            return true
        }
        #expect(try await registry.job(uuid: refused)?.0.status == .wait)
        #expect(try await registry.failJob(jobUUID: refused, kassaID: kassa.id, epoch: 2, code: 32, type: "agent", text: "refused"))
        let failed = try #require(try await registry.job(uuid: refused)?.0)
        #expect(failed.status == .fail)
        #expect(failed.errorCode == 32 && failed.errorType == "agent" && failed.errorText == "refused")
        #expect(failed.kassaID == kassa.id)
        #expect(try await registry.intent(kassaID: kassa.id) == nil)
        #expect(try await registry.hasFinished(uuid: refused))

        // If the FN shows the receipt after all, the result wins over the failure.
        #expect(try await registry.commitResult(Self.document(43), jobUUID: refused, kassaID: kassa.id, epoch: 2) == .recorded)
        let revived = try #require(try await registry.job(uuid: refused)?.0)
        #expect(revived.status == .done && revived.errorCode == nil)

        await #expect {
            try await registry.failJob(jobUUID: UUID(), kassaID: nil, epoch: nil, code: 1, type: "system", text: "x")
        } throws: { error in
            guard case RegistryError.notFound = error else { return false }
            return true
        }
        await #expect {
            try await registry.failJob(jobUUID: refused, kassaID: kassa.id, epoch: nil, code: 1, type: "system", text: "x")
        } throws: { error in
            guard case RegistryError.invalidArgument = error else { return false }
            return true
        }
    }

    // MARK: Connections

    @Test func transactionsCommitAndRollBack() async throws {
        let (registry, _) = try await Self.registry()
        defer { registry.close() }
        try await registry.withConnection { try $0.execute("CREATE TABLE t (v text)") }
        struct Boom: Error {}
        await #expect(throws: Boom.self) {
            try await registry.transaction { connection in
                try connection.execute("INSERT INTO t VALUES ($1)", ["rolled back"])
                throw Boom()
            }
        }
        // A body that swallows a statement error cannot commit the rest.
        await #expect {
            try await registry.transaction { connection in
                try connection.execute("INSERT INTO t VALUES ($1)", ["lost"])
                _ = try? connection.execute("SELECT 1/0")
            }
        } throws: { error in
            (error as? RegistryError)?.sqlState == "25P02"
        }
        let inserted = try await registry.transaction { connection in
            try connection.execute("INSERT INTO t VALUES ($1), ($2)", ["kept", nil])
        }
        #expect(inserted == 2)
        let rows = try await registry.withConnection { try $0.query("SELECT v FROM t ORDER BY v NULLS LAST") }
        #expect(rows.rows == [["kept"], [nil]])

        // A statement error carries SQLSTATE, message and statement.
        do {
            _ = try await registry.withConnection { try $0.query("SELECT * FROM missing_table WHERE v = $1", ["x"]) }
            Issue.record("expected an error")
        } catch RegistryError.statement(let sqlState, let message, let statement) {
            #expect(sqlState == "42P01")
            #expect(message.contains("missing_table"))
            #expect(statement.contains("SELECT * FROM missing_table"))
        }
        // An open transaction left by a body is rolled back before the connection is reused.
        try await registry.withConnection { connection in
            try connection.execute("BEGIN")
            try connection.execute("INSERT INTO t VALUES ($1)", ["abandoned"])
        }
        let count = try await registry.withConnection { try $0.query("SELECT count(*) AS n FROM t WHERE v = 'abandoned'") }
        #expect(try count.first?.int("n") == 0)
    }

    @Test func textValuesRoundTrip() async throws {
        let (registry, _) = try await Self.registry(migrate: false)
        defer { registry.close() }
        let elements = ["plain", "with,comma", "with \"quote\"", "back\\slash", "NULL", "", "юникод {braces}"]
        let date = Date(timeIntervalSince1970: 1_714_566_896.654321)
        let row = try await registry.withConnection { connection in
            try connection.query("""
                SELECT $1::text[] AS a, $2::timestamptz AS t, $2::timestamptz + interval '3 hours' AS later,
                       ARRAY['x', NULL]::text[] AS with_null, true AS yes, 12345678901::bigint AS big,
                       $3::uuid AS id, NULL::text AS nothing
                """, [PostgresText.array(elements.map { Optional($0) }), PostgresText.timestamp(date),
                      UUID(uuidString: "6F9619FF-8B86-D011-B42D-00CF4FC964FF")?.uuidString])
        }.first
        let values = try #require(row)
        #expect(try values.stringArray("a") == elements)
        #expect(try abs(values.date("t").timeIntervalSince(date)) < 0.000_001)
        #expect(try abs(values.date("later").timeIntervalSince(date) - 10_800) < 0.000_001)
        #expect(PostgresText.arrayElements(from: try values.string("with_null")) == ["x", nil])
        #expect(throws: RegistryError.self) { try values.stringArray("with_null") }
        #expect(try values.bool("yes"))
        #expect(try values.int64("big") == 12_345_678_901)
        #expect(try values.uuid("id") == UUID(uuidString: "6F9619FF-8B86-D011-B42D-00CF4FC964FF"))
        #expect(try values.optionalString("nothing") == nil)
        #expect(throws: RegistryError.self) { try values.string("nothing") }
        #expect(throws: RegistryError.self) { try values.string("no_such_column") }
        await #expect(throws: RegistryError.self) {
            try await registry.withConnection { try $0.query("SELECT $1::text", ["nul\u{0}byte"]) }
        }
        // Offsets other than UTC still parse exactly.
        #expect(PostgresText.date(from: "2024-05-01 15:34:56.5+03") == Date(timeIntervalSince1970: 1_714_566_896.5))
        #expect(PostgresText.date(from: "2024-05-01 12:04:56-00:30") == Date(timeIntervalSince1970: 1_714_566_896))
        #expect(PostgresText.date(from: "2024-05-01") == Date(timeIntervalSince1970: 1_714_521_600))
        #expect(PostgresText.date(from: "0044-03-15 00:00:00+00 BC") == nil)
        #expect(PostgresText.timestamp(Date(timeIntervalSince1970: -1.5)) == "1969-12-31T23:59:58.500000Z")
    }

    @Test func brokenConnectionIsReconnectedOnNextUse() async throws {
        let (registry, connectionString) = try await Self.registry(poolSize: 1)
        defer { registry.close() }
        let killer = try Registry(configuration: RegistryConfiguration(connectionString: connectionString, poolSize: 1),
                                  logger: Self.logger)
        defer { killer.close() }
        let pid = try await registry.withConnection { $0.backendPID }
        #expect(pid > 0)
        let killed = try await killer.withConnection { connection in
            try connection.query("SELECT pg_terminate_backend($1::integer, 5000) AS done", [String(pid)])
        }
        #expect(try killed.first?.bool("done") == true)
        let after = try await registry.withConnection { connection in
            (connection.backendPID, try connection.query("SELECT 1 AS one").first?.int("one"))
        }
        #expect(after.0 != pid)
        #expect(after.1 == 1)
        // The new session got the session settings the decoders rely on.
        let zone = try await registry.withConnection { try $0.query("SHOW TimeZone").first?.string("TimeZone") }
        #expect(zone == "UTC")
    }

    @Test func unreachableDatabaseAndBadConfiguration() async throws {
        let deadPort = try TestPostgres.freePort()
        var configuration = RegistryConfiguration(connectionString: "host=127.0.0.1 port=\(deadPort) dbname=x user=postgres",
                                                  poolSize: 1)
        configuration.reachabilityTimeout = .seconds(1)
        let registry = try Registry(configuration: configuration, logger: Self.logger)  // lazy: no connection yet
        defer { registry.close() }
        #expect(await registry.isReachable() == false)
        await #expect {
            _ = try await registry.withConnection { try $0.query("SELECT 1") }
        } throws: { error in
            guard case RegistryError.connection(let message) = error else { return false }
            return message.contains("connect")
        }
        #expect(throws: RegistryError.self) {
            try Registry(configuration: RegistryConfiguration(connectionString: "host=127.0.0.1 bogus_option=1"),
                         logger: Self.logger)
        }
        #expect(throws: RegistryError.self) {
            try Registry(configuration: RegistryConfiguration(connectionString: "host=x", poolSize: 0), logger: Self.logger)
        }
    }

    @Test func multiHostConnectionStringFindsTheServer() async throws {
        let server = try TestPostgres.shared()
        _ = try await server.createDatabase("multihost")
        let deadPort = try TestPostgres.freePort()
        let connectionString = "host=127.0.0.1,127.0.0.1 port=\(deadPort),\(server.port) dbname=multihost user=postgres "
            + "target_session_attrs=read-write connect_timeout=2"
        let registry = try Registry(configuration: RegistryConfiguration(connectionString: connectionString, poolSize: 2),
                                    logger: Self.logger)
        defer { registry.close() }
        #expect(await registry.isReachable())
        #expect(try await registry.migrate() == Registry.migrations.map(\.version))
        let port = try await registry.withConnection { try $0.query("SELECT inet_server_port() AS port").first?.int("port") }
        #expect(port == server.port)
    }

    @Test func cancellingQueuedWorkRemovesIt() async throws {
        let (registry, _) = try await Self.registry(poolSize: 1, migrate: false)
        defer { registry.close() }
        // The blocker holds the only connection (its own thread) until the test lets it go.
        let release = DispatchSemaphore(value: 0)
        let (started, signal) = AsyncStream<Void>.makeStream()
        let blocker = Task {
            try await registry.withConnection { connection in
                signal.yield()
                release.wait()
                return try connection.query("SELECT 0 AS zero").first?.int("zero")
            }
        }
        defer { release.signal() }
        for await _ in started { break }
        let queued = Task { try await registry.withConnection { try $0.query("SELECT 1 AS one").first?.int("one") } }
        for _ in 0..<1000 where registry.queuedCalls == 0 { try await Task.sleep(for: .milliseconds(10)) }
        #expect(registry.queuedCalls == 1)
        queued.cancel()
        await #expect(throws: CancellationError.self) { try await queued.value }
        #expect(registry.queuedCalls == 0)
        release.signal()
        #expect(try await blocker.value == 0)
        #expect(try await registry.withConnection { try $0.query("SELECT 2 AS two").first?.int("two") } == 2)
    }

    @Test func closedRegistryFailsCalls() async throws {
        let (registry, _) = try await Self.registry(poolSize: 1, migrate: false)
        registry.close()
        await #expect {
            _ = try await registry.withConnection { try $0.query("SELECT 1") }
        } throws: { error in
            guard case RegistryError.connection = error else { return false }
            return true
        }
    }
}

extension RegistryTests {
    @Test func aPreparedStatementSurvivesItsTableChangingShape() async throws {
        let (registry, _) = try await Self.registry(poolSize: 1)
        defer { registry.close() }
        try await registry.withConnection { connection in
            try connection.execute("CREATE TABLE shapes (a integer)")
            try connection.execute("INSERT INTO shapes VALUES (1)")
            #expect(try connection.query("SELECT * FROM shapes").first?.int("a") == 1)
            // The statement above is prepared in this session; its plan's result type is now stale.
            try connection.execute("ALTER TABLE shapes ADD COLUMN b integer DEFAULT 2")
            let row = try #require(try connection.query("SELECT * FROM shapes").first)
            #expect(try row.int("a") == 1 && row.int("b") == 2)
        }
    }
}

extension RegistryTests {
    /// `.eachRun` sends the statement unprepared, so the server plans it for the table as it is
    /// on every run instead of keeping a generic plan made when the table was nearly empty.
    @Test func aStatementPlannedOnEveryRunIsNeverPrepared() async throws {
        let (registry, _) = try await Self.registry(poolSize: 1)
        defer { registry.close() }
        try await registry.withConnection { connection throws in
            let lookup = "SELECT x FROM generate_series(1, 3) AS x WHERE x = ANY ($1::integer[])"
            let preparedCount = "SELECT count(*) AS n FROM pg_prepared_statements WHERE statement = $1"
            // More runs than the server's five custom plans before it settles on a generic one.
            for _ in 0..<7 { #expect(try connection.query(lookup, ["{1,3}"], planning: .eachRun).count == 2) }
            #expect(try connection.query(preparedCount, [lookup]).first?.int("n") == 0)
            #expect(try connection.query(lookup, ["{2}"]).count == 1)
            #expect(try connection.query(preparedCount, [lookup]).first?.int("n") == 1)
        }
    }
}
