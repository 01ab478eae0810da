/// A request line: `{"id": 17, "cmd": "sell", "epoch": 4, "args": {...}}`.
public struct WireRequest<Args: Codable & Sendable>: Codable, Sendable {
    /// Chosen by the client, echoed in the response.
    public var id: Int64
    public var cmd: WireCommand
    /// The sender's lease epoch; required for `hello`, `sell`, `open_shift`, `close_shift`.
    public var epoch: Int64?
    /// Omitted for commands without arguments.
    public var args: Args?

    public init(id: Int64, cmd: WireCommand, epoch: Int64? = nil, args: Args? = nil) {
        self.id = id
        self.cmd = cmd
        self.epoch = epoch
        self.args = args
    }
}

/// The arguments of a command that has none.
public struct NoArguments: Codable, Sendable, Equatable {
    public init() {}
    /// Accepts anything: a command without arguments ignores `args`.
    public init(from decoder: any Decoder) throws {}
    public func encode(to encoder: any Encoder) throws {
        _ = encoder.container(keyedBy: EmptyKey.self)
    }
    private struct EmptyKey: CodingKey {
        var stringValue: String { "" }
        var intValue: Int? { nil }
        init?(stringValue: String) { nil }
        init?(intValue: Int) { nil }
    }
}
