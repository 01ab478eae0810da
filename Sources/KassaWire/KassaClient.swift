import Foundation
import Logging
import NIOConcurrencyHelpers
import NIOCore
import NIOPosix

/// An async client for one kassa module.
///
/// One command is on the wire at a time: concurrent callers are queued in call order and each
/// command's timeout starts when it is sent. Every failure is a `KassaClientError`; check
/// `isInDoubt` before using the kassa for anything else. After a timeout, a lost connection or an
/// unreadable answer the client is closed for good (a late answer must never be matched to a
/// later command): connect again, and reconcile with `archive` if the failed command was `sell`.
///
/// Call `close()` when done; the connection is not closed on deinit.
public final class KassaClient: Sendable {
    /// Used by commands called without a timeout.
    public static let defaultTimeout: Duration = .seconds(5)

    private let channel: any Channel
    private let nextID = NIOLockedValueBox<Int64>(1)
    /// Timeout for commands called without one.
    public let commandTimeout: Duration

    private init(channel: any Channel, commandTimeout: Duration) {
        self.channel = channel
        self.commandTimeout = commandTimeout
    }

    /// Connects to a module. Fails with `.connect` (nothing sent) when the module cannot be reached
    /// within `connectTimeout`.
    public static func connect(
        host: String, port: Int, eventLoopGroup: any EventLoopGroup = MultiThreadedEventLoopGroup.singleton,
        connectTimeout: Duration = .seconds(2), commandTimeout: Duration = KassaClient.defaultTimeout
    ) async throws(KassaClientError) -> KassaClient {
        let bootstrap = ClientBootstrap(group: eventLoopGroup)
            .connectTimeout(TimeAmount(connectTimeout))
            .channelOption(.socketOption(.tcp_nodelay), value: 1)
            .channelInitializer { channel in
                channel.eventLoop.makeCompletedFuture {
                    try channel.pipeline.syncOperations.addHandler(
                        ByteToMessageHandler(LineFrameDecoder(maximumLineLength: LineFrameDecoder.responseLineLimit)))
                    try channel.pipeline.syncOperations.addHandler(KassaClientHandler())
                }
            }
        do {
            let channel = try await bootstrap.connect(host: host, port: port).get()
            return KassaClient(channel: channel, commandTimeout: commandTimeout)
        } catch {
            throw .connect("\(host):\(port): \(error)")
        }
    }

    /// Closes the connection. Commands still queued fail with `.closed`; one in flight with
    /// `.connectionLost`.
    public func close() async {
        try? await channel.close()
    }

    /// Where the client is connected.
    public var remoteAddress: String {
        channel.remoteAddress.map { "\($0)" } ?? "?"
    }

    // MARK: Commands

    /// The FN's state. Read-only; needs no epoch.
    public func status(timeout: Duration? = nil) async throws(KassaClientError) -> KassaStatus {
        try await call(.status, epoch: nil, args: NoArguments?.none, timeout: timeout)
    }

    /// Announces the sender's lease epoch; the module refuses (`stale_epoch`) if it has seen a higher one.
    /// Send it first on every new connection.
    public func hello(epoch: Int64, timeout: Duration? = nil) async throws(KassaClientError) -> KassaStatus {
        try await call(.hello, epoch: epoch, args: NoArguments?.none, timeout: timeout)
    }

    /// Stores the kassa's registration (an operator's act; needs no epoch).
    public func register(_ registration: RegisterRequest, timeout: Duration? = nil) async throws(KassaClientError)
        -> KassaStatus
    {
        try await call(.register, epoch: nil, args: registration, timeout: timeout)
    }

    /// Fiscalizes one receipt. `.refused` means no document; `isInDoubt` errors mean the archive
    /// must be checked for a document carrying `receipt.jobID`.
    public func sell(_ receipt: SellRequest, epoch: Int64, timeout: Duration? = nil) async throws(KassaClientError)
        -> FiscalDocument
    {
        try await call(.sell, epoch: epoch, args: receipt, timeout: timeout)
    }

