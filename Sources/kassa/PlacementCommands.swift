import ArgumentParser
import Foundation
import KassaModel
import KassaWire
import Registry

/// `kassa registry topology`: puts the topology file on record.
struct TopologyCommand: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "topology", abstract: "Load the topology file (sites, racks, assemblies, modules) into the registry.")
    @OptionGroup var common: CommonOptions
    @Option(help: "Topology file.") var topology = Topology.defaultPath
    @Option(help: "Added to every module port of the topology.") var portOffset = 0

    func run() async throws {
        let topology = try Topology.load(path: self.topology).shifted(portOffset: portOffset)
        let registry = try Registry(configuration: .init(connectionString: common.db, poolSize: 1), logger: common.logger("kassa.registry"))
        defer { registry.close() }
        try await registry.loadTopology(topology)
        let assemblies = topology.sites.flatMap(\.racks).flatMap(\.assemblies)
        print("topology: \(topology.sites.count) site(s), \(topology.sites.flatMap(\.racks).count) rack(s), \(assemblies.count) assemblies, \(topology.modules.count) modules")
    }
}

/// `kassa registry place GROUP`: places a tenant's kassas (tops up to what it rents, or the
/// modules asked for) and shows where they are.
struct PlaceCommand: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "place",
        abstract: "Place a tenant's kassas across sites, then racks, then assemblies (registers the modules).",
        discussion: """
            Without --on, tops the tenant's kassas up to --kassas (default: what the tenant rents), \
            choosing modules so that losing a site, a rack or an assembly takes as few of them as \
            the free hardware allows. With --on, places exactly those modules, and refuses (with \
            the reason) one that would put two of the tenant's kassas in one assembly while \
            another assembly has a free module.
            """)
    @OptionGroup var common: CommonOptions
    @Argument(help: "The tenant's group code.") var group: String
    @Option(help: "Kassas the tenant rents from now on (also recorded).") var kassas: Int?
    @Option(help: "Exactly these modules, comma-separated (ASSEMBLY/SLOT, e.g. A1-1/07,B1-3/02).") var on: String?
    @Flag(help: "Show the placement without registering or recording anything.") var dryRun = false

    func run() async throws {
        let registry = try Registry(configuration: .init(connectionString: common.db, poolSize: 2), logger: common.logger("kassa.registry"))
        defer { registry.close() }
        if let kassas, !dryRun { try await registry.setKassasWanted(groupCode: group, count: kassas) }
        let request = on.map { $0.split(separator: ",").map { $0.trimmingCharacters(in: .whitespaces) } }
        do {
            let outcome = try await registry.placeKassas(
                groupCode: group, count: kassas, request: request, dryRun: dryRun, register: registerModule)
            print(PlacementTable.render(outcome, dryRun: dryRun))
        } catch let refusal as PlacementRefusal {
            throw ValidationError("cannot place \(group)'s kassas: \(refusal.reason)")
        }
    }
}

/// `kassa registry placement [GROUP]`: where each tenant's kassas are.
struct PlacementShowCommand: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "placement", abstract: "Show where each tenant's kassas are and what losing a site, rack or assembly takes.")
    @OptionGroup var common: CommonOptions
    @Argument(help: "Only this tenant (group code).") var group: String?

    func run() async throws {
        let registry = try Registry(configuration: .init(connectionString: common.db, poolSize: 1), logger: common.logger("kassa.registry"))
        defer { registry.close() }
        guard let topology = try await registry.topology() else {
            throw ValidationError("no topology on record: run kassa registry topology first")
        }
        let use = try await registry.moduleUse(in: topology)
        var tenants = try await registry.tenants()
        if let group {
            tenants = tenants.filter { $0.groupCode == group }
            if tenants.isEmpty { throw ValidationError("no tenant \(group)") }
        }
        for tenant in tenants {
            let outcome = PlacementOutcome(groupCode: tenant.groupCode, placed: [], holding: use.byTenant[tenant.id] ?? [])
            print(PlacementTable.render(outcome, dryRun: false, wanted: tenant.kassasWanted))
        }
        print("free modules: \(use.free.count) of \(topology.modules.count)")
    }
}

/// `kassa registry retire FN`: takes a kassa out of service for good.
struct RetireCommand: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "retire", abstract: "Retire a kassa (by FN serial); `place` then picks a replacement that keeps the spread.")
    @OptionGroup var common: CommonOptions
    @Argument(help: "The kassa's FN serial.") var fnSerial: String

    func run() async throws {
        let registry = try Registry(configuration: .init(connectionString: common.db, poolSize: 1), logger: common.logger("kassa.registry"))
        defer { registry.close() }
        let kassa = try await registry.retireKassa(fnSerial: fnSerial)
        print("retired kassa \(kassa.fnSerial) in \(kassa.assembly) slot \(kassa.slot) (site \(kassa.site), rack \(kassa.rack))")
    }
}

/// Registers a module to a tenant over the wire; the module's answer is what goes on record.
@Sendable func registerModule(_ module: ModuleSlot, _ tenant: TenantRecord) async throws -> ModuleRegistration {
    let client = try await KassaClient.connect(host: module.host, port: module.port)
    let registrationNumber = "00000" + module.fnSerial.suffix(11)
    let status: KassaStatus
    do {
        status = try await client.register(RegisterRequest(
            inn: tenant.inn, paymentAddress: tenant.paymentAddress, sno: tenant.sno, registrationNumber: registrationNumber))
    } catch {
        await client.close()
        throw error
    }
    await client.close()
    return ModuleRegistration(
        fnSerial: status.fnSerial, registrationNumber: registrationNumber, fnCapacity: Int(status.fnCapacity),
        fnExpiresAt: status.fnExpiresAt, lastDocumentNumber: status.lastDocumentNumber)
}

/// A tenant's placement as text: counts per site and rack, and what each loss would take.
enum PlacementTable {
    static func render(_ outcome: PlacementOutcome, dryRun: Bool, wanted: Int? = nil) -> String {
        let spread = Placement.Spread(outcome.holding)
        var lines: [String] = []
        let verb = dryRun ? "would place" : "placed"
        var head = "tenant \(outcome.groupCode): \(outcome.holding.count) kassas"
        if let wanted, wanted != outcome.holding.count { head += " (rents \(wanted))" }
        if !outcome.placed.isEmpty { head += ", \(verb) \(outcome.placed.count): \(outcome.placed.map(\.name).joined(separator: " "))" }
        lines.append(head)
        for site in spread.sites.keys.sorted() {
            let racks = spread.racks.keys.filter { rack in outcome.holding.contains { $0.rack == rack && $0.site == site } }.sorted()
            let rackText = racks.map { rack in
                let assemblies = Set(outcome.holding.filter { $0.rack == rack }.map(\.assembly)).count
                return "\(rack) \(spread.racks[rack] ?? 0) in \(assemblies) assemblies"
            }.joined(separator: ", ")
            lines.append("  site \(site): \(spread.sites[site] ?? 0)  (\(rackText))")
        }
        let worst = spread.worstLoss
        if !outcome.holding.isEmpty {
            lines.append("  losing one site takes at most \(worst.site), one rack \(worst.rack), one assembly \(worst.assembly)")
        }
        if !outcome.crowdedAssemblies.isEmpty {
            lines.append("  note: \(outcome.crowdedAssemblies.joined(separator: ", ")) hold two or more (no other assembly was free)")
        }
        return lines.joined(separator: "\n")
    }
}
