import NIOCore

/// A command on its way to the module: the request line, where its answer line goes, and how
/// long to wait for it once sent.
struct PendingCommand: Sendable {
    var line: ByteBuffer
    var answer: EventLoopPromise<ByteBuffer>
    var timeout: TimeAmount
}

/// Keeps one command in flight per connection: writes the next queued command only when the
/// previous one was answered, and pairs answers with commands by order.
///
/// On a timeout it closes the connection — the only way to be sure that a late answer is never
/// read as the answer to a later command. Queued commands that were never sent fail with
/// `.closed` (not in doubt); the one in flight fails with `.timeout` or `.connectionLost`.
final class KassaClientHandler: ChannelDuplexHandler {
    typealias InboundIn = LineFrame
    typealias OutboundIn = PendingCommand
    typealias OutboundOut = ByteBuffer

    private var queue = CircularBuffer<PendingCommand>()
    private var inFlight: (command: PendingCommand, timer: Scheduled<Void>)?
    private var isClosed = false

    func write(context: ChannelHandlerContext, data: NIOAny, promise: EventLoopPromise<Void>?) {
        let command = unwrapOutboundIn(data)
        promise?.succeed(())
        guard !isClosed else {
            command.answer.fail(KassaClientError.closed)
            return
        }
        queue.append(command)
        sendNextIfIdle(context: context)
    }

    func channelRead(context: ChannelHandlerContext, data: NIOAny) {
        guard let (command, timer) = inFlight else {
            // An answer nobody asked for: the stream is out of step; nothing later can be trusted.
            fail(context: context, inFlightWith: .protocolViolation("an answer arrived with no command outstanding"))
            return
        }
        switch unwrapInboundIn(data) {
        case .line(let line):
            timer.cancel()
            inFlight = nil
            command.answer.succeed(line)
            sendNextIfIdle(context: context)
        case .overlong(let limit):
            fail(context: context, inFlightWith: .protocolViolation("answer longer than \(limit) bytes"))
        }
    }

    func channelInactive(context: ChannelHandlerContext) {
        failAll(inFlightWith: .connectionLost)
        context.fireChannelInactive()
    }

    func errorCaught(context: ChannelHandlerContext, error: any Error) {
        fail(context: context, inFlightWith: .connectionLost)
    }

    private func sendNextIfIdle(context: ChannelHandlerContext) {
        guard inFlight == nil, !isClosed, let command = queue.popFirst() else { return }
        let timer = context.eventLoop.assumeIsolated().scheduleTask(in: command.timeout) {
            self.fail(context: context, inFlightWith: .timeout)
        }
        inFlight = (command, timer)
        context.writeAndFlush(wrapOutboundOut(command.line)).assumeIsolated().whenFailure { _ in
            self.fail(context: context, inFlightWith: .connectionLost)
        }
    }

    /// Ends the connection: the command in flight gets `error`, queued ones `.closed`.
    private func fail(context: ChannelHandlerContext, inFlightWith error: KassaClientError) {
        failAll(inFlightWith: error)
        context.close(promise: nil)
    }

    private func failAll(inFlightWith error: KassaClientError) {
        isClosed = true
        if let (command, timer) = inFlight {
            inFlight = nil
            timer.cancel()
            command.answer.fail(error)
        }
        while let command = queue.popFirst() {
            command.answer.fail(KassaClientError.closed)
        }
    }
}