    /// Documents numbered above `after`, ascending (at most `limit`, and fewer if the answer would
    /// pass about 1 MiB).
    public func archive(after: Int64, limit: Int = ArchiveRequest.defaultLimit, timeout: Duration? = nil)
        async throws(KassaClientError) -> ArchivePage
    {
        try await call(.archive, epoch: nil, args: ArchiveRequest(after: after, limit: limit), timeout: timeout)
    }

    /// Opens a shift (a no-op if one is open).
    public func openShift(epoch: Int64, timeout: Duration? = nil) async throws(KassaClientError) -> KassaStatus {
        try await call(.openShift, epoch: epoch, args: NoArguments?.none, timeout: timeout)
    }

    /// Closes the shift with a Z-report (a no-op if none is open).
    public func closeShift(epoch: Int64, timeout: Duration? = nil) async throws(KassaClientError) -> KassaStatus {
        try await call(.closeShift, epoch: epoch, args: NoArguments?.none, timeout: timeout)
    }

    /// Sends `line` as it is (a `\n` is added) and returns the answer line: for diagnostics and
    /// tests of malformed input. The answer is not checked against a request id. A line with a
    /// newline in it would be two requests and put answers out of step, so it is not sent.
    public func exchangeRaw(_ line: String, timeout: Duration? = nil) async throws(KassaClientError) -> String {
        guard !line.utf8.contains(UInt8(ascii: "\n")) else {
            throw .refused(.badRequest("exchangeRaw: the line contains a newline; nothing was sent"))
        }
        var buffer = ByteBuffer(string: line)
        buffer.writeInteger(UInt8(ascii: "\n"))
        var answer = try await exchange(buffer, timeout: timeout)
        return answer.readString(length: answer.readableBytes) ?? ""
    }

    // MARK: Plumbing

    private func call<Args: Codable & Sendable, Result: Codable & Sendable>(
        _ command: WireCommand, epoch: Int64?, args: Args?, timeout: Duration?
    ) async throws(KassaClientError) -> Result {
        let id = nextID.withLockedValue { id in
            defer { id += 1 }
            return id
        }
        let line: ByteBuffer
        do {
            line = try WireJSON.line(WireRequest(id: id, cmd: command, epoch: epoch, args: args))
        } catch {
            // Nothing was sent; an unencodable request is the caller's bug, reported as such.
            throw .refused(.badRequest("request could not be encoded: \(error)"))
        }
        let answer = try await exchange(line, timeout: timeout)
        let response: WireResponse<Result>
        do {
            if let read = WireResponse<Result>.handRead(answer.readableBytesView) {
                response = read
            } else {
                response = try WireJSON.makeDecoder().decode(WireResponse<Result>.self, from: Data(answer.readableBytesView))
            }
        } catch {
            await close()
            throw .protocolViolation("\(command.rawValue) answer: \(WireJSON.describe(error))")
        }
        guard response.id == id else {
            await close()
            throw .protocolViolation(
                "\(command.rawValue) answer carries id \(response.id.map(String.init) ?? "null"), expected \(id)")
        }
        if let error = response.error, !response.ok {
            throw .refused(error)
        }
        guard response.ok, let result = response.result else {
            await close()
            throw .protocolViolation("\(command.rawValue) answer has neither a result nor an error")
        }
        return result
    }

    private func exchange(_ line: ByteBuffer, timeout: Duration?) async throws(KassaClientError) -> ByteBuffer {
        let answer = channel.eventLoop.makePromise(of: ByteBuffer.self)
        let command = PendingCommand(line: line, answer: answer, timeout: TimeAmount(timeout ?? commandTimeout))
        // The handler accepts every write that reaches it; a failed write never reached it (the
        // channel was already closed), so nothing was sent.
        channel.writeAndFlush(command).whenFailure { _ in answer.fail(KassaClientError.closed) }
        do {
            return try await answer.futureResult.get()
        } catch let error as KassaClientError {
            throw error
        } catch {
            throw .connectionLost
        }
    }
}
