import ArgumentParser
import Foundation
import KassaEmulator
import KassaModel

struct EmulatorCommand: AsyncParsableCommand {
    static let configuration = CommandConfiguration(commandName: "emulator", abstract: "Serve a fleet of emulated kassa modules, one TCP port each.")

    @Option(help: "Topology file (sites, racks, assemblies, ports).") var topology = "cluster/topology.yaml"
    @Option(help: "Where FN state and archives live (one folder per FN serial).") var dataDir = ".cluster/fn"
    @Option(help: "Speed factor: the service time is 0.9 s / speed.") var speed: Double = 1
    @Option(help: "Added to every module port.") var portOffset = 0
    @Option(help: "Run only this site's modules (repeat for several; default: every site).") var site: [String] = []
    @Option(help: "Serve the fault control plane (HTTP: GET /modules, POST and DELETE /faults) on 127.0.0.1 at this port.")
    var controlPort: Int?
    @Flag(help: "UNSAFE, chaos drills only: accept commands with a stale lease epoch (lease fencing off).")
    var unsafeIgnoreEpoch = false
    @Flag(help: """
        Write FN archives without fsync. They still survive the emulator being killed (the kernel \
        holds the writes), not the host losing power. For benchmarks: a real kassa is its own \
        hardware, and its durability costs the cluster's machine nothing.
        """)
    var noFsync = false
    @Option(help: "Log level.") var logLevel = "info"
    @Flag(help: "Print the highest module port and exit (for scripts).") var printLastPort = false
    @Flag(help: "Print a one-line summary of the topology and exit.") var printSummary = false
    @Flag(help: "Print the lowest and highest module port as FIRST-LAST and exit (for scripts).") var printPortRange = false

    func run() async throws {
        let topology = try Topology.load(path: self.topology).shifted(portOffset: portOffset)
        let modules = topology.modules.filter { site.isEmpty || site.contains($0.site) }
        if printLastPort {
            print(modules.map(\.port).max() ?? 0)
            return
        }
        if printPortRange {
            print("\(modules.map(\.port).min() ?? 0)-\(modules.map(\.port).max() ?? 0)")
            return
        }
        if printSummary {
            let assemblies = Set(modules.map(\.assembly)).count
            let sites = Set(modules.map(\.site)).sorted().joined(separator: ", ")
            print("\(modules.count) modules in \(assemblies) assemblies, site(s) \(sites), ports \(modules.map(\.port).min() ?? 0)-\(modules.map(\.port).max() ?? 0)")
            return
        }
        guard speed > 0 else { throw ValidationError("--speed: expected a positive number") }
        if let controlPort, !(1...65535).contains(controlPort) {
            throw ValidationError("--control-port: expected a port number 1-65535, found \(controlPort)")
        }
        let logger = CommonOptions.logger("kassa.emulator", level: logLevel)
        var configuration = FleetConfiguration(
            topology: topology, dataDirectory: dataDir, speed: speed, syncToDisk: !noFsync, unsafeIgnoreEpoch: unsafeIgnoreEpoch)
        if !site.isEmpty { configuration.sites = Set(site) }
        // SIGTERM ends the process: every document is written (and, unless --no-fsync, on disk)
        // before its answer is sent.
        try await runFleet(configuration, controlPort: controlPort, logger: logger)
    }
}
