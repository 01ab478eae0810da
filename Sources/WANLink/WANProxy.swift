import Logging
import NIOCore
import NIOPosix

/// The WAN between sites on one machine: every configured link, each a set of listening ports
/// whose connections are relayed to their targets with the link's latency, jitter and state.
///
/// ```swift
/// let proxy = try await WANProxy.start(configuration, eventLoopGroup: group)
/// await proxy.run()   // until the task is cancelled; then stops listening and closes connections
/// ```
///
/// `start` binds every listen port, so when it returns connections are relayed; a started
/// proxy must be run or stopped (or its sockets stay open).
public final class WANProxy: Sendable {
    /// In configuration order.
    public let links: [Link]
    private let logger: Logger

    private init(links: [Link], logger: Logger) {
        self.links = links
        self.logger = logger
    }

    /// Checks the configuration and binds every link's ports. On failure whatever was bound
    /// is closed again.
    public static func start(
        _ configuration: WANConfiguration, eventLoopGroup: any EventLoopGroup = MultiThreadedEventLoopGroup.singleton,
        logger: Logger = Logger(label: "kassa.wan-link")
    ) async throws -> WANProxy {
        let definitions = try configuration.definitions()
        var links: [Link] = []
        do {
            for definition in definitions {
                links.append(try await Link.open(definition, group: eventLoopGroup, logger: logger))
            }
        } catch {
            for link in links { await link.stop() }
            throw error
        }
        for link in links {
            // One line per link: where it listens and where that goes.
            logger.info(
                "link listening",
                metadata: [
                    "link": "\(link.name)",
                    "routes": "\(link.routes.routes.map { "\($0.listen) → \($0.target)" }.joined(separator: ", "))",
                    "state": "\(link.snapshot.conditions)",
                ])
        }
        return WANProxy(links: links, logger: logger)
    }

    /// The link with this name.
    public func link(named name: String) -> Link? {
        links.first { $0.name == name }
    }

    /// Every link as it is now.
    public var snapshots: [LinkSnapshot] { links.map(\.snapshot) }

    /// Serves until the task is cancelled, then stops: no port listens any more and every
    /// connection is closed when it returns.
    public func run() async {
        while !Task.isCancelled {
            // Only a way to wait for cancellation: the links serve on their own.
            try? await Task.sleep(for: .seconds(3600))
        }
        await stop()
    }

    /// Stops listening and closes every connection (FIN, not reset: the proxy ends, the WAN
    /// does not fail).
    public func stop() async {
        await withDiscardingTaskGroup { group in
            for link in links {
                group.addTask { await link.stop() }
            }
        }
        logger.info("wan links stopped", metadata: ["links": "\(links.count)"])
    }
}

/// Runs the links of `configuration` with their control plane (`LinkControl`) on
/// 127.0.0.1:`controlPort` until the task is cancelled, on an event loop group of its own.
/// Cancelling stops both: the control plane answers what is in flight, the links stop
/// listening and close their connections. Installs no signal handlers (the caller decides).
public func runWANLink(
    _ configuration: WANConfiguration, controlPort: Int, logger: Logger = Logger(label: "kassa.wan-link"),
    onControlListening: @escaping @Sendable (Int) async -> Void = { _ in }
) async throws {
    let group = MultiThreadedEventLoopGroup(numberOfThreads: 2)
    do {
        let proxy = try await WANProxy.start(configuration, eventLoopGroup: group, logger: logger)
        try await withThrowingTaskGroup(of: Void.self) { tasks in
            tasks.addTask { await proxy.run() }
            tasks.addTask {
                try await LinkControl(proxy: proxy, logger: logger).run(port: controlPort, onListening: onControlListening)
            }
            // Whichever ends first (cancelled, or the control plane unable to listen) ends
            // the other: links that cannot be controlled must not look healthy to a drill.
            defer { tasks.cancelAll() }
            try await tasks.next()
        }
    } catch {
        try? await group.shutdownGracefully()
        throw error
    }
    try await group.shutdownGracefully()
}
