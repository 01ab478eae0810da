/// The commands a kassa module understands (`cmd` of a request).
public enum WireCommand: String, Sendable, Codable, CaseIterable {
    case status
    case register
    case hello
    case openShift = "open_shift"
    case closeShift = "close_shift"
    case sell
    case archive

    /// Commands that act for a lease holder carry its epoch; the module fences older ones.
    public var requiresEpoch: Bool {
        switch self {
        case .hello, .sell, .openShift, .closeShift: true
        case .status, .register, .archive: false
        }
    }
}
