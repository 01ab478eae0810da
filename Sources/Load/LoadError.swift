/// Why a load run could not start or had to stop.
///
/// Per-request problems (rejections, 503s, transport errors) are not errors of the run:
/// they are counted in `LoadSummary`. Only what makes the whole run meaningless is thrown.
public enum LoadError: Error, CustomStringConvertible, Sendable {
    case invalidConfiguration(String)
    /// `getToken` did not give a token for this group.
    case tokenRequestFailed(groupCode: String, httpStatus: Int?, reason: String)
    /// The acknowledged log could not be created or written.
    case acknowledgedLogFailed(path: String, reason: String)

    public var description: String {
        switch self {
        case .invalidConfiguration(let reason):
            "invalid load configuration: \(reason)"
        case .tokenRequestFailed(let group, let status, let reason):
            "getToken for group \(group) failed (HTTP \(status.map(String.init) ?? "none")): \(reason)"
        case .acknowledgedLogFailed(let path, let reason):
            "acknowledged log \(path): \(reason)"
        }
    }
}
