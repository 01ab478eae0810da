import Foundation
import KassaModel
import Testing

@testable import Registry

extension RegistryTests {
    /// Two sites × two racks × two assemblies × three modules.
    static let smallTopology = Topology(sites: ["A", "B"].map { site in
        .init(name: site, racks: [1, 2].map { rack in
            .init(name: "\(site)\(rack)", assemblies: [1, 2].map { assembly in
                .init(name: "\(site)\(rack)-\(assembly)", basePort: 30000 + (site == "A" ? 0 : 100) + rack * 10 + assembly * 3,
                      modules: 3)
            })
        })
    })

    /// Stands in for the module's answer to `register`.
    @Sendable static func fakeRegister(_ module: ModuleSlot, _ tenant: TenantRecord) async throws -> ModuleRegistration {
        ModuleRegistration(fnSerial: module.fnSerial, registrationNumber: "00000" + module.fnSerial.suffix(11),
                           fnCapacity: 250_000, fnExpiresAt: Date(timeIntervalSince1970: 1_900_000_000), lastDocumentNumber: 3)
    }

    @Test func theTopologyOnRecordIsTheFileAndAnAssemblyWithKassasCannotVanish() async throws {
        let (registry, _) = try await Self.registry()
        defer { registry.close() }
        #expect(try await registry.topology() == nil)
        try await registry.loadTopology(Self.smallTopology)
        #expect(try await registry.topology() == Self.smallTopology)

        let tenant = try await Self.tenant(registry)
        _ = try await registry.placeKassas(groupCode: tenant.groupCode, request: ["B2-2/01"], register: Self.fakeRegister)
        // Without B2-2, which holds a kassa: refused, and nothing changes.
        var smaller = Self.smallTopology
        smaller.sites[1].racks[1].assemblies.removeLast()
        await #expect(throws: RegistryError.conflict(
            "the topology no longer has assembly B2-2, which still holds kassas: retire them first")) {
            try await registry.loadTopology(smaller)
        }
        #expect(try await registry.topology() == Self.smallTopology)
        // Without B2-1, which is empty: fine.
        var withoutEmpty = Self.smallTopology
        withoutEmpty.sites[1].racks[1].assemblies.removeFirst()
        try await registry.loadTopology(withoutEmpty)
        #expect(try await registry.topology() == withoutEmpty)
    }

    @Test func aTenantIsToppedUpToWhatItRentsSpreadOverSitesRacksAndAssemblies() async throws {
        let (registry, _) = try await Self.registry()
        defer { registry.close() }
        try await registry.loadTopology(Self.smallTopology)
        let tenant = try await Self.tenant(registry)
        try await registry.setKassasWanted(groupCode: tenant.groupCode, count: 4)

        // A dry run registers and records nothing.
        let dry = try await registry.placeKassas(groupCode: tenant.groupCode, dryRun: true) { _, _ in
            Issue.record("a dry run registered a module")
            throw RegistryError.invalidArgument("dry run")
        }
        #expect(dry.placed.count == 4)
        #expect(try await registry.kassas(tenantID: tenant.id).isEmpty)

        let outcome = try await registry.placeKassas(groupCode: tenant.groupCode, register: Self.fakeRegister)
        #expect(outcome.placed == dry.placed)
        let kassas = try await registry.kassas(tenantID: tenant.id)
        #expect(kassas.count == 4)
        #expect(Set(kassas.map(\.rack)) == ["A1", "A2", "B1", "B2"])
        #expect(kassas.allSatisfy { $0.lastDocumentNumber == 3 && $0.state == .active })
        // Placing again changes nothing: the tenant has what it rents.
        #expect(try await registry.placeKassas(groupCode: tenant.groupCode, register: Self.fakeRegister).placed.isEmpty)

        // One in site B retired: the replacement is in site B again, in a new module.
        let retired = try #require(kassas.first { $0.site == "B" })
        try await registry.retireKassa(fnSerial: retired.fnSerial)
        let after = try await registry.placeKassas(groupCode: tenant.groupCode, register: Self.fakeRegister)
        let replacement = try #require(after.placed.first)
        #expect(after.placed.count == 1 && replacement.site == "B")
        #expect(replacement.fnSerial != retired.fnSerial)
        #expect(after.crowdedAssemblies.isEmpty)
        let active = try await registry.kassas(tenantID: tenant.id).filter { $0.state == .active }
        #expect(Dictionary(grouping: active, by: \.site).mapValues(\.count) == ["A": 2, "B": 2])
    }

    @Test func anExplicitRequestThatCrowdsAnAssemblyIsRefusedAndRecordsNothing() async throws {
        let (registry, _) = try await Self.registry()
        defer { registry.close() }
        try await registry.loadTopology(Self.smallTopology)
        let tenant = try await Self.tenant(registry)
        await #expect(throws: PlacementRefusal.self) {
            try await registry.placeKassas(groupCode: tenant.groupCode, request: ["A1-1/01", "A1-1/02"], register: Self.fakeRegister)
        }
        await #expect(throws: PlacementRefusal("module Z9-9/01: not in the topology (expected ASSEMBLY/SLOT, e.g. A1-1/07)")) {
            try await registry.placeKassas(groupCode: tenant.groupCode, request: ["Z9-9/01"], register: Self.fakeRegister)
        }
        #expect(try await registry.kassas(tenantID: tenant.id).isEmpty)
        // Another tenant's module is not free.
        let other = try await Self.tenant(registry, "shop2")
        _ = try await registry.placeKassas(groupCode: other.groupCode, request: ["A1-1/01"], register: Self.fakeRegister)
        await #expect(throws: PlacementRefusal("module A1-1/01 is not free")) {
            try await registry.placeKassas(groupCode: tenant.groupCode, request: ["A1-1/01"], register: Self.fakeRegister)
        }
    }
}
