import KassaModel
import AsyncHTTPClient
import Foundation
import Logging
import NIOCore
import NIOHTTP1

/// The three ATOL v4 calls the load generator makes, over a shared keep-alive pool.
///
/// Answers come back raw (status, body, arrival time); interpreting them is the
/// caller's job, since the same status means different things for different posts.
struct AtolAPI: Sendable {
    let client: HTTPClient
    /// Without a trailing slash.
    let baseURL: String
    let timeout: TimeAmount
    let logger: Logger

    /// Biggest answer body read; ATOL answers are a few hundred bytes.
    private static let maxBodyBytes = 1 << 20

    init(client: HTTPClient, baseURL: String, timeout: Duration, logger: Logger) {
        self.client = client
        var base = baseURL
        while base.hasSuffix("/") { base.removeLast() }
        self.baseURL = base
        self.timeout = .nanoseconds(Int64(min(timeout.inSeconds, 3600) * 1e9))
        self.logger = logger
    }

    /// `POST {base}/getToken` with `{"login","pass"}`.
    func getToken(login: String, password: String) async throws -> HTTPAnswer {
        var json = JSONText()
        json.beginObject()
        json.field("login", login)
        json.field("pass", password)
        json.endObject()
        return try await send(.POST, url: "\(baseURL)/getToken", token: nil, body: json.text)
    }

    /// `POST {base}/{group}/{operation}` with the receipt body.
    func register(groupCode: String, operation: ReceiptOperation, token: String, body: String) async throws -> HTTPAnswer {
        try await send(.POST, url: "\(baseURL)/\(Self.segment(groupCode))/\(operation.rawValue)", token: token, body: body)
    }

    /// `GET {base}/{group}/report/{uuid}`.
    func report(groupCode: String, uuid: String, token: String) async throws -> HTTPAnswer {
        try await send(.GET, url: "\(baseURL)/\(Self.segment(groupCode))/report/\(Self.segment(uuid))", token: token, body: nil)
    }

    private func send(_ method: HTTPMethod, url: String, token: String?, body: String?) async throws -> HTTPAnswer {
        var request = HTTPClientRequest(url: url)
        request.method = method
        if let token { request.headers.add(name: "Token", value: token) }
        if let body {
            request.headers.add(name: "Content-Type", value: "application/json; charset=utf-8")
            request.body = .bytes(ByteBuffer(string: body))
        }
        let response = try await client.execute(request, timeout: timeout, logger: logger)
        let buffer = try await response.body.collect(upTo: Self.maxBodyBytes)
        return HTTPAnswer(
            status: Int(response.status.code),
            body: Array(buffer.readableBytesView),
            retryAfter: response.headers.first(name: "Retry-After"),
            receivedAt: .now,
            receivedWallClock: Date()
        )
    }

    /// Percent-encodes one path segment (group codes and uuids are normally safe already).
    private static func segment(_ raw: String) -> String {
        var allowed = CharacterSet.urlPathAllowed
        allowed.remove(charactersIn: "/?#")
        return raw.addingPercentEncoding(withAllowedCharacters: allowed) ?? raw
    }
}
