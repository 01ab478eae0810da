import AsyncHTTPClient
import Foundation
import Logging
import NIOConcurrencyHelpers
import NIOCore
import NIOHTTP1
import NIOPosix
import Testing

@testable import WANLink

/// A value that events change and tests await: `wait` returns as soon as the condition holds
/// (or false once the timeout passes), so no test sleeps to let something happen.
final class Watched<Value: Sendable>: Sendable {
    private struct Waiter {
        let ready: @Sendable (Value) -> Bool
        let continuation: CheckedContinuation<Bool, Never>
    }

    private struct State {
        var value: Value
        var waiters: [Int: Waiter] = [:]
        var expired: Set<Int> = []
        var nextID = 0
    }

    private let state: NIOLockedValueBox<State>

    init(_ value: Value) {
        state = NIOLockedValueBox(State(value: value))
    }

    var value: Value { state.withLockedValue { $0.value } }

    func update(_ body: (inout Value) -> Void) {
        let woken: [Waiter] = state.withLockedValue { state in
            body(&state.value)
            let ready = state.waiters.filter { $0.value.ready(state.value) }
            for id in ready.keys { state.waiters[id] = nil }
            return Array(ready.values)
        }
        for waiter in woken { waiter.continuation.resume(returning: true) }
    }

    /// Whether `ready` held within `timeout`.
    func wait(within timeout: Duration, until ready: @escaping @Sendable (Value) -> Bool) async -> Bool {
        let id = state.withLockedValue { state in
            state.nextID += 1
            return state.nextID
        }
        return await withTaskGroup(of: Void.self) { group in
            group.addTask {
                try? await Task.sleep(for: timeout)
                self.expire(id)
            }
            let result = await withCheckedContinuation { (continuation: CheckedContinuation<Bool, Never>) in
                let now: Bool? = state.withLockedValue { state in
                    if ready(state.value) { return true }
                    if state.expired.remove(id) != nil { return false }
                    state.waiters[id] = Waiter(ready: ready, continuation: continuation)
                    return nil
                }
                if let now { continuation.resume(returning: now) }
            }
            group.cancelAll()
            return result
        }
    }

    private func expire(_ id: Int) {
        let waiter: Waiter? = state.withLockedValue { state in
            guard let waiter = state.waiters.removeValue(forKey: id) else {
                state.expired.insert(id)
                return nil
            }
            return waiter
        }
        waiter?.continuation.resume(returning: false)
    }
}

/// Polls `condition` until it holds or `deadline` passes; false on timeout. Only for state
/// that no event announces (a count inside the proxy).
func eventually(within deadline: Duration = .seconds(10), _ condition: () async throws -> Bool) async rethrows -> Bool {
    let end = ContinuousClock.now + deadline
    while ContinuousClock.now < end {
        if try await condition() { return true }
        try? await Task.sleep(for: .milliseconds(20))
    }
    return try await condition()
}

/// An echo server on loopback; with `greeting` it first sends its own port and a newline,
/// so a test can tell which port a connection reached.
final class EchoServer: Sendable {
    struct Counts: Sendable {
        var accepted = 0
        var open = 0
    }

    let channel: any Channel
    let port: Int
    let counts: Watched<Counts>

    private init(channel: any Channel, counts: Watched<Counts>) {
        self.channel = channel
        self.port = channel.localAddress?.port ?? 0
        self.counts = counts
    }

    static func start(port: Int = 0, greeting: Bool = false, group: any EventLoopGroup) async throws -> EchoServer {
        let counts = Watched(Counts())
        let channel = try await ServerBootstrap(group: group)
            .serverChannelOption(.socketOption(.so_reuseaddr), value: 1)
            .childChannelInitializer { channel in
                channel.eventLoop.makeCompletedFuture {
                    // Stops reading while it cannot write back: the echo respects backpressure too.
                    try channel.pipeline.syncOperations.addHandler(BackPressureHandler())
                    try channel.pipeline.syncOperations.addHandler(EchoHandler(counts: counts, greeting: greeting))
                }
            }
            .bind(host: "127.0.0.1", port: port)
            .get()
        return EchoServer(channel: channel, counts: counts)
    }

    func close() async {
        try? await channel.close()
    }
}

private final class EchoHandler: ChannelInboundHandler {
    typealias InboundIn = ByteBuffer
    typealias OutboundOut = ByteBuffer

    let counts: Watched<EchoServer.Counts>
    let greeting: Bool

    init(counts: Watched<EchoServer.Counts>, greeting: Bool) {
        self.counts = counts
        self.greeting = greeting
    }

