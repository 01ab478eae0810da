import Foundation
import Yams

/// Where the kassa modules are: sites → racks → assemblies → modules.
///
/// An assembly is one 2U box of up to 48 kassa modules; every module is its own network element,
/// listening on `base_port + slot - 1` of the assembly's host. The file shape
/// (`cluster/topology.yaml`) is:
///
/// ```yaml
/// sites:
///   - name: A
///     racks:
///       - name: A1
///         assemblies:
///           - {name: A1-1, host: 127.0.0.1, base_port: 21000, modules: 48}
/// ```
///
/// `host` may be omitted (127.0.0.1). Site, rack and assembly names are unique across the whole
/// topology, because the registry and the anti-affinity rules refer to them by name alone.
public struct Topology: Sendable, Codable, Equatable {
    /// A datacenter.
    public struct Site: Sendable, Codable, Equatable {
        public var name: String
        public var racks: [Rack]

        public init(name: String, racks: [Rack]) {
            self.name = name
            self.racks = racks
        }
    }

    /// A rack of assemblies in one site.
    public struct Rack: Sendable, Codable, Equatable {
        public var name: String
        public var assemblies: [Assembly]

        public init(name: String, assemblies: [Assembly]) {
            self.name = name
            self.assemblies = assemblies
        }
    }

    /// A 2U assembly of kassa modules; module `slot` (1-based) listens on `basePort + slot - 1`.
    public struct Assembly: Sendable, Codable, Equatable {
        public var name: String
        public var host: String
        public var basePort: Int
        public var modules: Int

        public init(name: String, host: String = Topology.defaultHost, basePort: Int, modules: Int) {
            self.name = name
            self.host = host
            self.basePort = basePort
            self.modules = modules
        }

        enum CodingKeys: String, CodingKey {
            case name, host, modules
            case basePort = "base_port"
        }

        public init(from decoder: any Decoder) throws {
            let container = try decoder.container(keyedBy: CodingKeys.self)
            name = try container.decode(String.self, forKey: .name)
            host = try container.decodeIfPresent(String.self, forKey: .host) ?? Topology.defaultHost
            basePort = try container.decode(Int.self, forKey: .basePort)
            modules = try container.decode(Int.self, forKey: .modules)
        }
    }

    /// The host an assembly listens on when the file does not say.
    public static let defaultHost = "127.0.0.1"
    /// Modules in one assembly (one 2U box holds 48).
    public static let modulesPerAssembly = 1...48
    /// The default topology file, relative to the project root.
    public static let defaultPath = "cluster/topology.yaml"

    public var sites: [Site]

    public init(sites: [Site]) {
        self.sites = sites
    }

    /// Every module of the topology, in file order (site, rack, assembly, slot).
    public var modules: [ModuleSlot] {
        var slots: [ModuleSlot] = []
        for (siteIndex, site) in sites.enumerated() {
            for (rackIndex, rack) in site.racks.enumerated() {
                for (assemblyIndex, assembly) in rack.assemblies.enumerated() {
                    for slot in stride(from: 1, through: assembly.modules, by: 1) {
                        slots.append(
                            ModuleSlot(
                                site: site.name, rack: rack.name, assembly: assembly.name, slot: slot,
                                host: assembly.host, port: assembly.basePort + slot - 1,
                                fnSerial: Self.fnSerial(
                                    site: siteIndex, rack: rackIndex, assembly: assemblyIndex, slot: slot)
                            ))
                    }
                }
            }
        }
        return slots
    }

    /// The FN serial of a position: "9999", then the 1-based site (2 digits), rack within the site
    /// (3), assembly within the rack (3) and slot (4). Deterministic, so a restarted fleet finds
    /// its drives' state again; unique, because `validate` bounds the indices to those widths.
    static func fnSerial(site: Int, rack: Int, assembly: Int, slot: Int) -> String {
        "9999" + digits(site + 1, 2) + digits(rack + 1, 3) + digits(assembly + 1, 3) + digits(slot, 4)
    }

    private static func digits(_ value: Int, _ width: Int) -> String {
        let text = String(value)
        return String(repeating: "0", count: max(0, width - text.count)) + text
    }

    /// The same topology with every assembly's base port moved by `portOffset` (to run a second
    /// fleet, or tests, beside the default one).
    public func shifted(portOffset: Int) throws(TopologyError) -> Topology {
        var copy = self
        for s in copy.sites.indices {
            for r in copy.sites[s].racks.indices {
                for a in copy.sites[s].racks[r].assemblies.indices {
                    copy.sites[s].racks[r].assemblies[a].basePort += portOffset
                }
            }
        }
        try copy.validate(file: "topology (port offset \(portOffset))")
        return copy
    }

    /// The same topology with every assembly on `host` (to listen on another interface).
    public func onHost(_ host: String) -> Topology {
        var copy = self
        for s in copy.sites.indices {
            for r in copy.sites[s].racks.indices {
                for a in copy.sites[s].racks[r].assemblies.indices {
                    copy.sites[s].racks[r].assemblies[a].host = host
                }
            }
        }
        return copy
    }

    /// Loads and validates a topology file.
    public static func load(path: String) throws(TopologyError) -> Topology {
        let file = (path as NSString).lastPathComponent
        let text: String
        do {
            text = try String(contentsOfFile: path, encoding: .utf8)
        } catch {
            throw TopologyError(file: file, path: "", message: "cannot read \(path): \(error.localizedDescription)")
        }
        return try parse(yaml: text, file: file)
    }

