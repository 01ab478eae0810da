import Foundation
import Testing

@testable import Registry

/// Statements that lock many kassa rows lock them in ascending id, so that two of them can
/// wait for each other but never in a cycle (a deadlock costs deadlock_timeout, 1 s, of every
/// kassa in the losing batch). Each test holds one kassa row from a side connection, lets the
/// statement run into it, and then looks at which rows the waiting statement already holds.
extension RegistryTests {
    /// 64 kassas leased by "A" at epoch 1 (with eight, the planner happened to join a renewal's
    /// rows in id order even without ORDER BY, so its test could not fail); a side connection,
    /// to hold a row, and a probe connection, to look at the others (its NOWAIT failures must
    /// not spoil the side's transaction).
    static func lockOrderScene(_ registry: Registry, _ connectionString: String) async throws
        -> (tenant: TenantRecord, kassas: [Int64], side: PostgresConnection, probe: PostgresConnection)
    {
        let tenant = try await tenant(registry, "shop-locks")
        var kassas: [Int64] = []
        for slot in 1...64 {
            let kassa = try await registry.insertKassa(placement(tenantID: tenant.id, slot: slot, fn: "9999078900\(100 + slot)"))
            _ = try #require(try await registry.acquireLease(kassaID: kassa.id, owner: "A", ttl: .seconds(60)))
            kassas.append(kassa.id)
        }
        let parameters = ConnectionParameters(configuration: RegistryConfiguration(connectionString: connectionString))
        let side = PostgresConnection(parameters: parameters, logger: logger)
        let probe = PostgresConnection(parameters: parameters, logger: logger)
        try side.prepareForUse()
        try probe.prepareForUse()
        return (tenant, kassas.sorted(), side, probe)
    }

    /// Waits (bounded) until a backend of the database other than `side` waits for a row lock.
    static func awaitLockWait(_ side: PostgresConnection) async throws {
        for _ in 0..<1_000 {
            let rows = try side.query("""
                SELECT count(*) AS waiting FROM pg_stat_activity
                WHERE datname = current_database() AND pid <> pg_backend_pid() AND wait_event_type = 'Lock'
                """)
            if try rows.first?.int("waiting") ?? 0 > 0 { return }
            try await Task.sleep(for: .milliseconds(5))
        }
        Issue.record("no statement came to wait for the held kassa row")
    }

    /// The kassas among `ids` whose rows another transaction holds (a NOWAIT lock fails on them).
    static func lockedKassas(_ probe: PostgresConnection, _ ids: [Int64]) throws -> [Int64] {
        var locked: [Int64] = []
        for id in ids {
            do {
                _ = try probe.query("SELECT id FROM kassas WHERE id = $1::bigint FOR NO KEY UPDATE NOWAIT", [String(id)])
            } catch let error as RegistryError where error.sqlState == "55P03" {
                locked.append(id)
            }
        }
        return locked
    }

    @Test func anIntentBatchLocksItsKassasInAscendingIDWhateverOrderItCameIn() async throws {
        let (registry, connectionString) = try await Self.registry()
        defer { registry.close() }
        let (tenant, kassas, side, probe) = try await Self.lockOrderScene(registry, connectionString)
        defer { side.close(); probe.close() }
        var writes: [IntentWrite] = []
        for (index, kassa) in kassas.enumerated() {
            let job = UUID()
            _ = try await registry.admitJobs([Self.admission(tenant, job, "lock-\(index)")])
            writes.append(IntentWrite(kassaID: kassa, jobUUID: job, epoch: 1, lastDocumentNumber: 0, allowElsewhere: false))
        }
        let held = kassas[32]
        _ = try side.execute("BEGIN")
        _ = try side.query("SELECT id FROM kassas WHERE id = $1::bigint FOR NO KEY UPDATE", [String(held)])
        // Highest kassa first: in arrival order, the batch would lock the kassas above the held one first.
        let arrived = Array(writes.reversed())
        let batch = Task {
            await registry.writeIntentRows(arrived).map { answer in
                (inserted: try? answer.get().bool("inserted"), heldJob: try? answer.get().optionalUUID("held_job"))
            }
        }
        try await Self.awaitLockWait(side)
        let locked = try Self.lockedKassas(probe, kassas.filter { $0 != held })
        _ = try side.execute("COMMIT")
        #expect(locked == Array(kassas[..<32]), "the batch holds the kassas below the one it waits for, and only those")
        let answers = await batch.value
        #expect(answers.count == arrived.count)
        for (answer, write) in zip(answers, arrived) {
            #expect(answer.inserted == true, "intent for kassa \(write.kassaID) written")
            #expect(answer.heldJob == write.jobUUID, "answered in the caller's order")
        }
    }

    @Test func aLeaseRenewalLocksItsKassasInAscendingID() async throws {
        let (registry, connectionString) = try await Self.registry()
        defer { registry.close() }
        let (_, kassas, side, probe) = try await Self.lockOrderScene(registry, connectionString)
        defer { side.close(); probe.close() }
        // Rows updated out of id order move in the table, so its physical order is not id order.
        for kassa in kassas.reversed() {
            _ = try await registry.renewLeases(owner: "A", leases: [(kassa, 1)], ttl: .seconds(60))
        }
        let held = kassas[32]
        _ = try side.execute("BEGIN")
        _ = try side.query("SELECT id FROM kassas WHERE id = $1::bigint FOR SHARE", [String(held)])
        let renewal = Task { try await registry.renewLeases(owner: "A", leases: kassas.reversed().map { ($0, 1) }, ttl: .seconds(60)) }
        try await Self.awaitLockWait(side)
        let locked = try Self.lockedKassas(probe, kassas.filter { $0 != held })
        _ = try side.execute("COMMIT")
        #expect(locked == Array(kassas[..<32]), "the renewal holds the kassas below the one it waits for, and only those")
        #expect(try await renewal.value == Set(kassas))
    }
}
