import Foundation
import KassaModel

/// What a module reports about its FN once registered to a tenant: what the registry needs to
/// put the kassa on record.
public struct ModuleRegistration: Sendable, Equatable {
    public var fnSerial: String
    public var registrationNumber: String
    public var fnCapacity: Int
    public var fnExpiresAt: Date
    public var lastDocumentNumber: Int64

    public init(fnSerial: String, registrationNumber: String, fnCapacity: Int, fnExpiresAt: Date, lastDocumentNumber: Int64) {
        self.fnSerial = fnSerial
        self.registrationNumber = registrationNumber
        self.fnCapacity = fnCapacity
        self.fnExpiresAt = fnExpiresAt
        self.lastDocumentNumber = lastDocumentNumber
    }
}

/// What a placement did (or, dry, would do) for one tenant.
public struct PlacementOutcome: Sendable, Equatable {
    public var groupCode: String
    /// Modules placed by this call, in the order chosen.
    public var placed: [ModuleSlot]
    /// Every module the tenant holds afterwards (active, drained or broken kassas).
    public var holding: [ModuleSlot]
    /// Assemblies holding two or more of the tenant's kassas because no other was free.
    public var crowdedAssemblies: [String] { Placement.Spread(holding).crowdedAssemblies }

    public init(groupCode: String, placed: [ModuleSlot], holding: [ModuleSlot]) {
        self.groupCode = groupCode
        self.placed = placed
        self.holding = holding
    }
}

extension Registry {
    /// Puts a topology on record (the file is the truth): adds and updates assemblies, and
    /// removes those no longer in it unless a kassa still stands in one.
    /// - Throws: `.conflict` naming the assembly when a removed one still holds kassas.
    public func loadTopology(_ topology: Topology) async throws {
        var rows: [[String?]] = []
        var position = 0
        for site in topology.sites {
            for rack in site.racks {
                for assembly in rack.assemblies {
                    rows.append([assembly.name, site.name, rack.name, assembly.host, String(assembly.basePort),
                                 String(assembly.modules), String(position)])
                    position += 1
                }
            }
        }
        let names = PostgresText.array(rows.map { $0[0] })
        let assemblyRows = rows
        try await transaction { connection in
                let stranded = try connection.query("""
                    SELECT DISTINCT k.assembly FROM kassas k
                    WHERE k.state <> 'retired' AND k.tenant_id IS NOT NULL AND NOT (k.assembly = ANY($1::text[]))
                    ORDER BY 1
                    """, [names])
                if !stranded.isEmpty {
                    let list = try stranded.map { try $0.string("assembly") }.joined(separator: ", ")
                    throw RegistryError.conflict("the topology no longer has assembly \(list), which still holds kassas: retire them first")
                }
                try connection.execute("DELETE FROM assemblies WHERE NOT (name = ANY($1::text[]))", [names])
                for row in assemblyRows {
                    try connection.execute("""
                        INSERT INTO assemblies (name, site, rack, host, base_port, modules, position)
                        VALUES ($1, $2, $3, $4, $5::integer, $6::integer, $7::integer)
                        ON CONFLICT (name) DO UPDATE SET
                            site = EXCLUDED.site, rack = EXCLUDED.rack, host = EXCLUDED.host,
                            base_port = EXCLUDED.base_port, modules = EXCLUDED.modules, position = EXCLUDED.position
                        """, row)
                }
        }
    }

    /// The topology on record, in file order; nil before one was loaded.
    public func topology() async throws -> Topology? {
        let rows = try await withConnection { connection in
            try connection.query("SELECT name, site, rack, host, base_port, modules FROM assemblies ORDER BY position")
        }
        guard !rows.isEmpty else { return nil }
        var sites: [Topology.Site] = []
        for row in rows {
            let site = try row.string("site")
            let rack = try row.string("rack")
            let assembly = Topology.Assembly(
                name: try row.string("name"), host: try row.string("host"), basePort: try row.int("base_port"),
                modules: try row.int("modules"))
            if sites.last?.name != site { sites.append(.init(name: site, racks: [])) }
            let s = sites.count - 1
            if sites[s].racks.last?.name != rack { sites[s].racks.append(.init(name: rack, assemblies: [])) }
            sites[s].racks[sites[s].racks.count - 1].assemblies.append(assembly)
        }
        return Topology(sites: sites)
    }

