import KassaModel

/// What `Fleet` runs: which modules, where their FNs are kept, how fast they work.
public struct FleetConfiguration: Sendable {
    /// The modules to run (every module of every assembly).
    public var topology: Topology
    /// Where FN directories live: `<dataDirectory>/<fn_serial>/{state.json,archive.jsonl}`.
    public var dataDirectory: String
    /// Service time of a receipt is 0.9 s / speed (100 → 9 ms, for tests).
    public var speed: Double
    /// Listen on this host instead of the topology's (e.g. 0.0.0.0).
    public var host: String?
    /// Added to every assembly's base port (to run beside another fleet).
    public var portOffset: Int
    /// Ignore the topology's ports and let the system choose free ones; read them from
    /// `Fleet.members`. For tests.
    public var ephemeralPorts: Bool
    /// Capacity of newly created FNs (existing ones keep theirs).
    public var fnCapacity: Int64
    /// Lifetime of newly created FNs (existing ones keep their expiry).
    public var fnLifetime: FiscalDriveLifetime
    /// fsync every write. Turn off only for throwaway fleets.
    public var syncToDisk: Bool
    /// UNSAFE, chaos drills only: modules accept commands with a stale lease epoch
    /// (`KassaModule.Settings.unsafeIgnoreEpoch`). Off by default.
    public var unsafeIgnoreEpoch: Bool
    /// Run only the modules of these sites (nil: every site). Each site's racks run in an
    /// emulator of their own, so a drill can lose a site's kassas without touching the other's;
    /// the whole topology is still read, because FN serials derive from positions in it.
    public var sites: Set<String>?

    /// A receipt's service time on a module at full speed.
    public static let baseServiceTime: Duration = .milliseconds(900)

    public init(
        topology: Topology, dataDirectory: String, speed: Double = 1, host: String? = nil, portOffset: Int = 0,
        ephemeralPorts: Bool = false, fnCapacity: Int64 = FiscalDrive.standardCapacity,
        fnLifetime: FiscalDriveLifetime = .standard, syncToDisk: Bool = true, unsafeIgnoreEpoch: Bool = false
    ) {
        self.topology = topology
        self.dataDirectory = dataDirectory
        self.speed = speed
        self.host = host
        self.portOffset = portOffset
        self.ephemeralPorts = ephemeralPorts
        self.fnCapacity = fnCapacity
        self.fnLifetime = fnLifetime
        self.syncToDisk = syncToDisk
        self.unsafeIgnoreEpoch = unsafeIgnoreEpoch
        self.sites = nil
    }

    /// The same, with the topology loaded from a file (`cluster/topology.yaml` by default).
    public init(
        topologyPath: String = Topology.defaultPath, dataDirectory: String, speed: Double = 1, host: String? = nil,
        portOffset: Int = 0, fnCapacity: Int64 = FiscalDrive.standardCapacity,
        fnLifetime: FiscalDriveLifetime = .standard, syncToDisk: Bool = true
    ) throws(TopologyError) {
        self.init(
            topology: try Topology.load(path: topologyPath), dataDirectory: dataDirectory, speed: speed, host: host,
            portOffset: portOffset, fnCapacity: fnCapacity, fnLifetime: fnLifetime, syncToDisk: syncToDisk)
    }

    /// 0.9 s / speed.
    public var serviceTime: Duration {
        .nanoseconds(Int64((0.9e9 / speed).rounded()))
    }

    /// How often a module's queued documents go to the OFD while its link is up: 1 s / speed.
    public var ofdDeliveryInterval: Duration {
        .nanoseconds(Int64((1e9 / speed).rounded()))
    }

    /// The modules with host and port overrides applied (port 0 for `ephemeralPorts`).
    public func slots() throws(FleetError) -> [ModuleSlot] {
        guard speed.isFinite, speed > 0 else { throw FleetError(module: nil, "speed must be > 0, found \(speed)") }
        guard fnCapacity >= 3 else {
            throw FleetError(module: nil, "fn capacity must be ≥ 3 (open shift, receipt, Z-report), found \(fnCapacity)")
        }
        var topology = self.topology
        do {
            // A topology built in code has not been through `Topology.load`'s checks; two modules
            // sharing an FN serial would share (and corrupt) one FN directory.
            try topology.validate(file: "topology")
        } catch {
            throw FleetError(module: nil, "\(error)")
        }
        if let host { topology = topology.onHost(host) }
        if portOffset != 0 {
            do {
                topology = try topology.shifted(portOffset: portOffset)
            } catch {
                throw FleetError(module: nil, "\(error)")
            }
        }
        var slots = topology.modules
        if let sites {
            let unknown = sites.subtracting(topology.sites.map(\.name))
            guard unknown.isEmpty else {
                throw FleetError(module: nil, "no site \(unknown.sorted().joined(separator: ", ")) in the topology (it has \(topology.sites.map(\.name).joined(separator: ", ")))")
            }
            slots = slots.filter { sites.contains($0.site) }
        }
        if ephemeralPorts {
            for i in slots.indices { slots[i].port = 0 }
        }
        return slots
    }
}

/// Why the fleet could not start, naming the module when it was one module's fault.
public struct FleetError: Error, Sendable, Equatable, CustomStringConvertible {
    /// "A1-1/07 (FN 9999010010010007)", or nil for the configuration as a whole.
    public var module: String?
    public var message: String

    public init(module: String?, _ message: String) {
        self.module = module
        self.message = message
    }

    public var description: String {
        module.map { "kassa \($0): \(message)" } ?? message
    }
}
