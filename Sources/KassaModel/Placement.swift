/// Where a tenant's kassas go: spread over sites first, then racks, then assemblies, so the loss
/// of any one failure domain takes as few of one tenant's kassas as the hardware allows.
///
/// Pure logic over `ModuleSlot`s; the registry supplies which modules are free and which the
/// tenant already holds, and puts the choice on record.
public enum Placement {
    /// Chooses `count` more modules for a tenant that already holds `holding`.
    ///
    /// Each pick is the free module whose assembly, then site, then rack holds the fewest of the
    /// tenant's kassas so far. Assemblies come first in the key only to make "never two in one
    /// assembly while another assembly is free" a hard rule; while free assemblies remain (the
    /// normal case) every candidate ties on it and the site, then the rack, decide. Among equals
    /// the assembly with the most free modules goes first (it spreads all tenants' load over the
    /// hardware), then file order, so a placement is reproducible.
    ///
    /// Throws when there are fewer free modules than `count`.
    public static func choose(count: Int, free: [ModuleSlot], holding: [ModuleSlot]) throws(PlacementRefusal) -> [ModuleSlot] {
        guard count >= 0 else { throw PlacementRefusal("expected a count of at least 0, found \(count)") }
        guard count <= free.count else {
            throw PlacementRefusal("\(count) more kassas requested but only \(free.count) modules are free")
        }
        var spread = Spread(holding)
        var freeInAssembly: [String: Int] = [:]
        for module in free { freeInAssembly[module.assembly, default: 0] += 1 }
        var remaining = free
        var chosen: [ModuleSlot] = []
        for _ in 0..<count {
            var best = 0
            var bestKey = key(remaining[0], spread, freeInAssembly)
            for index in remaining.indices.dropFirst() {
                let candidate = key(remaining[index], spread, freeInAssembly)
                if candidate < bestKey {
                    best = index
                    bestKey = candidate
                }
            }
            let module = remaining.remove(at: best)
            chosen.append(module)
            spread.add(module)
            freeInAssembly[module.assembly, default: 1] -= 1
        }
        return chosen
    }

    /// Checks a placement asked for module by module (an operator's explicit choice): refuses
    /// the first module that is not free, or that would be the tenant's second kassa in one
    /// assembly while an assembly without any of its kassas still has a free module.
    public static func check(request: [ModuleSlot], free: [ModuleSlot], holding: [ModuleSlot]) throws(PlacementRefusal) {
        let freeNames = Set(free.map(\.name))
        var spread = Spread(holding)
        var taken: Set<String> = []
        for module in request {
            guard freeNames.contains(module.name), !taken.contains(module.name) else {
                throw PlacementRefusal("module \(module.name) is not free")
            }
            taken.insert(module.name)
            if spread.assemblies[module.assembly, default: 0] > 0,
               let elsewhere = free.first(where: { !taken.contains($0.name) && spread.assemblies[$0.assembly, default: 0] == 0 && $0.assembly != module.assembly }) {
                throw PlacementRefusal(
                    "module \(module.name) would be the tenant's second kassa in assembly \(module.assembly) "
                        + "while assembly \(elsewhere.assembly) has a free module (\(elsewhere.name))")
            }
            spread.add(module)
        }
    }

    /// How a set of kassas is spread: how many in each site, rack and assembly.
    public struct Spread: Sendable, Equatable {
        public private(set) var sites: [String: Int] = [:]
        public private(set) var racks: [String: Int] = [:]
        public private(set) var assemblies: [String: Int] = [:]

        public init(_ modules: [ModuleSlot] = []) {
            for module in modules { add(module) }
        }

        public mutating func add(_ module: ModuleSlot) {
            sites[module.site, default: 0] += 1
            racks[module.rack, default: 0] += 1
            assemblies[module.assembly, default: 0] += 1
        }

        /// Assemblies holding more than one of the kassas, by name.
        public var crowdedAssemblies: [String] {
            assemblies.filter { $0.value > 1 }.map(\.key).sorted()
        }

        /// The largest share of the kassas one site, one rack and one assembly hold: what the
        /// loss of that domain would take.
        public var worstLoss: (site: Int, rack: Int, assembly: Int) {
            (sites.values.max() ?? 0, racks.values.max() ?? 0, assemblies.values.max() ?? 0)
        }
    }

    private struct Key: Comparable {
        var assembly: Int
        var site: Int
        var rack: Int
        var assemblyFree: Int  // negated: more free first

        static func < (a: Key, b: Key) -> Bool {
            (a.assembly, a.site, a.rack, a.assemblyFree) < (b.assembly, b.site, b.rack, b.assemblyFree)
        }
    }

    private static func key(_ module: ModuleSlot, _ spread: Spread, _ freeInAssembly: [String: Int]) -> Key {
        Key(
            assembly: spread.assemblies[module.assembly, default: 0], site: spread.sites[module.site, default: 0],
            rack: spread.racks[module.rack, default: 0], assemblyFree: -freeInAssembly[module.assembly, default: 0])
    }
}

/// Why a placement cannot be made as asked.
public struct PlacementRefusal: Error, Sendable, Equatable, CustomStringConvertible {
    public var reason: String

    public init(_ reason: String) {
        self.reason = reason
    }

    public var description: String { reason }
}
