/// The `error` object of a refused command: `{"code": ..., "driver_code": ..., "text": ..., "fiscalized": false}`.
public struct KassaWireError: Error, Sendable, Codable, Equatable, CustomStringConvertible {
    public var code: KassaErrorCode
    /// The ATOL driver error number, where the code has one.
    public var driverCode: Int?
    /// What was wrong, with the values involved.
    public var text: String
    /// Always false: a refusal means no document was made.
    public var fiscalized: Bool

    public init(_ code: KassaErrorCode, _ text: String) {
        self.code = code
        self.driverCode = code.driverCode
        self.text = text
        self.fiscalized = false
    }

    enum CodingKeys: String, CodingKey {
        case code, text, fiscalized
        case driverCode = "driver_code"
    }

    public init(from decoder: any Decoder) throws {
        let container = try decoder.container(keyedBy: CodingKeys.self)
        code = try container.decode(KassaErrorCode.self, forKey: .code)
        driverCode = try container.decodeIfPresent(Int.self, forKey: .driverCode)
        text = try container.decodeIfPresent(String.self, forKey: .text) ?? ""
        fiscalized = try container.decodeIfPresent(Bool.self, forKey: .fiscalized) ?? false
    }

    public var description: String { "\(code.rawValue): \(text)" }

    /// A malformed command: `bad_request` with what was wrong and where.
    public static func badRequest(_ text: String) -> KassaWireError { KassaWireError(.badRequest, text) }
}
