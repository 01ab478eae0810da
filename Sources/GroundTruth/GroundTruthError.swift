/// Why the ground-truth check could not run at all (as opposed to running and finding
/// violations, which `CheckResult` reports).
public enum GroundTruthError: Error, Sendable, Equatable, CustomStringConvertible {
    /// A file or directory could not be read.
    case unreadable(path: String, reason: String)
    /// A line of the acknowledged log is not what `kassa load --ack-log` writes.
    case badLogLine(path: String, line: Int, reason: String)
    /// The credentials file is not the tenants' JSON `kassa registry provision` writes.
    case badCredentials(path: String, reason: String)
    /// No credentials for a tenant whose reports are needed.
    case noCredentials(groupCode: String)
    /// `getToken` did not give a token.
    case tokenRefused(groupCode: String, httpStatus: Int?, reason: String)
    /// A report could not be read after the retries.
    case reportUnavailable(groupCode: String, uuid: String, reason: String)

    public var description: String {
        switch self {
        case .unreadable(let path, let reason): "\(path): \(reason)"
        case .badLogLine(let path, let line, let reason): "\(path):\(line): \(reason)"
        case .badCredentials(let path, let reason): "\(path): \(reason)"
        case .noCredentials(let groupCode): "no credentials for tenant \(groupCode)"
        case .tokenRefused(let groupCode, let status, let reason):
            "getToken for \(groupCode) failed\(status.map { " (HTTP \($0))" } ?? ""): \(reason)"
        case .reportUnavailable(let groupCode, let uuid, let reason): "report \(groupCode)/\(uuid): \(reason)"
        }
    }
}
