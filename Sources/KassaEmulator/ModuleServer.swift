import KassaWire
import Logging
import NIOCore
import NIOPosix

/// The listening socket of one module and the loop that serves its connections.
///
/// Each connection is served in order: read a line, let the module reply, write the reply, then
/// the next line. Any number of connections may be open; the module itself serializes the
/// commands.
struct ModuleServer: Sendable {
    typealias Connection = NIOAsyncChannel<LineFrame, ByteBuffer>

    let listener: NIOAsyncChannel<Connection, Never>
    /// The port actually bound (differs from the requested one when that was 0).
    let port: Int

    static func bind(host: String, port: Int, group: any EventLoopGroup) async throws -> ModuleServer {
        let listener = try await ServerBootstrap(group: group)
            .serverChannelOption(.backlog, value: 64)
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
        return ModuleServer(listener: listener, port: listener.channel.localAddress?.port ?? port)
    }

    /// Serves connections until the task is cancelled, then closes the socket and every connection.
    func serve(_ module: KassaModule, logger: Logger) async {
        do {
            try await listener.executeThenClose { connections in
                await withDiscardingTaskGroup { group in
                    do {
                        for try await connection in connections {
                            group.addTask { await Self.serve(connection, module: module, logger: logger) }
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

    /// Closes the socket without serving (when the fleet fails to start).
    func close() async {
        try? await listener.channel.close()
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