    func channelActive(context: ChannelHandlerContext) {
        counts.update {
            $0.accepted += 1
            $0.open += 1
        }
        if greeting {
            let port = context.channel.localAddress?.port ?? 0
            context.writeAndFlush(wrapOutboundOut(ByteBuffer(string: "\(port)\n")), promise: nil)
        }
        context.fireChannelActive()
    }

    func channelInactive(context: ChannelHandlerContext) {
        counts.update { $0.open -= 1 }
        context.fireChannelInactive()
    }

    func channelRead(context: ChannelHandlerContext, data: NIOAny) {
        context.write(data, promise: nil)
    }

    func channelReadComplete(context: ChannelHandlerContext) {
        context.flush()
    }

    func errorCaught(context: ChannelHandlerContext, error: any Error) {
        context.close(promise: nil)
    }
}

/// A TCP client that collects what it receives, so a test can await bytes or the close.
final class TestClient: Sendable {
    struct Inbox: Sendable {
        var bytes: [UInt8] = []
        var closed = false
    }

    let channel: any Channel
    let inbox: Watched<Inbox>

    private init(channel: any Channel, inbox: Watched<Inbox>) {
        self.channel = channel
        self.inbox = inbox
    }

    static func connect(port: Int, group: any EventLoopGroup) async throws -> TestClient {
        let inbox = Watched(Inbox())
        let channel = try await ClientBootstrap(group: group)
            .connectTimeout(.seconds(5))
            .channelInitializer { channel in
                channel.eventLoop.makeCompletedFuture {
                    try channel.pipeline.syncOperations.addHandler(CollectHandler(inbox: inbox))
                }
            }
            .connect(host: "127.0.0.1", port: port)
            .get()
        return TestClient(channel: channel, inbox: inbox)
    }

    func send(_ bytes: [UInt8]) async throws {
        try await channel.writeAndFlush(ByteBuffer(bytes: bytes))
    }

    func send(_ text: String) async throws {
        try await send(Array(text.utf8))
    }

    /// The next `count` bytes, or nil if they did not all come within `timeout`.
    func receive(_ count: Int, within timeout: Duration = .seconds(20)) async -> [UInt8]? {
        guard await inbox.wait(within: timeout, until: { $0.bytes.count >= count }) else { return nil }
        var taken: [UInt8] = []
        inbox.update { inbox in
            taken = Array(inbox.bytes.prefix(count))
            inbox.bytes.removeFirst(count)
        }
        return taken
    }

    /// Sends `text` and returns the answer of the same length (nil: none within `timeout`).
    func echo(_ text: String, within timeout: Duration = .seconds(20)) async throws -> String? {
        try await send(text)
        return await receive(text.utf8.count, within: timeout).map { String(decoding: $0, as: UTF8.self) }
    }

    /// Reads up to and including the next newline.
    func line(within timeout: Duration = .seconds(10)) async -> String? {
        guard await inbox.wait(within: timeout, until: { $0.bytes.contains(UInt8(ascii: "\n")) }) else { return nil }
        var line = ""
        inbox.update { inbox in
            guard let end = inbox.bytes.firstIndex(of: UInt8(ascii: "\n")) else { return }
            line = String(decoding: inbox.bytes[..<end], as: UTF8.self)
            inbox.bytes.removeFirst(end + 1)
        }
        return line
    }

    /// Whether the connection was closed (by the peer, or reset) within `timeout`.
    func closed(within timeout: Duration) async -> Bool {
        await inbox.wait(within: timeout) { $0.closed }
    }

    var isClosed: Bool { inbox.value.closed }

    func close() async {
        try? await channel.close()
    }
}

private final class CollectHandler: ChannelInboundHandler {
    typealias InboundIn = ByteBuffer

    let inbox: Watched<TestClient.Inbox>

    init(inbox: Watched<TestClient.Inbox>) {
        self.inbox = inbox
    }

    func channelRead(context: ChannelHandlerContext, data: NIOAny) {
        let buffer = unwrapInboundIn(data)
        inbox.update { $0.bytes.append(contentsOf: buffer.readableBytesView) }
    }

    func channelInactive(context: ChannelHandlerContext) {
        inbox.update { $0.closed = true }
        context.fireChannelInactive()
    }

    func errorCaught(context: ChannelHandlerContext, error: any Error) {
        // A reset: the connection is over either way.
        context.close(promise: nil)
    }
}

