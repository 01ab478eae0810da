import Foundation

/// A command with its decoded arguments: what a module acts on.
public enum KassaCommand: Sendable, Equatable {
    case status
    case register(RegisterRequest)
    case hello
    case openShift
    case closeShift
    case sell(SellRequest)
    case archive(ArchiveRequest)

    public var name: WireCommand {
        switch self {
        case .status: .status
        case .register: .register
        case .hello: .hello
        case .openShift: .openShift
        case .closeShift: .closeShift
        case .sell: .sell
        case .archive: .archive
        }
    }
}

/// A request line as a module reads it: parsed and checked for shape, or refused with the
/// `bad_request` error to answer (never a crash, whatever the bytes).
public struct IncomingRequest: Sendable, Equatable {
    public var id: Int64
    /// Present (and ≥ 0) whenever `command.name.requiresEpoch`.
    public var epoch: Int64?
    public var command: KassaCommand

    public init(id: Int64, epoch: Int64?, command: KassaCommand) {
        self.id = id
        self.epoch = epoch
        self.command = command
    }

    /// A line that is not a well-formed request: answer `error` under `id` (null when unreadable).
    public struct Rejection: Error, Sendable, Equatable {
        public var id: Int64?
        public var error: KassaWireError

        public init(id: Int64?, _ text: String) {
            self.id = id
            self.error = .badRequest(text)
        }
    }

    /// Parses one request line (without its `\n`).
    public static func parse(_ line: some Collection<UInt8>) -> Result<IncomingRequest, Rejection> {
        let data = Data(line)
        let decoder = WireJSON.makeDecoder()
        let head: RequestHead
        do {
            head = try decoder.decode(RequestHead.self, from: data)
        } catch DecodingError.typeMismatch(_, let context) where context.codingPath.isEmpty {
            return .failure(Rejection(id: nil, "expected a JSON object, e.g. {\"id\": 1, \"cmd\": \"status\"}"))
        } catch {
            return .failure(Rejection(id: nil, "not JSON: \(WireJSON.describe(error))"))
        }
        let id: Int64
        switch head.id {
        case .value(let value): id = value
        case .absent, .null: return .failure(Rejection(id: nil, "id: missing"))
        case .wrongType: return .failure(Rejection(id: nil, "id: expected an integer"))
        }
        let command: WireCommand
        switch head.cmd {
        case .value(let name):
            guard let known = WireCommand(rawValue: name) else {
                let names = WireCommand.allCases.map(\.rawValue).joined(separator: ", ")
                return .failure(Rejection(id: id, "cmd: unknown command \"\(name)\"; expected one of \(names)"))
            }
            command = known
        case .absent, .null: return .failure(Rejection(id: id, "cmd: missing"))
        case .wrongType: return .failure(Rejection(id: id, "cmd: expected a string"))
        }
        var epoch: Int64?
        switch head.epoch {
        case .absent, .null: epoch = nil
        case .value(let value) where value >= 0: epoch = value
        case .value, .wrongType: return .failure(Rejection(id: id, "epoch: expected an integer ≥ 0"))
        }
        if command.requiresEpoch, epoch == nil {
            return .failure(Rejection(id: id, "epoch: required for \(command.rawValue)"))
        }
        let hasArgs: Bool
        switch head.args {
        case .absent, .null: hasArgs = false
        case .value: hasArgs = true
        case .wrongType: return .failure(Rejection(id: id, "args: expected an object"))
        }

        func arguments<Args: Decodable>(_ type: Args.Type) -> Result<Args?, Rejection> {
            guard hasArgs else { return .success(nil) }
            do {
                return .success(try decoder.decode(ArgumentsEnvelope<Args>.self, from: data).args)
            } catch {
                return .failure(Rejection(id: id, WireJSON.describe(error)))
            }
        }
        func required<Args: Decodable>(_ type: Args.Type) -> Result<Args, Rejection> {
            arguments(type).flatMap { args in
                guard let args else { return .failure(Rejection(id: id, "args: missing")) }
                return .success(args)
            }
        }

        let parsed: Result<KassaCommand, Rejection>
        switch command {
        case .status: parsed = .success(.status)
        case .hello: parsed = .success(.hello)
        case .openShift: parsed = .success(.openShift)
        case .closeShift: parsed = .success(.closeShift)
        case .register: parsed = required(RegisterRequest.self).map { .register($0) }
        case .sell: parsed = required(SellRequest.self).map { .sell($0) }
        case .archive:
            parsed = arguments(ArchiveRequest.self).flatMap { args in
                let request = args ?? ArchiveRequest(after: 0)
                guard ArchiveRequest.limitRange.contains(request.limit) else {
                    return .failure(Rejection(id: id, "args.limit: expected 1...10000, found \(request.limit)"))
                }
                guard request.after >= 0 else {
                    return .failure(Rejection(id: id, "args.after: expected an integer ≥ 0, found \(request.after)"))
                }
                return .success(.archive(request))
            }
        }
        return parsed.map { IncomingRequest(id: id, epoch: epoch, command: $0) }
    }
}

/// Reads only `args` of a request line.
private struct ArgumentsEnvelope<Args: Decodable>: Decodable {
    var args: Args?
}

/// The envelope of a request line, read leniently so that each field's problem can be named
/// (and the `id` echoed) rather than failing the line as a whole.
private struct RequestHead: Decodable {
    enum Field<Value> {
        case absent, null, wrongType
        case value(Value)
    }

    var id: Field<Int64>
    var cmd: Field<String>
    var epoch: Field<Int64>
    /// `.value` when `args` is an object.
    var args: Field<Void>

    enum CodingKeys: String, CodingKey {
        case id, cmd, epoch, args
    }

    init(from decoder: any Decoder) throws {
        let c = try decoder.container(keyedBy: CodingKeys.self)
        func field<Value: Decodable>(_ key: CodingKeys, _ type: Value.Type) -> Field<Value> {
            guard c.contains(key) else { return .absent }
            if (try? c.decodeNil(forKey: key)) == true { return .null }
            guard let value = try? c.decode(type, forKey: key) else { return .wrongType }
            return .value(value)
        }
        id = field(.id, Int64.self)
        cmd = field(.cmd, String.self)
        epoch = field(.epoch, Int64.self)
        if !c.contains(.args) {
            args = .absent
        } else if (try? c.decodeNil(forKey: .args)) == true {
            args = .null
        } else if (try? c.nestedContainer(keyedBy: CodingKeys.self, forKey: .args)) != nil {
            args = .value(())
        } else {
            args = .wrongType
        }
    }
}
