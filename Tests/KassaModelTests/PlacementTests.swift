import Testing

@testable import KassaModel

/// Placement over a small two-site topology: 2 sites × 2 racks × 3 assemblies × 4 modules.
@Suite struct PlacementTests {
    static let topology: Topology = {
        var port = 21000
        func assembly(_ name: String) -> Topology.Assembly {
            defer { port += 4 }
            return .init(name: name, basePort: port, modules: 4)
        }
        return Topology(sites: ["A", "B"].map { site in
            .init(name: site, racks: [1, 2].map { rack in
                .init(name: "\(site)\(rack)", assemblies: [1, 2, 3].map { assembly("\(site)\(rack)-\($0)") })
            })
        })
    }()

    static var modules: [ModuleSlot] { topology.modules }

    func module(_ name: String) -> ModuleSlot {
        Self.modules.first { $0.name == name }!
    }

    @Test func kassasGoToSitesFirstThenRacksThenAssemblies() throws {
        let chosen = try Placement.choose(count: 4, free: Self.modules, holding: [])
        let spread = Placement.Spread(chosen)
        #expect(spread.sites == ["A": 2, "B": 2])
        #expect(spread.racks == ["A1": 1, "A2": 1, "B1": 1, "B2": 1])
        #expect(spread.crowdedAssemblies.isEmpty)
        // Alternating sites: losing either site after any prefix of picks leaves the other half.
        #expect(chosen.map(\.site) == ["A", "B", "A", "B"])
    }

    @Test func everyAssemblyIsUsedOnceBeforeAnyTwice() throws {
        // 12 assemblies: 12 kassas are one per assembly, the 13th is the first to share.
        let twelve = try Placement.choose(count: 12, free: Self.modules, holding: [])
        #expect(Placement.Spread(twelve).worstLoss == (site: 6, rack: 3, assembly: 1))
        let thirteen = try Placement.choose(count: 13, free: Self.modules, holding: [])
        #expect(Placement.Spread(thirteen).crowdedAssemblies.count == 1)
    }

    @Test func aTopUpAfterARetirementKeepsTheSpread() throws {
        let placed = try Placement.choose(count: 6, free: Self.modules, holding: [])
        // One kassa in site B is retired: its module stays out of use, the replacement comes
        // from site B again (the site that lost one), in an assembly the tenant does not use.
        let retired = try #require(placed.first { $0.site == "B" })
        let holding = placed.filter { $0 != retired }
        let free = Self.modules.filter { !placed.contains($0) }
        let replacement = try Placement.choose(count: 1, free: free, holding: holding)
        #expect(replacement.map(\.site) == ["B"])
        let after = Placement.Spread(holding + replacement)
        #expect(after.sites == ["A": 3, "B": 3])
        #expect(after.crowdedAssemblies.isEmpty)
    }

    @Test func anotherTenantsModulesAreNotUsedAndTheSpreadStillHolds() throws {
        // Another tenant took every module of site A's first rack.
        let free = Self.modules.filter { $0.rack != "A1" }
        let chosen = try Placement.choose(count: 4, free: free, holding: [])
        #expect(Set(chosen.map(\.rack)) == ["A2", "B1", "B2"])
        #expect(Placement.Spread(chosen).sites == ["A": 2, "B": 2])
    }

    @Test func moreThanTheFreeModulesIsRefused() {
        #expect(throws: PlacementRefusal("3 more kassas requested but only 2 modules are free")) {
            try Placement.choose(count: 3, free: Array(Self.modules.prefix(2)), holding: [])
        }
    }

    @Test func anExplicitRequestForTwoInOneAssemblyIsRefusedWithTheReason() throws {
        let request = [module("A1-1/01"), module("A1-1/02")]
        let refusal = #expect(throws: PlacementRefusal.self) {
            try Placement.check(request: request, free: Self.modules, holding: [])
        }
        #expect(refusal?.reason.hasPrefix("module A1-1/02 would be the tenant's second kassa in assembly A1-1 while assembly A1-2 has a free module") == true)
        // The same pair is fine when no other assembly has anything free.
        let onlyA11 = Self.modules.filter { $0.assembly == "A1-1" }
        try Placement.check(request: request, free: onlyA11, holding: [])
        // Spread requests pass.
        try Placement.check(request: [module("A1-1/01"), module("B2-3/04")], free: Self.modules, holding: [])
    }

    @Test func anExplicitRequestCountsWhatTheTenantAlreadyHolds() {
        let refusal = #expect(throws: PlacementRefusal.self) {
            try Placement.check(
                request: [module("B1-2/03")], free: Self.modules.filter { $0.name != "B1-2/01" }, holding: [module("B1-2/01")])
        }
        #expect(refusal?.reason.contains("second kassa in assembly B1-2") == true)
    }

    @Test func aModuleThatIsNotFreeIsRefused() {
        let free = Self.modules.filter { $0.name != "A1-1/01" }
        #expect(throws: PlacementRefusal("module A1-1/01 is not free")) {
            try Placement.check(request: [module("A1-1/01")], free: free, holding: [])
        }
        #expect(throws: PlacementRefusal("module A1-2/01 is not free")) {
            try Placement.check(request: [module("A1-2/01"), module("A1-2/01")], free: Self.modules, holding: [])
        }
    }
}
