import Foundation
import Testing

@testable import Registry

extension RegistryTests {
    /// After a failover the old primary's connections see a read-only server (SQLSTATE 25006):
    /// the write fails with nothing written, and the next unit of work reconnects (the
    /// multi-host string then finds the new primary). Here one session is made read-only.
    @Test func aReadOnlyServerMakesTheNextUseReconnect() async throws {
        let (registry, _) = try await Self.registry(poolSize: 1)
        defer { registry.close() }
        let before = try await registry.withConnection { try $0.query("SELECT pg_backend_pid() AS pid").first?.int("pid") }
        try await registry.withConnection { try $0.execute("SET SESSION CHARACTERISTICS AS TRANSACTION READ ONLY") }
        await #expect(throws: RegistryError.self) {
            try await Self.tenant(registry, "shop-ro")
        }
        let tenant = try await Self.tenant(registry, "shop-ro")
        #expect(tenant.groupCode == "shop-ro")
        let after = try await registry.withConnection { try $0.query("SELECT pg_backend_pid() AS pid").first?.int("pid") }
        #expect(before != nil && after != nil && before != after)
    }
}

extension RegistryTests {
    /// A server that stops answering (a partition, or a proxy swallowing the traffic) must not
    /// hold a statement forever: past the answer timeout it fails as "outcome unknown", and the
    /// next unit of work runs on a fresh connection. A long pg_sleep stands in for the silence.
    @Test func aStatementWithoutAnswerTimesOutAndTheNextUseReconnects() async throws {
        let (_, connectionString) = try await Self.registry(poolSize: 1)
        var configuration = RegistryConfiguration(connectionString: connectionString, poolSize: 1)
        configuration.answerTimeout = .milliseconds(500)
        let registry = try Registry(configuration: configuration, logger: Self.logger)
        defer { registry.close() }
        let before = try await registry.withConnection { try $0.query("SELECT pg_backend_pid() AS pid").first?.int("pid") }
        let started = ContinuousClock.now
        let error = await #expect(throws: RegistryError.self) {
            try await registry.withConnection { try $0.execute("SELECT pg_sleep(30)") }
        }
        #expect(ContinuousClock.now - started < .seconds(10))
        #expect(error?.isTransient == true)
        #expect("\(error.map(String.init(describing:)) ?? "")".contains("no answer within"))
        let after = try await registry.withConnection { try $0.query("SELECT pg_backend_pid() AS pid").first?.int("pid") }
        #expect(before != nil && after != nil && before != after)
    }
}