    /// Parses and validates topology YAML; `file` names the source in error messages.
    public static func parse(yaml: String, file: String = "topology.yaml") throws(TopologyError) -> Topology {
        let topology: Topology
        do {
            topology = try YAMLDecoder().decode(Topology.self, from: yaml)
        } catch let error as DecodingError {
            throw TopologyError(file: file, decoding: error)
        } catch {
            throw TopologyError(file: file, path: "", message: "not valid YAML: \(error)")
        }
        try topology.validate(file: file)
        return topology
    }

    /// Checks the rules the file format promises: names present and unique, 1...48 modules per
    /// assembly, ports in range and not shared, indices small enough for the FN serial scheme.
    public func validate(file: String = "topology.yaml") throws(TopologyError) {
        func fail(_ path: String, _ message: String) -> TopologyError {
            TopologyError(file: file, path: path, message: message)
        }
        if sites.isEmpty { throw fail("sites", "expected at least one site") }
        if sites.count > 99 { throw fail("sites", "at most 99 sites") }
        var names: [String: String] = [:]  // name -> path where first seen
        var ports: [String: String] = [:]  // host:port -> assembly path
        func claim(_ name: String, _ path: String) throws(TopologyError) {
            if name.trimmingCharacters(in: .whitespaces).isEmpty {
                throw fail(path + ".name", "expected a non-empty name")
            }
            if let first = names[name] {
                throw fail(path + ".name", "name \"\(name)\" is already used by \(first)")
            }
            names[name] = path
        }
        for (s, site) in sites.enumerated() {
            let sitePath = "sites[\(s)]"
            try claim(site.name, sitePath)
            if site.racks.isEmpty { throw fail(sitePath + ".racks", "expected at least one rack") }
            if site.racks.count > 999 { throw fail(sitePath + ".racks", "at most 999 racks per site") }
            for (r, rack) in site.racks.enumerated() {
                let rackPath = "\(sitePath).racks[\(r)]"
                try claim(rack.name, rackPath)
                if rack.assemblies.isEmpty {
                    throw fail(rackPath + ".assemblies", "expected at least one assembly")
                }
                if rack.assemblies.count > 999 {
                    throw fail(rackPath + ".assemblies", "at most 999 assemblies per rack")
                }
                for (a, assembly) in rack.assemblies.enumerated() {
                    let path = "\(rackPath).assemblies[\(a)]"
                    try claim(assembly.name, path)
                    if !Self.modulesPerAssembly.contains(assembly.modules) {
                        throw fail(path + ".modules", "expected an integer 1...48, found \(assembly.modules)")
                    }
                    if assembly.host.isEmpty { throw fail(path + ".host", "expected a host name or address") }
                    let lastPort = assembly.basePort + assembly.modules - 1
                    if assembly.basePort < 1 || lastPort > 65535 {
                        throw fail(
                            path + ".base_port",
                            "ports \(assembly.basePort)...\(lastPort) are outside 1...65535")
                    }
                    for port in assembly.basePort...lastPort {
                        let key = "\(assembly.host):\(port)"
                        if let other = ports[key] {
                            throw fail(path + ".base_port", "port \(key) is also used by \(other)")
                        }
                        ports[key] = path
                    }
                }
            }
        }
    }
}

/// One kassa module's place in the topology and its network address.
public struct ModuleSlot: Sendable, Hashable, Codable {
    public var site: String
    public var rack: String
    public var assembly: String
    /// 1-based position in the assembly.
    public var slot: Int
    public var host: String
    public var port: Int
    /// The serial of the module's fiscal drive (16 digits, derived from the position).
    public var fnSerial: String

    public init(site: String, rack: String, assembly: String, slot: Int, host: String, port: Int, fnSerial: String) {
        self.site = site
        self.rack = rack
        self.assembly = assembly
        self.slot = slot
        self.host = host
        self.port = port
        self.fnSerial = fnSerial
    }

    /// "A1-1/07": the assembly and slot, for logs.
    public var name: String {
        let number = String(slot)
        return assembly + "/" + (number.count < 2 ? "0" + number : number)
    }
}

/// A topology file that cannot be used, with where and why:
/// `topology.yaml: sites[0].racks[1].assemblies[2].modules: expected an integer 1...48, found 60`.
public struct TopologyError: Error, Sendable, Equatable, CustomStringConvertible {
    /// The file's name (or another label for the source).
    public var file: String
    /// The location inside the file, e.g. `sites[0].racks[1].name`; empty for the whole file.
    public var path: String
    public var message: String

    public init(file: String, path: String, message: String) {
        self.file = file
        self.path = path
        self.message = message
    }

    init(file: String, decoding error: DecodingError) {
        func render(_ codingPath: [any CodingKey]) -> String {
            var text = ""
            for key in codingPath {
                if let index = key.intValue {
                    text += "[\(index)]"
                } else {
                    text += (text.isEmpty ? "" : ".") + key.stringValue
                }
            }
            return text
        }
        switch error {
        case .typeMismatch(let type, let context):
            let expected = type == Int.self ? "an integer" : type == String.self ? "a string" : "\(type)"
            self.init(file: file, path: render(context.codingPath), message: "expected \(expected)")
        case .valueNotFound(let type, let context):
            self.init(file: file, path: render(context.codingPath), message: "expected \(type), found nothing")
        case .keyNotFound(let key, let context):
            self.init(file: file, path: render(context.codingPath + [key]), message: "missing")
        case .dataCorrupted(let context):
            self.init(file: file, path: render(context.codingPath), message: context.debugDescription)
        @unknown default:
            self.init(file: file, path: "", message: "\(error)")
        }
    }

    public var description: String {
        path.isEmpty ? "\(file): \(message)" : "\(file): \(path): \(message)"
    }
}
