import Foundation
import KassaModel

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
        // One pass into a JSONValue names each envelope field's problem (and echoes the id)
        // rather than failing the line as a whole; `sell`, the per-receipt command, reads its
        // arguments from the same tree (`HandWrittenJSON`), the rare ones through Codable.
        let json: JSONValue
        do {
            json = try JSONValue.parse(line)
        } catch {
            return .failure(Rejection(id: nil, "not JSON: \(error.reason)"))
        }
        guard let envelope = try? JSONObjectReader(json) else {
            return .failure(Rejection(id: nil, "expected a JSON object, e.g. {\"id\": 1, \"cmd\": \"status\"}"))
        }
        // A missing or null member reads as nil; one of the wrong type throws.
        let id: Int64
        do {
            guard let value = try envelope.optionalInt64("id") else { return .failure(Rejection(id: nil, "id: missing")) }
            id = value
        } catch {
            return .failure(Rejection(id: nil, "id: expected an integer"))
        }
        let command: WireCommand
        do {
            guard let name = try envelope.optionalString("cmd") else { return .failure(Rejection(id: id, "cmd: missing")) }
            guard let known = WireCommand(rawValue: name) else {
                let names = WireCommand.allCases.map(\.rawValue).joined(separator: ", ")
                return .failure(Rejection(id: id, "cmd: unknown command \"\(name)\"; expected one of \(names)"))
            }
            command = known
        } catch {
            return .failure(Rejection(id: id, "cmd: expected a string"))
        }
        let epoch: Int64?
        do {
            epoch = try envelope.optionalInt64("epoch")
        } catch {
            return .failure(Rejection(id: id, "epoch: expected an integer ≥ 0"))
        }
        if let epoch, epoch < 0 { return .failure(Rejection(id: id, "epoch: expected an integer ≥ 0")) }
        if command.requiresEpoch, epoch == nil {
            return .failure(Rejection(id: id, "epoch: required for \(command.rawValue)"))
        }
        let args: JSONObjectReader?
        do {
            args = try envelope.optionalObject("args")
        } catch {
            return .failure(Rejection(id: id, "args: expected an object"))
        }

        func arguments<Args: Decodable>(_ type: Args.Type) -> Result<Args?, Rejection> {
            guard args != nil else { return .success(nil) }
            do {
                return .success(try WireJSON.makeDecoder().decode(ArgumentsEnvelope<Args>.self, from: Data(line)).args)
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
        case .sell:
            guard let args else { return .failure(Rejection(id: id, "args: missing")) }
            do {
                parsed = .success(.sell(try SellRequest(reading: args)))
            } catch {
                parsed = .failure(Rejection(id: id, error.description))
            }
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
