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
