import NIOCore

/// What the line decoder passes on: a whole line, or word that a line was too long.
public enum LineFrame: Sendable, Equatable {
    /// One line without its `\n` (and without a `\r` before it).
    case line(ByteBuffer)
    /// A line exceeded the limit; its bytes are being discarded up to the next `\n`. Sent once per
    /// over-long line, as soon as the limit is passed, so the peer learns of it without waiting.
    case overlong(limit: Int)
}

/// Splits a byte stream on `\n` into `LineFrame`s, with a limit on line length.
///
/// An over-long line does not close the connection: the decoder reports it once and drops
/// bytes until the next newline, so one bad request costs one error answer and nothing else.
/// Blank lines are skipped (they are not requests). Bytes after the last newline at end of
/// input are dropped: a request is a terminated line.
public struct LineFrameDecoder: ByteToMessageDecoder {
    public typealias InboundOut = LineFrame

    /// The protocol's limit for a request line: 1 MiB, not counting the newline.
    public static let requestLineLimit = 1 << 20
    /// What a client accepts for an answer line: answers echo documents and may be larger than
    /// requests.
    public static let responseLineLimit = 8 << 20

    public let maximumLineLength: Int
    /// Bytes at the front of the buffer already searched for a newline.
    private var searched = 0
    /// Inside an over-long line, dropping bytes until its end.
    private var discarding = false

    public init(maximumLineLength: Int = LineFrameDecoder.requestLineLimit) {
        self.maximumLineLength = maximumLineLength
    }

    public mutating func decode(context: ChannelHandlerContext, buffer: inout ByteBuffer) throws -> DecodingState {
        guard let frame = nextFrame(&buffer) else { return .needMoreData }
        if let frame { context.fireChannelRead(Self.wrapInboundOut(frame)) }
        return .continue
    }

    public mutating func decodeLast(
        context: ChannelHandlerContext, buffer: inout ByteBuffer, seenEOF: Bool
    ) throws -> DecodingState {
        // Whole lines that arrived with the end of input are still requests; a partial line is not.
        while let frame = nextFrame(&buffer) {
            if let frame { context.fireChannelRead(Self.wrapInboundOut(frame)) }
        }
        buffer.moveReaderIndex(to: buffer.writerIndex)
        return .needMoreData
    }

    /// The next frame in `buffer`: nil when more bytes are needed, `.some(nil)` when bytes were
    /// consumed without a frame to pass on (a blank line, the end of a discarded line).
    mutating func nextFrame(_ buffer: inout ByteBuffer) -> LineFrame?? {
        let view = buffer.readableBytesView
        let searchStart = view.index(view.startIndex, offsetBy: min(searched, view.count))
        guard let newline = view[searchStart...].firstIndex(of: UInt8(ascii: "\n")) else {
            if discarding {
                buffer.moveReaderIndex(forwardBy: view.count)
                searched = 0
                return nil
            }
            if view.count > maximumLineLength {
                buffer.moveReaderIndex(forwardBy: view.count)
                searched = 0
                discarding = true
                return .some(.overlong(limit: maximumLineLength))
            }
            searched = view.count
            return nil
        }
        searched = 0
        let length = view.distance(from: view.startIndex, to: newline)
        if discarding {
            discarding = false
            buffer.moveReaderIndex(forwardBy: length + 1)
            return .some(nil)
        }
        guard length <= maximumLineLength, var line = buffer.readSlice(length: length) else {
            buffer.moveReaderIndex(forwardBy: length + 1)
            return .some(.overlong(limit: maximumLineLength))
        }
        buffer.moveReaderIndex(forwardBy: 1)
        if line.readableBytesView.last == UInt8(ascii: "\r") {
            line.moveWriterIndex(to: line.writerIndex - 1)
        }
        if line.readableBytesView.allSatisfy({ $0 == 32 || $0 == 9 }) {
            return .some(nil)
        }
        return .some(.line(line))
    }
}
