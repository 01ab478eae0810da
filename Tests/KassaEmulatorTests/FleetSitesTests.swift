import KassaModel
import Testing

@testable import KassaEmulator

/// One emulator per site: a fleet runs only its sites' modules, with the serials they have in
/// the whole topology.
@Suite struct FleetSitesTests {
    static let topology = Topology(sites: [
        .init(name: "A", racks: [.init(name: "A1", assemblies: [.init(name: "A1-1", basePort: 21000, modules: 2)])]),
        .init(name: "B", racks: [.init(name: "B1", assemblies: [.init(name: "B1-1", basePort: 23000, modules: 2)])]),
    ])

    @Test func aSiteFilterKeepsThatSitesModulesAndTheirSerials() throws {
        var configuration = FleetConfiguration(topology: Self.topology, dataDirectory: "/nonexistent")
        configuration.sites = ["B"]
        let slots = try configuration.slots()
        #expect(slots == Self.topology.modules.filter { $0.site == "B" })
        #expect(slots.map(\.fnSerial) == ["9999020010010001", "9999020010010002"])
    }

    @Test func anUnknownSiteIsRefusedNamingIt() {
        var configuration = FleetConfiguration(topology: Self.topology, dataDirectory: "/nonexistent")
        configuration.sites = ["A", "C"]
        #expect(throws: FleetError(module: nil, "no site C in the topology (it has A, B)")) {
            try configuration.slots()
        }
    }
}
