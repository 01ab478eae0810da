/// Why a module refused a command (`error.code`). A refusal always means no document was made.
public enum KassaErrorCode: String, Sendable, Codable, CaseIterable {
    /// Malformed command or arguments; the client (dispatcher) is at fault.
    case badRequest = "bad_request"
    /// The command's epoch is lower than the highest this module has seen: the sender lost its
    /// lease and must stop using the kassa.
    case staleEpoch = "stale_epoch"
    /// The kassa has no registration (INN, payment address) yet; an operator must register it.
    case notRegistered = "not_registered"
    /// The receipt's INN differs from the FN's INN.
    case innMismatch = "inn_mismatch"
    /// The receipt's payment address differs, character for character, from the registered one.
    case paymentAddressMismatch = "payment_address_mismatch"
    /// The receipt's tax system is not one the kassa was registered with.
    case snoNotRegistered = "sno_not_registered"
    /// An item's price × quantity ≠ sum, the items do not add up to the total, or the payments do not.
    case invalidArithmetic = "invalid_arithmetic"
    /// The open shift is 24 h old or older; the dispatcher must close it first.
    case shiftExpired = "shift_expired"
    /// The FN is past its expiry date; an operator must replace it.
    case fnExpired = "fn_expired"
    /// The FN has no room for another document; an operator must replace it.
    case fnFull = "fn_full"
    /// Reserved: the module is busy; retry.
    case busy

    /// The ATOL driver error number reported to shops for this refusal, where there is one.
    public var driverCode: Int? {
        switch self {
        case .badRequest, .invalidArithmetic: 2006
        case .innMismatch: 2003
        case .paymentAddressMismatch, .snoNotRegistered: 2007
        case .shiftExpired: 68
        case .fnExpired: 120
        case .fnFull: 121
        case .staleEpoch, .notRegistered, .busy: nil
        }
    }

    /// True when the receipt itself is wrong for this tenant: resending it anywhere fails the same
    /// way until the tenant fixes it, so the job fails instead of moving to another kassa.
    public var isTenantFixable: Bool {
        switch self {
        case .innMismatch, .paymentAddressMismatch, .snoNotRegistered, .invalidArithmetic: true
        default: false
        }
    }
}
