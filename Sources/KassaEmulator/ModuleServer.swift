import KassaWire
import Logging
import NIOCore
import NIOPosix

/// The listening socket of one module and the connections it serves.
///
/// Each connection is served in order: read a line, let the module reply, write the reply, then
/// the next line. Any number of connections may be open; the module itself serializes the
/// commands. While the module is `down` the socket is really closed (clients get "connection
/// refused") and every connection is dropped; when the fault is lifted the same port is bound again.
///
/// Each accepted connection gets its serving task straight from the socket's child initializer,
/// not through NIO's async sequence of accepted connections: closing a socket while clients
/// connect would otherwise drop a connection accepted but not yet handed out, and a dropped
/// `NIOAsyncChannel` is a precondition failure that ends the process (apple/swift-nio#2637).
final class ModuleServer: Sendable {
    typealias Connection = NIOAsyncChannel<LineFrame, ByteBuffer>

    let host: String
    /// The port actually bound (differs from the requested one when that was 0); kept across
    /// a `down` fault.
    let port: Int
    private let group: any EventLoopGroup
    private let module: KassaModule
    private let logger: Logger
    /// The socket bound at start.
    private let listener: any Channel
    private let connections: ConnectionTasks

    private init(
        host: String, port: Int, group: any EventLoopGroup, module: KassaModule, logger: Logger,
        listener: any Channel, connections: ConnectionTasks
    ) {
        self.host = host
        self.port = port
        self.group = group
        self.module = module
        self.logger = logger
        self.listener = listener
        self.connections = connections
    }

    /// Binds `host:port` (0: a free port) for `module`; connections are served from then on.
    static func bind(
        host: String, port: Int, group: any EventLoopGroup, module: KassaModule, logger: Logger
    ) async throws -> ModuleServer {
        let connections = ConnectionTasks()
        let listener = try await listen(
            host: host, port: port, group: group, module: module, logger: logger, connections: connections)
        return ModuleServer(
            host: host, port: listener.localAddress?.port ?? port, group: group, module: module, logger: logger,
            listener: listener, connections: connections)
    }

    private static func listen(
        host: String, port: Int, group: any EventLoopGroup, module: KassaModule, logger: Logger,
        connections: ConnectionTasks
    ) async throws -> any Channel {
        try await ServerBootstrap(group: group)
            .serverChannelOption(.backlog, value: 64)
            // Lets a module that was `down` bind its port again at once.
            .serverChannelOption(.socketOption(.so_reuseaddr), value: 1)
            .childChannelOption(.socketOption(.tcp_nodelay), value: 1)
            // `printf '...\n' | nc host port` half-closes after sending; still answer it.
            .childChannelOption(.allowRemoteHalfClosure, value: true)
            .childChannelInitializer { channel in
                channel.eventLoop.makeCompletedFuture {
                    try channel.pipeline.syncOperations.addHandler(ByteToMessageHandler(LineFrameDecoder()))
                    let connection = try Connection(wrappingChannelSynchronously: channel)
                    connections.start { await serve(connection, module: module, logger: logger) }
                }
            }
            .bind(host: host, port: port)
            .get()
    }

    /// Serves until the task is cancelled, then closes the socket and every connection and
    /// waits for them. Closes and re-opens the socket as the module goes `down` and comes back.
    func serve() async {
        var listener: (any Channel)? = self.listener
        while let open = listener {
            // Returns when the module goes down or the task is cancelled.
            await module.waitForFault { $0 == .down }
            try? await open.close()
            await connections.closeAll()
            listener = nil
            if Task.isCancelled { return }
            logger.debug("down: port closed", metadata: ["port": "\(port)"])
            while listener == nil {
                await module.waitForFault { $0 != .down }
                if Task.isCancelled { return }
                connections.reopen()
                do {
                    listener = try await Self.listen(
                        host: host, port: port, group: group, module: module, logger: logger,
                        connections: connections)
                    logger.debug("up again: listening", metadata: ["port": "\(port)"])
                } catch {
                    // Someone else took the port, or the system is short of sockets: try again.
                    logger.warning("cannot listen again", metadata: ["port": "\(port)", "error": "\(error)"])
                    try? await Task.sleep(for: .seconds(1))
                }
            }
        }
    }

    /// Closes the socket without serving (when the fleet fails to start).
    func close() async {
        try? await listener.close()
        await connections.closeAll()
    }

    private static func serve(_ connection: Connection, module: KassaModule, logger: Logger) async {
        do {
            try await connection.executeThenClose { lines, answers in
                for try await line in lines {
                    switch await module.respond(to: line) {
                    case .answer(let reply):
                        try await answers.write(reply)
                    case .hangUp:
                        return
                    }
                }
            }
        } catch {
            // A peer that resets or vanishes is normal for a device on a network.
            logger.trace("connection ended", metadata: ["error": "\(error)"])
        }
    }
}
