import Foundation

/// The `error` object of ATOL answers. Decoded leniently: the load generator must be
/// able to describe whatever a server under test sends, not only well-formed answers.
struct AtolErrorPayload: Decodable, Sendable {
    var code: Int?
    var text: String?
    var type: String?

    private enum CodingKeys: String, CodingKey { case code, text, type }

    init(from decoder: any Decoder) throws {
        let container = try decoder.container(keyedBy: CodingKeys.self)
        // ATOL sends integers; tolerate a numeric string from a sloppy server.
        if let number = try? container.decodeIfPresent(Int.self, forKey: .code) {
            code = number
        } else if let text = try? container.decodeIfPresent(String.self, forKey: .code) {
            code = Int(text)
        }
        text = try? container.decodeIfPresent(String.self, forKey: .text)
        type = try? container.decodeIfPresent(String.self, forKey: .type)
    }

    /// `"<code>: <text>"`, the key used in reason tables.
    var reason: String {
        "\(code.map(String.init) ?? "?"): \(text ?? "")"
    }
}

/// `POST /getToken` answer.
struct TokenAnswer: Decodable, Sendable {
    var token: String?
    var error: AtolErrorPayload?
}

/// `POST /{group}/{operation}` answer.
struct RegistrationAnswer: Decodable, Sendable {
    var uuid: String?
    var status: String?
    var error: AtolErrorPayload?
}

/// `GET /{group}/report/{uuid}` answer; only the fields the checks need.
struct ReportAnswer: Decodable, Sendable {
    struct Payload: Decodable, Sendable {
        var total: Double?
    }

    var uuid: String?
    var status: String?
    var error: AtolErrorPayload?
    var externalID: String?
    var payload: Payload?

    private enum CodingKeys: String, CodingKey {
        case uuid, status, error, payload
        case externalID = "external_id"
    }
}

/// One HTTP exchange's answer, with when it arrived.
struct HTTPAnswer: Sendable {
    var status: Int
    var body: [UInt8]
    /// Raw `Retry-After` header, if any.
    var retryAfter: String?
    /// Monotonic arrival time, for latencies.
    var receivedAt: ContinuousClock.Instant
    /// Wall-clock arrival time, for the acknowledged log.
    var receivedWallClock: Date

    /// The body decoded as `T`, or nil when it is not that JSON.
    func decoded<T: Decodable>(_ type: T.Type) -> T? {
        try? JSONDecoder().decode(type, from: Data(body))
    }

    /// A short, printable excerpt of the body for reason texts.
    var bodyExcerpt: String {
        let text = String(decoding: body.prefix(120), as: UTF8.self)
        return text.replacingOccurrences(of: "\n", with: " ")
    }

    var isSuccess: Bool { (200..<300).contains(status) }

    /// A reason key for an unexpected answer: `HTTP 400 13: text`, or the body excerpt
    /// when the answer carries no ATOL error object.
    func reason(error: AtolErrorPayload?) -> String {
        if let error { return "HTTP \(status) \(error.reason)" }
        return body.isEmpty ? "HTTP \(status)" : "HTTP \(status) \(bodyExcerpt)"
    }
}
