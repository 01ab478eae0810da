/// Everything the registry can throw. Each case says enough to act on without the logs.
public enum RegistryError: Error, Sendable, Equatable, CustomStringConvertible {
    /// No usable connection: connecting or reconnecting failed, or the connection broke while a
    /// statement was in flight. In the latter case the statement's outcome is unknown (it may
    /// have committed); callers on the exactly-once path must treat that as "in doubt".
    case connection(String)
    /// The server rejected a statement. `sqlState` is the five-character SQLSTATE when the server
    /// sent one; `statement` is the SQL text (values are never part of it: they are parameters).
    case statement(sqlState: String?, message: String, statement: String)
    /// A value in a result could not be read as the requested type.
    case decoding(String)
    /// The caller's lease epoch no longer matches the kassa's: another owner holds (or held) the
    /// kassa since. Nothing was changed.
    case fenced(String)
    /// The row the operation needs does not exist.
    case notFound(String)
    /// A uniqueness rule forbids the change (a second intent on a kassa, a login taken by
    /// another tenant, ...). Nothing was changed.
    case conflict(String)
    /// The caller passed arguments the operation cannot accept (e.g. a NUL character in a text
    /// parameter, a negative lease time). Nothing was sent to the server.
    case invalidArgument(String)

    public var description: String {
        switch self {
        case .connection(let message):
            return "registry connection: \(message)"
        case .statement(let sqlState, let message, let statement):
            return "registry statement failed [\(sqlState ?? "no SQLSTATE")]: \(message) — in: \(statement)"
        case .decoding(let message):
            return "registry decoding: \(message)"
        case .fenced(let message):
            return "registry fenced: \(message)"
        case .notFound(let message):
            return "registry not found: \(message)"
        case .conflict(let message):
            return "registry conflict: \(message)"
        case .invalidArgument(let message):
            return "registry invalid argument: \(message)"
        }
    }

    /// True for an error that says the registry could not be reached or is changing primaries
    /// (a broken connection, a read-only server, a shutdown): the same call may well succeed
    /// in a few seconds.
    public var isTransient: Bool {
        switch self {
        case .connection: true
        case .statement(let state, _, _): state == "25006" || state?.hasPrefix("57P") == true || state?.hasPrefix("08") == true
        default: false
        }
    }

    /// The SQLSTATE of a `.statement` error, nil for every other case.
    public var sqlState: String? {
        if case .statement(let state, _, _) = self { return state }
        return nil
    }
}

/// SQLSTATE codes the registry reacts to.
enum SQLState {
    static let uniqueViolation = "23505"
    static let foreignKeyViolation = "23503"
    static let checkViolation = "23514"
    static let notNullViolation = "23502"
}
