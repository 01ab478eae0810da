import KassaModel
import KassaWire
import Logging
import NIOCore
import NIOPosix

#if canImport(Glibc)
import Glibc
#elseif canImport(Musl)
import Musl
#elseif canImport(Darwin)
import Darwin
#endif

/// Every module of a topology, each on its own port, served from one event loop group.
///
/// ```swift
/// let fleet = try await Fleet.start(configuration, eventLoopGroup: group)
/// try await fleet.run()   // until the task is cancelled
/// ```
///
/// `start` loads (or creates) every FN and binds every port, so when it returns the fleet
/// accepts and serves connections; `run` keeps serving (closing and re-opening a port while its
/// module is `down`) and delivers the modules' documents to the OFD until cancelled, then
/// closes every socket and connection. A started fleet must be run (or its sockets stay open).
/// Until it runs, nothing is delivered: what the FNs hold undelivered stays as loaded.
public final class Fleet: Sendable {
    /// One running module and where it listens.
    public struct Member: Sendable {
        /// The module's place, with the port it actually bound.
        public let slot: ModuleSlot
        public let module: KassaModule
    }

    /// In topology order.
    public let members: [Member]
    private let servers: [ModuleServer]
    private let outbox: OFDOutbox
    private let ofdDeliveryInterval: Duration
    private let logger: Logger

    private init(
        members: [Member], servers: [ModuleServer], outbox: OFDOutbox, ofdDeliveryInterval: Duration, logger: Logger
    ) {
        self.members = members
        self.servers = servers
        self.outbox = outbox
        self.ofdDeliveryInterval = ofdDeliveryInterval
        self.logger = logger
    }

    /// The module whose FN has this serial.
    public func module(fnSerial: String) -> KassaModule? {
        members.first { $0.slot.fnSerial == fnSerial }?.module
    }

    /// Loads every FN and binds every module's port. On failure, whatever was bound is closed.
    public static func start(
        _ configuration: FleetConfiguration, eventLoopGroup: any EventLoopGroup, clock: any KassaClock = SystemClock(),
        threadPool: NIOThreadPool = .singleton, logger: Logger = Logger(label: "kassa.emulator")
    ) async throws(FleetError) -> Fleet {
        let slots = try configuration.slots()
        raiseFileLimit(toAtLeast: slots.count * 2 + 256, logger: logger)
        let settings = KassaModule.Settings(
            dataDirectory: configuration.dataDirectory, serviceTime: configuration.serviceTime,
            fnCapacity: configuration.fnCapacity, fnLifetime: configuration.fnLifetime,
            syncToDisk: configuration.syncToDisk, unsafeIgnoreEpoch: configuration.unsafeIgnoreEpoch)
        if configuration.unsafeIgnoreEpoch {
            logger.critical(
                "UNSAFE: --unsafe-ignore-epoch is on: every module accepts commands with a stale lease epoch; fencing is OFF and receipts may be fiscalized twice (chaos drills only)")
        }

        let outbox = OFDOutbox()
        // Start modules a few dozen at a time: loading is disk-bound, binding is cheap.
        let results = await withTaskGroup(of: (Int, Result<(Member, ModuleServer), FleetError>).self) { group in
            var results = [Result<(Member, ModuleServer), FleetError>?](repeating: nil, count: slots.count)
            var next = 0
            func startOne(_ i: Int) {
                let slot = slots[i]
                group.addTask {
                    (i, await startModule(slot, settings: settings, group: eventLoopGroup, clock: clock,
                        threadPool: threadPool, outbox: outbox, logger: logger))
                }
            }
            while next < min(32, slots.count) {
                startOne(next)
                next += 1
            }
            while let (i, result) = await group.next() {
                results[i] = result
                if next < slots.count {
                    startOne(next)
                    next += 1
                }
            }
            return results
        }

        var members: [Member] = []
        var servers: [ModuleServer] = []
        var firstError: FleetError?
        for result in results {
            switch result {
            case .success(let (member, server)):
                members.append(member)
                servers.append(server)
            case .failure(let error):
                firstError = firstError ?? error
            case nil:
                firstError = firstError ?? FleetError(module: nil, "a module did not start")
            }
        }
        if let firstError {
            for server in servers { await server.close() }
            throw firstError
        }
        let fleet = Fleet(
            members: members, servers: servers, outbox: outbox,
            ofdDeliveryInterval: configuration.ofdDeliveryInterval, logger: logger)
        fleet.logListening(ephemeral: configuration.ephemeralPorts)
        return fleet
    }

    /// Serves every module and delivers their documents to the OFD until the task is cancelled;
    /// then closes every socket and returns.
    public func run() async {
        await withDiscardingTaskGroup { group in
            for server in servers {
                group.addTask { await server.serve() }
            }
            group.addTask { await self.deliverToOFD() }
        }
        // Bring every state file up to its archive, so a restart has nothing to replay.
        for member in members {
            await member.module.flush()
        }
        logger.info("fleet stopped", metadata: ["modules": "\(members.count)"])
    }

