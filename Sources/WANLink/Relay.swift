import Logging
import NIOCore
import NIOPosix

/// Carries one accepted connection to its target and back, through a `DelayPipe` each way.
///
/// Each direction is a reader (socket → pipe, stamping every chunk with its delay) and a
/// writer (pipe → the other socket, once the chunk is due). The writer's `write` waits while
/// the other socket is not writable and the reader waits while the pipe is full, so a slow
/// peer slows the sender down instead of filling the proxy's memory.
///
/// A half-close is passed on (after the chunks before it); the connection ends when both
/// directions have ended, or at once when either side fails or the link ends it.
enum Relay {
    typealias Stream = NIOAsyncChannel<ByteBuffer, ByteBuffer>

    /// Bytes one direction may hold in its pipe: at 50 ms of latency 1 MiB still carries
    /// 20 MB/s, far more than the cluster sends across the WAN.
    static let pipeCapacity = 1 << 20
    static let connectTimeout = TimeAmount.seconds(5)

    /// How both ends' channels are wrapped: half-closes travel through (`nc -N`, HTTP/1.0
    /// clients), and the inbound buffer is small, since the pipe is the buffer.
    static let channelConfiguration = Stream.Configuration(
        backPressureStrategy: .init(lowWatermark: 2, highWatermark: 8), isOutboundHalfClosureEnabled: true)

    /// Serves `client` until the connection ends. Never throws: a peer that resets or
    /// vanishes is ordinary for a WAN, and only the connection ends.
    static func serve(
        _ client: Stream, connection: ProxyConnection, target: Endpoint, runtime: LinkRuntime,
        group: any EventLoopGroup, logger: Logger
    ) async {
        do {
            try await client.executeThenClose { fromClient, toClient in
                // Accepted into a blackhole (or ended before it began): swallow what comes,
                // answer nothing, and never reach the target.
                if connection.isSilenced || Task.isCancelled {
                    try await swallow(fromClient, connection: connection)
                    return
                }
                let upstream: Stream
                do {
                    upstream = try await connect(target, group: group)
                } catch {
                    // The target refused or is unreachable: the client is reset, as it would
                    // be without the proxy in between.
                    connection.abort()
                    throw error
                }
                guard connection.attach(target: upstream.channel) else {
                    try await upstream.executeThenClose { _, _ in }
                    return
                }
                try await upstream.executeThenClose { fromTarget, toTarget in
                    try await withThrowingTaskGroup(of: Void.self) { directions in
                        directions.addTask {
                            try await pump(fromClient, into: toTarget, .toTarget, connection: connection, runtime: runtime)
                        }
                        directions.addTask {
                            try await pump(fromTarget, into: toClient, .toClient, connection: connection, runtime: runtime)
                        }
                        // The first failure ends the connection: leaving the group cancels the other direction.
                        while try await directions.next() != nil {}
                    }
                    // A blackholed connection whose peers both hung up still says nothing:
                    // it stays until the link ends it (lifted blackhole, reset, stop).
                    if connection.isSilenced {
                        try? await connection.client.closeFuture.get()
                    }
                }
            }
        } catch {
            logger.trace("connection ended", metadata: ["target": "\(target)", "error": "\(error)"])
        }
    }

    /// Reads and drops everything until the client goes away or the link ends the connection.
    private static func swallow(_ inbound: NIOAsyncChannelInboundStream<ByteBuffer>, connection: ProxyConnection) async throws {
        for try await _ in inbound {}
        // The client's FIN vanishes too: keep the connection until the link ends it.
        if !Task.isCancelled {
            try? await connection.client.closeFuture.get()
        }
    }

    private static func connect(_ target: Endpoint, group: any EventLoopGroup) async throws -> Stream {
        try await ClientBootstrap(group: group)
            .connectTimeout(connectTimeout)
            .channelOption(.socketOption(.tcp_nodelay), value: 1)
            .channelOption(.allowRemoteHalfClosure, value: true)
            .connect(host: target.host, port: target.port) { channel in
                channel.eventLoop.makeCompletedFuture {
                    try Stream(wrappingChannelSynchronously: channel, configuration: channelConfiguration)
                }
            }
    }

    /// One direction: `source` → pipe → `sink`.
    private static func pump(
        _ source: NIOAsyncChannelInboundStream<ByteBuffer>, into sink: NIOAsyncChannelOutboundWriter<ByteBuffer>,
        _ direction: RelayDirection, connection: ProxyConnection, runtime: LinkRuntime
    ) async throws {
        let pipe = DelayPipe(capacity: pipeCapacity)
        try await withThrowingTaskGroup(of: Void.self) { ends in
            ends.addTask {
                // Whatever ends the reading (end of stream, an error), the writer drains what
                // is in the pipe and then stops.
                defer { pipe.finish() }
                for try await chunk in source {
                    // Blackholed: the chunk vanishes on the wire.
                    if connection.isSilenced { continue }
                    guard await pipe.push(chunk, delay: runtime.delay()) else { return }
                }
            }
            ends.addTask {
                while let item = await pipe.pop() {
                    if item.due > .now {
                        try await Task.sleep(until: item.due, clock: .continuous)
                    }
                    // A chunk in flight when the blackhole began vanishes as well.
                    if connection.isSilenced { continue }
                    // Counted when handed on, so the count never lags what the peer can see.
                    runtime.forwarded(item.chunk.readableBytes, direction)
                    try await sink.write(item.chunk)
                }
                // Pass the half-close on, unless it would be a word out of a blackhole.
                if !connection.isSilenced { sink.finish() }
            }
            do {
                while try await ends.next() != nil {}
            } catch {
                pipe.close()
                throw error
            }
        }
    }
}