/// Runs `body` with a base port such that `count` ports from it could be bound, trying
/// random bases until `body` does not fail with a bind error (something else held a port).
func withConsecutivePorts<T>(_ count: Int, _ body: (Int) async throws -> T) async throws -> T {
    var lastError: (any Error)?
    for _ in 0..<30 {
        // Below Linux's ephemeral range (32768-60999), above the cluster's fixed ports.
        let base = Int.random(in: 24_100...31_900)
        do {
            return try await body(base)
        } catch let error as IOError where error.errnoCode == EADDRINUSE {
            lastError = error
        } catch let error as WANLinkError where error.message.contains("cannot listen") {
            lastError = error
        }
    }
    throw lastError ?? WANLinkError("no free range of \(count) ports")
}

/// A proxy with links to running echo servers, and its control plane.
struct Harness {
    let group: MultiThreadedEventLoopGroup
    let proxy: WANProxy
    let controlURL: String

    var link: Link { proxy.links[0] }
    /// The first listen port of the first link.
    var port: Int { link.mappings[0].listen.port }

    func connect(_ port: Int? = nil) async throws -> TestClient {
        try await TestClient.connect(port: port ?? self.port, group: group)
    }

    /// An HTTP call to the control plane: the status and the JSON answer.
    func call(_ method: HTTPMethod, _ path: String, _ body: String? = nil) async throws -> (status: Int, json: ControlJSON) {
        try await controlCall(controlURL, method, path, body)
    }

    /// `POST /links/{name}` that must succeed.
    func set(_ body: String, link: String = "A->B") async throws {
        let answer = try await call(.POST, "/links/" + Harness.encoded(link), body)
        #expect(answer.status == 200, "\(answer.json.serialized())")
    }

    /// A link name as a path segment.
    static func encoded(_ name: String) -> String {
        name.addingPercentEncoding(withAllowedCharacters: .alphanumerics) ?? name
    }
}

struct ControlPlaneDidNotStart: Error {}

/// An HTTP call to a control plane at `base`: the status and the JSON answer.
func controlCall(_ base: String, _ method: HTTPMethod, _ path: String, _ body: String? = nil) async throws -> (status: Int, json: ControlJSON) {
    var request = HTTPClientRequest(url: base + path)
    request.method = method
    if let body {
        request.headers.add(name: "Content-Type", value: "application/json")
        request.body = .bytes(ByteBuffer(string: body))
    }
    let response = try await HTTPClient.shared.execute(request, timeout: .seconds(10))
    let answer = try await response.body.collect(upTo: 1 << 20)
    return (Int(response.status.code), try ControlJSON.parse(answer.readableBytesView))
}

/// Starts the proxy for `configuration` and its control plane (free port), runs `body`,
/// stops both and the event loops.
func withProxy(
    _ configuration: WANConfiguration, group: MultiThreadedEventLoopGroup, _ body: (Harness) async throws -> Void
) async throws {
    var logger = Logger(label: "test.wan-link")
    logger.logLevel = .notice
    let proxy = try await WANProxy.start(configuration, eventLoopGroup: group, logger: logger)
    let (ports, portSink) = AsyncStream.makeStream(of: Int.self)
    let control = Task { try await LinkControl(proxy: proxy, logger: logger).run(port: 0) { portSink.yield($0) } }
    func stop() async {
        control.cancel()
        _ = await control.result
        await proxy.stop()
    }
    do {
        var listening = ports.makeAsyncIterator()
        guard let port = await listening.next() else { throw ControlPlaneDidNotStart() }
        try await body(Harness(group: group, proxy: proxy, controlURL: "http://127.0.0.1:\(port)"))
    } catch {
        await stop()
        throw error
    }
    await stop()
}

/// Runs `body` with event loops of its own, shut down afterwards (closing whatever is left).
func withEventLoops<T>(_ body: (MultiThreadedEventLoopGroup) async throws -> T) async throws -> T {
    let group = MultiThreadedEventLoopGroup(numberOfThreads: 2)
    let result: T
    do {
        result = try await body(group)
    } catch {
        try? await group.shutdownGracefully()
        throw error
    }
    try await group.shutdownGracefully()
    return result
}

/// One echo server and a link `A->B` in front of it (listen port: any free one).
func withEchoLink(latencyMs: Int = 0, jitterMs: Int = 0, _ body: (Harness, EchoServer) async throws -> Void) async throws {
    try await withEventLoops { group in
        let echo = try await EchoServer.start(group: group)
        let configuration = WANConfiguration(links: [
            .init(name: "A->B", latencyMs: latencyMs, jitterMs: jitterMs, routes: [
                .init(listen: "127.0.0.1:0", target: "127.0.0.1:\(echo.port)")
            ])
        ])
        try await withProxy(configuration, group: group) { try await body($0, echo) }
        await echo.close()
    }
}