    /// Modules of the topology that no kassa stands in (a retired kassa keeps its module: its
    /// FN is used up until the hardware is serviced), and the modules each tenant holds.
    public func moduleUse(in topology: Topology) async throws -> (free: [ModuleSlot], byTenant: [Int64: [ModuleSlot]]) {
        let rows = try await withConnection { connection in
            try connection.query("SELECT tenant_id, assembly, slot, state FROM kassas WHERE tenant_id IS NOT NULL")
        }
        var used: Set<String> = []
        var holders: [String: Int64] = [:]
        for row in rows {
            let key = try row.string("assembly") + "#" + String(try row.int("slot"))
            used.insert(key)
            if try row.string("state") != KassaState.retired.rawValue, let tenant = try row.optionalInt64("tenant_id") {
                holders[key] = tenant
            }
        }
        var free: [ModuleSlot] = []
        var byTenant: [Int64: [ModuleSlot]] = [:]
        for module in topology.modules {
            let key = module.assembly + "#" + String(module.slot)
            if let tenant = holders[key] {
                byTenant[tenant, default: []].append(module)
            } else if !used.contains(key) {
                free.append(module)
            }
        }
        return (free, byTenant)
    }

    /// Tops the tenant's kassas up to `count` (default: the tenant's `kassas_wanted`), or places
    /// exactly the modules of `request`, spread by `Placement`. Each chosen module is registered
    /// to the tenant through `register` (the device's own answer is what goes on record), then
    /// recorded. `dryRun` chooses and registers nothing.
    /// - Throws: `PlacementRefusal` with the reason when the request cannot be placed as asked;
    ///   `.notFound` for an unknown tenant or before a topology was loaded.
    public func placeKassas(
        groupCode: String, count: Int? = nil, request: [String]? = nil, dryRun: Bool = false,
        register: @Sendable (ModuleSlot, TenantRecord) async throws -> ModuleRegistration
    ) async throws -> PlacementOutcome {
        guard let tenant = try await tenant(groupCode: groupCode) else {
            throw RegistryError.notFound("tenant \(groupCode)")
        }
        guard let topology = try await topology() else {
            throw RegistryError.notFound("topology: load one first (kassa kassas topology)")
        }
        let use = try await moduleUse(in: topology)
        let holding = use.byTenant[tenant.id] ?? []
        let chosen: [ModuleSlot]
        if let request {
            let byName = Dictionary(topology.modules.map { ($0.name, $0) }, uniquingKeysWith: { first, _ in first })
            let modules = try request.map { name throws(PlacementRefusal) in
                guard let module = byName[name] else {
                    throw PlacementRefusal("module \(name): not in the topology (expected ASSEMBLY/SLOT, e.g. A1-1/07)")
                }
                return module
            }
            try Placement.check(request: modules, free: use.free, holding: holding)
            chosen = modules
        } else {
            let wanted = count ?? tenant.kassasWanted
            chosen = try Placement.choose(count: max(0, wanted - holding.count), free: use.free, holding: holding)
        }
        if !dryRun {
            for module in chosen {
                let fn = try await register(module, tenant)
                try await upsertKassa(
                    KassaPlacement(
                        tenantID: tenant.id, site: module.site, rack: module.rack, assembly: module.assembly,
                        slot: module.slot, address: "\(module.host):\(module.port)", fnSerial: fn.fnSerial,
                        registrationNumber: fn.registrationNumber, fnCapacity: fn.fnCapacity, fnExpiresAt: fn.fnExpiresAt),
                    lastDocumentNumber: fn.lastDocumentNumber)
            }
        }
        return PlacementOutcome(groupCode: groupCode, placed: chosen, holding: holding + chosen)
    }

    /// Sets how many kassas a tenant rents.
    public func setKassasWanted(groupCode: String, count: Int) async throws {
        guard count >= 0 else { throw RegistryError.invalidArgument("kassas: expected a count of at least 0, found \(count)") }
        let changed = try await withConnection { connection in
            try connection.query("UPDATE tenants SET kassas_wanted = $2::integer WHERE group_code = $1 RETURNING id",
                                 [groupCode, String(count)]).count
        }
        if changed == 0 { throw RegistryError.notFound("tenant \(groupCode)") }
    }

    /// Takes a kassa out of service for good (FN full or expired, module faulty). Its history
    /// stays; its module stays out of use; its lease ends at the next renewal. A later
    /// placement for the tenant picks a replacement that keeps the spread.
    /// - Throws: `.notFound` for an unknown FN serial.
    @discardableResult
    public func retireKassa(fnSerial: String) async throws -> KassaRecord {
        let rows = try await withConnection { connection in
            try connection.query(
                "UPDATE kassas SET state = 'retired' WHERE fn_serial = $1 RETURNING \(KassaRecord.columns)", [fnSerial])
        }
        guard let row = rows.first else { throw RegistryError.notFound("kassa with FN \(fnSerial)") }
        return try KassaRecord(row: row)
    }
}