    /// The fleet's one OFD delivery loop: sleeps while no module has anything queued; otherwise
    /// every interval delivers the queue of each module that asked (`OFDOutbox`), each in a task
    /// of its own so a module whose FN is busy holds up no other. Stops when cancelled, leaving
    /// what is undelivered in the FNs.
    private func deliverToOFD() async {
        await withDiscardingTaskGroup { deliveries in
            while !Task.isCancelled {
                await outbox.waitForWork()
                // Documents queued within one interval go out together, one delivery per module.
                do {
                    try await Task.sleep(for: ofdDeliveryInterval)
                } catch {
                    return
                }
                for module in outbox.takeAll() {
                    deliveries.addTask { await module.deliverToOFD() }
                }
            }
        }
    }

    private static func startModule(
        _ slot: ModuleSlot, settings: KassaModule.Settings, group: any EventLoopGroup, clock: any KassaClock,
        threadPool: NIOThreadPool, outbox: OFDOutbox, logger: Logger
    ) async -> Result<(Member, ModuleServer), FleetError> {
        let name = "\(slot.name) (FN \(slot.fnSerial))"
        let module: KassaModule
        do {
            module = try await KassaModule.load(
                slot: slot, settings: settings, clock: clock, threadPool: threadPool, outbox: outbox, logger: logger)
        } catch {
            return .failure(FleetError(module: name, "\(error)"))
        }
        var logger = logger
        logger[metadataKey: "kassa"] = "\(slot.name)"
        do {
            let server = try await ModuleServer.bind(
                host: slot.host, port: slot.port, group: group, module: module, logger: logger)
            var bound = slot
            bound.port = server.port
            return .success((Member(slot: bound, module: module), server))
        } catch {
            return .failure(FleetError(module: name, "cannot listen on \(slot.host):\(slot.port): \(error)"))
        }
    }

    /// One line per assembly: where its modules listen.
    private func logListening(ephemeral: Bool) {
        var assemblies: [(name: String, slots: [ModuleSlot])] = []
        for member in members {
            if assemblies.last?.name == member.slot.assembly {
                assemblies[assemblies.count - 1].slots.append(member.slot)
            } else {
                assemblies.append((member.slot.assembly, [member.slot]))
            }
        }
        for (name, slots) in assemblies {
            guard let first = slots.first, let last = slots.last else { continue }
            let ports =
                ephemeral
                ? slots.map { String($0.port) }.joined(separator: ",")
                : "\(first.port)-\(last.port)"
            logger.info(
                "assembly listening",
                metadata: [
                    "assembly": "\(name)", "site": "\(first.site)", "rack": "\(first.rack)",
                    "modules": "\(slots.count)", "address": "\(first.host):\(ports)",
                ])
        }
        logger.info("fleet listening", metadata: ["modules": "\(members.count)", "assemblies": "\(assemblies.count)"])
    }

    /// Every module holds a listening socket, its connections and briefly its files: make sure
    /// the process may open that many.
    private static func raiseFileLimit(toAtLeast wanted: Int, logger: Logger) {
        var limit = rlimit()
        guard getrlimit(Int32(RLIMIT_NOFILE.rawValue), &limit) == 0, limit.rlim_cur < rlim_t(wanted) else { return }
        let before = limit.rlim_cur
        limit.rlim_cur = min(limit.rlim_max, rlim_t(wanted) * 2)
        if setrlimit(Int32(RLIMIT_NOFILE.rawValue), &limit) != 0 || limit.rlim_cur < rlim_t(wanted) {
            logger.warning(
                "open file limit may be too low for the fleet",
                metadata: ["limit": "\(limit.rlim_cur)", "wanted": "\(wanted)", "was": "\(before)"])
        }
    }
}

/// Runs a fleet until the task is cancelled, on its own two-thread event loop group, with the
/// fault control plane (`FaultControl`) on 127.0.0.1:`controlPort` when one is given. Neither
/// installs signal handlers: SIGTERM and SIGINT end the process, fleet and control plane alike.
public func runFleet(
    _ configuration: FleetConfiguration, controlPort: Int? = nil, logger: Logger = Logger(label: "kassa.emulator")
) async throws {
    let group = MultiThreadedEventLoopGroup(numberOfThreads: 2)
    do {
        let fleet = try await Fleet.start(configuration, eventLoopGroup: group, logger: logger)
        try await withThrowingTaskGroup(of: Void.self) { tasks in
            tasks.addTask { await fleet.run() }
            if let controlPort {
                tasks.addTask {
                    try await FaultControl(fleet: fleet, logger: logger).run(port: controlPort)
                }
            }
            // Whichever ends first (the fleet cancelled, the control plane unable to listen)
            // ends the other: an emulator that cannot be controlled must not look healthy.
            defer { tasks.cancelAll() }
            try await tasks.next()
        }
    } catch {
        try? await group.shutdownGracefully()
        throw error
    }
    try await group.shutdownGracefully()
}
