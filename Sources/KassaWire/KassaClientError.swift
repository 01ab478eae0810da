/// Why a `KassaClient` command did not produce a result.
///
/// What matters to the exactly-once protocol is whether a document may have been made:
/// `isInDoubt`. A command in doubt must be reconciled by reading the FN archive (`archive`) on a
/// new connection before the kassa is used again.
public enum KassaClientError: Error, Sendable, Equatable, CustomStringConvertible {
    /// Could not connect. Nothing was sent.
    case connect(String)
    /// The module answered `ok: false`: no document was made.
    case refused(KassaWireError)
    /// No answer within the command's timeout; the client closed the connection so a late answer
    /// can never be taken for a later command's. IN DOUBT: the module may have made the document.
    case timeout
    /// The connection ended while the command was outstanding. IN DOUBT.
    case connectionLost
    /// The connection was already closed (or closed while the command waited its turn): the
    /// command was never sent. Not in doubt.
    case closed
    /// The answer could not be read, or did not match the command. The client closed the
    /// connection. IN DOUBT.
    case protocolViolation(String)

    /// True when the module may have carried out the command although no answer says so: the
    /// outcome is unknown and must be reconciled from the archive.
    public var isInDoubt: Bool {
        switch self {
        case .timeout, .connectionLost, .protocolViolation: true
        case .connect, .refused, .closed: false
        }
    }

    public var description: String {
        switch self {
        case .connect(let why): "could not connect: \(why)"
        case .refused(let error): "refused: \(error)"
        case .timeout: "no answer in time (in doubt)"
        case .connectionLost: "connection lost with a command outstanding (in doubt)"
        case .closed: "connection closed; command not sent"
        case .protocolViolation(let why): "unreadable answer (in doubt): \(why)"
        }
    }
}
