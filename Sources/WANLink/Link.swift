import Logging
import NIOCore
import NIOPosix

/// One running link: its listening sockets, one per listen port, and its connections.
///
/// Changes are made one at a time and take effect before `change` returns: after a change to
/// `reset` nothing listens any more and every connection has been reset and is gone; after a
/// change back nothing is refused. Sockets closed by `reset` are bound again on the same ports.
public actor Link {
    public nonisolated let name: String
    /// The routes with the listen ports actually bound (configured port 0 replaced).
    public nonisolated let routes: RouteTable
    /// Every listen address with its target, in route order.
    public nonisolated let mappings: [PortMapping]

    let runtime: LinkRuntime
    private let group: any EventLoopGroup
    private let logger: Logger
    /// One per mapping; nil while closed (`reset`, stopped, or not bound again yet).
    private var listeners: [(any Channel)?]
    /// Binds what `reset` closed and could not bind again at once.
    private var rebinding: Task<Void, Never>?
    private var changing = false
    private var waitingToChange: [CheckedContinuation<Void, Never>] = []
    private var stopped = false

    private init(
        definition: LinkDefinition, mappings: [PortMapping], listeners: [any Channel], runtime: LinkRuntime,
        group: any EventLoopGroup, logger: Logger
    ) {
        self.name = definition.name
        self.routes = definition.routes.bound(to: mappings.map(\.listen))
        self.mappings = mappings
        self.listeners = listeners
        self.runtime = runtime
        self.group = group
        self.logger = logger
    }

    /// Binds every listen port of `definition` (unless it starts `reset`) and serves from then
    /// on. On failure whatever was bound is closed again and the error names the address.
    static func open(_ definition: LinkDefinition, group: any EventLoopGroup, logger: Logger) async throws -> Link {
        var logger = logger
        logger[metadataKey: "link"] = "\(definition.name)"
        let runtime = LinkRuntime(conditions: definition.conditions)
        var listeners: [any Channel] = []
        var mappings: [PortMapping] = []
        do {
            for mapping in definition.routes.mappings {
                let listener = try await listen(mapping, runtime: runtime, group: group, logger: logger)
                listeners.append(listener)
                var bound = mapping
                bound.listen.port = listener.localAddress?.port ?? mapping.listen.port
                mappings.append(bound)
            }
        } catch {
            for listener in listeners { try? await listener.close() }
            throw WANLinkError("link \(definition.name): cannot listen on \(definition.routes.mappings[listeners.count].listen): \(error)")
        }
        let link = Link(
            definition: definition, mappings: mappings, listeners: listeners, runtime: runtime, group: group, logger: logger)
        if definition.conditions.state == .reset {
            // Bound first so that port 0 gets its port; a link that starts reset refuses at once.
            await link.closeListeners()
        }
        return link
    }

    /// The link as it is now: conditions, routes and traffic.
    public nonisolated var snapshot: LinkSnapshot {
        let traffic = runtime.traffic
        return LinkSnapshot(
            name: name, conditions: runtime.conditions, routes: routes, openConnections: traffic.openConnections,
            bytesToTarget: traffic.bytesToTarget, bytesToClient: traffic.bytesToClient)
    }

    /// Makes `change` (logged at notice level: the link and old → new) and returns the link as
    /// it is afterwards.
    @discardableResult
    public func change(_ change: LinkChange) async -> LinkSnapshot {
        await exclusively {
            guard !stopped else { return }
            let (old, new, ending) = runtime.apply(change)
            if new.state == .reset, old.state != .reset {
                // Closed before the connections are reset, so none arrives after; one accepted
                // meanwhile sees the new state when admitted and is reset there.
                await closeListeners()
            }
            for (connection, _) in ending { connection.abort() }
            // Their relays end as their sockets close: once they have, nothing of them is left
            // in the link's counts when the caller looks.
            for (_, relay) in ending { await relay.value }
            if old.state == .reset, new.state != .reset {
                await bindClosedListeners(retrying: true)
            }
            log(old: old, new: new, ended: ending.count)
        }
        return snapshot
    }

    /// Stops listening, closes every connection and waits for their relays.
    func stop() async {
        await exclusively {
            stopped = true
            await closeListeners()
        }
        await runtime.stop()
    }

    private func log(old: LinkConditions, new: LinkConditions, ended: Int) {
        var metadata: Logger.Metadata = [
            "state": "\(old.state.rawValue) → \(new.state.rawValue)",
            "latency_ms": "\(old.latencyMs) → \(new.latencyMs)",
            "jitter_ms": "\(old.jitterMs) → \(new.jitterMs)",
        ]
        if ended > 0 { metadata["connections_ended"] = "\(ended)" }
        logger.notice("link changed", metadata: metadata)
    }

    /// Runs `body` with no other change or stop in progress (the actor alone would interleave
    /// them at every await).
    private func exclusively(_ body: () async -> Void) async {
        while changing {
            await withCheckedContinuation { waitingToChange.append($0) }
        }
        changing = true
        await body()
        changing = false
        if !waitingToChange.isEmpty { waitingToChange.removeFirst().resume() }
    }

    private func closeListeners() async {
        rebinding?.cancel()
        rebinding = nil
        for index in listeners.indices {
            guard let listener = listeners[index] else { continue }
            listeners[index] = nil
            try? await listener.close()
        }
    }

    /// Binds the listen ports that are closed. With `retrying`, ports that cannot be bound
    /// (taken meanwhile, out of sockets) are tried again every second in the background.
    private func bindClosedListeners(retrying: Bool) async {
        var failed: [String] = []
        for (index, mapping) in mappings.enumerated() where listeners[index] == nil {
            do {
                listeners[index] = try await Self.listen(mapping, runtime: runtime, group: group, logger: logger)
            } catch {
                failed.append("\(mapping.listen): \(error)")
            }
        }
        guard !failed.isEmpty, retrying, rebinding == nil else { return }
        logger.error("cannot listen again; retrying every second", metadata: ["failed": "\(failed.joined(separator: "; "))"])
        rebinding = Task {
            while !Task.isCancelled, self.listenersMissing() {
                try? await Task.sleep(for: .seconds(1))
                await self.retryBinding()
            }
        }
    }

    private func listenersMissing() -> Bool {
        !stopped && runtime.conditions.state != .reset && listeners.contains { $0 == nil }
    }

    /// One retry, in turn with changes (a `reset` meanwhile cancels the retries and wins).
    private func retryBinding() async {
        await exclusively {
            guard let retry = rebinding, !retry.isCancelled, listenersMissing() else { return }
            await bindClosedListeners(retrying: false)
            if !listenersMissing() {
                rebinding = nil
                logger.notice("listening again", metadata: ["ports": "\(mappings.count)"])
            }
        }
    }

    /// A listening socket whose connections go to `mapping.target`. Each accepted connection
    /// gets its relay straight from the child initializer: handing connections out through
    /// NIO's async sequence could drop one accepted just as the socket closes, and a dropped
    /// `NIOAsyncChannel` ends the process (apple/swift-nio#2813).
    private static func listen(
        _ mapping: PortMapping, runtime: LinkRuntime, group: any EventLoopGroup, logger: Logger
    ) async throws -> any Channel {
        let target = mapping.target
        return try await ServerBootstrap(group: group)
            .serverChannelOption(.backlog, value: 256)
            // A `reset` closes the socket; coming back binds the same port at once.
            .serverChannelOption(.socketOption(.so_reuseaddr), value: 1)
            .childChannelOption(.socketOption(.tcp_nodelay), value: 1)
            .childChannelOption(.allowRemoteHalfClosure, value: true)
            .childChannelInitializer { channel in
                channel.eventLoop.makeCompletedFuture {
                    let client = try Relay.Stream(wrappingChannelSynchronously: channel, configuration: Relay.channelConfiguration)
                    runtime.admit(client: channel) { connection in
                        await Relay.serve(
                            client, connection: connection, target: target, runtime: runtime, group: group, logger: logger)
                    }
                }
            }
            .bind(host: mapping.listen.host, port: mapping.listen.port)
            .get()
    }
}

/// A link as configured and checked: its name, starting conditions and routes.
public struct LinkDefinition: Sendable, Equatable {
    public var name: String
    public var conditions: LinkConditions
    public var routes: RouteTable

    public init(name: String, conditions: LinkConditions = LinkConditions(), routes: RouteTable) {
        self.name = name
        self.conditions = conditions
        self.routes = routes
    }
}

/// What `GET /links` shows of one link.
public struct LinkSnapshot: Sendable, Equatable {
    public var name: String
    public var conditions: LinkConditions
    /// With the listen ports actually bound.
    public var routes: RouteTable
    /// Connections accepted and not yet ended (blackholed ones included).
    public var openConnections: Int
    /// Bytes handed on towards the targets, and back towards the connecting side, since start.
    public var bytesToTarget: UInt64
    public var bytesToClient: UInt64
}

/// The proxy could not start or run; the message says what and where.
public struct WANLinkError: Error, Sendable, CustomStringConvertible {
    public var message: String

    public init(_ message: String) {
        self.message = message
    }

    public var description: String { message }
}
