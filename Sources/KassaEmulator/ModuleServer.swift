import KassaWire
import Logging
import NIOCore
import NIOPosix

/// The listening socket of one module and the loop that serves its connections.
///
/// Each connection is served in order: read a line, let the module reply, write the reply, then
/// the next line. Any number of connections may be open; the module itself serializes the
/// commands. While the module is `down` the socket is really closed (clients get "connection
/// refused") and every connection is dropped; when the fault is lifted the same port is bound again.
struct ModuleServer: Sendable {
    typealias Connection = NIOAsyncChannel<LineFrame, ByteBuffer>
    typealias Listener = NIOAsyncChannel<Connection, Never>

    /// The socket bound at start.
    let listener: Listener
    let host: String
    /// The port actually bound (differs from the requested one when that was 0); kept across
    /// a `down` fault.
    let port: Int
    let group: any EventLoopGroup

    static func bind(host: String, port: Int, group: any EventLoopGroup) async throws -> ModuleServer {
        let listener = try await listen(host: host, port: port, group: group)
        return ModuleServer(
            listener: listener, host: host, port: listener.channel.localAddress?.port ?? port, group: group)
    }

    private static func listen(host: String, port: Int, group: any EventLoopGroup) async throws -> Listener {
        try await ServerBootstrap(group: group)
            .serverChannelOption(.backlog, value: 64)
            // Lets a module that was `down` bind its port again at once.
            .serverChannelOption(.socketOption(.so_reuseaddr), value: 1)
            .childChannelOption(.socketOption(.tcp_nodelay), value: 1)
            // `printf '...\n' | nc host port` half-closes after sending; still answer it.
            .childChannelOption(.allowRemoteHalfClosure, value: true)
            .bind(host: host, port: port) { channel in
                channel.eventLoop.makeCompletedFuture {
                    try channel.pipeline.syncOperations.addHandler(ByteToMessageHandler(LineFrameDecoder()))
                    return try Connection(wrappingChannelSynchronously: channel)
                }
            }
    }

    /// Serves connections until the task is cancelled, then closes the socket and every
    /// connection. Closes and re-opens the socket as the module goes `down` and comes back.
    func serve(_ module: KassaModule, logger: Logger) async {
        var listener: Listener? = self.listener
        while !Task.isCancelled {
            if let open = listener {
                await Self.serve(open, module: module, logger: logger)
                listener = nil
                if Task.isCancelled { return }
                logger.notice("down: port closed", metadata: ["port": "\(port)"])
            }
            await module.waitForFault { $0 != .down }
            if Task.isCancelled { return }
            do {
                listener = try await Self.listen(host: host, port: port, group: group)
                logger.notice("up again: listening", metadata: ["port": "\(port)"])
            } catch {
                // Someone else took the port, or the system is short of sockets: try again.
                logger.warning("cannot listen again", metadata: ["port": "\(port)", "error": "\(error)"])
                try? await Task.sleep(for: .seconds(1))
            }
        }
    }

    /// Closes the socket without serving (when the fleet fails to start).
    func close() async {
        try? await listener.channel.close()
    }

    /// Serves `listener` until the task is cancelled or the module goes down; then closes it and
    /// every connection it accepted.
    private static func serve(_ listener: Listener, module: KassaModule, logger: Logger) async {
        await withTaskGroup(of: Void.self) { group in
            group.addTask { await accept(listener, module: module, logger: logger) }
            group.addTask { await module.waitForFault { $0 == .down } }
            await group.next()
            group.cancelAll()
        }
    }

    private static func accept(_ listener: Listener, module: KassaModule, logger: Logger) async {
        do {
            try await listener.executeThenClose { connections in
                await withDiscardingTaskGroup { group in
                    do {
                        for try await connection in connections {
                            group.addTask { await serve(connection, module: module, logger: logger) }
                        }
                    } catch {
                        logger.debug("stopped accepting", metadata: ["error": "\(error)"])
                    }
                    group.cancelAll()
                }
            }
        } catch {
            logger.debug("listener closed", metadata: ["error": "\(error)"])
        }
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
