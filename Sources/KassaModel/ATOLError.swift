/// The error codes of the ATOL Online v4 API that our ingress answers with (ATOL-API.md §1.5).
public enum ATOLErrorCode: Int, Sendable, Codable {
    case undefined = 0
    case processingFailed = 1
    case missingToken = 10
    case expiredToken = 11
    case wrongLoginOrPassword = 12
    case validation = 13
    case userBlocked = 14
    case groupCodeAndTokenDontMatch = 20
    case missingUUID = 30
    case operationNotSupported = 31
    case incomingValidation = 32
    case externalIDAlreadyExists = 33
    case stateCheckNotFound = 34
    case badRequest = 40
    case unsupportedMediaType = 41
    case serverConfiguration = 50

    /// The HTTP status ATOL answers with for this code.
    public var httpStatus: Int {
        switch self {
        case .missingToken, .expiredToken, .wrongLoginOrPassword, .groupCodeAndTokenDontMatch: 401
        case .userBlocked: 403
        case .stateCheckNotFound: 200
        case .unsupportedMediaType: 415
        case .serverConfiguration: 500
        default: 400
        }
    }
}

/// An error as the API reports it: `{"error_id","code","text","type"}`.
public struct ATOLError: Error, Sendable, Codable, Equatable {
    public var code: Int
    public var text: String
    /// `system`, `unknown`, `driver`, `timeout`, `agent`.
    public var type: String

    public init(code: Int, text: String, type: String = "system") {
        self.code = code
        self.text = text
        self.type = type
    }

    public init(_ code: ATOLErrorCode, _ text: String, type: String = "system") {
        self.init(code: code.rawValue, text: text, type: type)
    }
}
