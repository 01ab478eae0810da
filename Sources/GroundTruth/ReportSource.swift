import AsyncHTTPClient
import Foundation
import NIOCore
import NIOHTTP1

/// Where the check gets a receipt's report from: the API over HTTP (`ATOLReportSource`), or a
/// fake in tests.
public protocol ReportSource: Sendable {
    /// The report of job `uuid` of tenant `groupCode`. Throws only when no answer could be read;
    /// an API that does not know the receipt answers `.unknown`.
    func report(groupCode: String, uuid: String) async throws -> ObservedReport
}

extension ReportSource {
    /// The reports of `posts` (uuid → report), at most `inFlight` requests at once.
    public func reports(for posts: [AcknowledgedPost], inFlight: Int = 32) async throws -> [String: ObservedReport] {
        var reports: [String: ObservedReport] = [:]
        try await withThrowingTaskGroup(of: (String, ObservedReport).self) { group in
            var next = posts.startIndex
            func startNext() {
                guard next < posts.endIndex else { return }
                let post = posts[next]
                next += 1
                group.addTask { (post.uuid, try await self.report(groupCode: post.groupCode, uuid: post.uuid)) }
            }
            for _ in 0..<max(1, inFlight) { startNext() }
            while let (uuid, report) = try await group.next() {
                reports[uuid] = report
                startNext()
            }
        }
        return reports
    }
}

/// A tenant's login for the ATOL API, as in the credentials file `kassa registry provision`
/// writes (`[{"group_code","login","password",...}]`; other keys are ignored).
public struct TenantLogin: Sendable, Codable, Equatable {
    public var groupCode: String
    public var login: String
    public var password: String

    public init(groupCode: String, login: String, password: String) {
        self.groupCode = groupCode
        self.login = login
        self.password = password
    }

    enum CodingKeys: String, CodingKey {
        case groupCode = "group_code"
        case login, password
    }

    /// Reads the credentials file.
    public static func read(path: String) throws(GroundTruthError) -> [TenantLogin] {
        guard let data = FileManager.default.contents(atPath: path) else {
            throw .unreadable(path: path, reason: "cannot read the tenants' credentials")
        }
        do {
            return try JSONDecoder().decode([TenantLogin].self, from: data)
        } catch {
            throw .badCredentials(path: path, reason: "expected [{\"group_code\",\"login\",\"password\"}]: \(error)")
        }
    }
}

/// Reports over the ATOL v4 API, as a shop reads them: a token per tenant (`POST
/// {base}/getToken`, renewed after a token error), then `GET {base}/{group_code}/report/{uuid}`
/// with the `Token` header. Transport errors, server errors and unreadable answers are retried
/// `attempts` times with a growing pause.
public struct ATOLReportSource: ReportSource {
    public let baseURL: String
    public let attempts: Int
    private let client: HTTPClient
    private let tokens: TokenCache
    private let timeout: TimeAmount

    /// `baseURL` like `http://127.0.0.1:18080/possystem/v4`. The caller owns `client`.
    public init(baseURL: String, tenants: [TenantLogin], client: HTTPClient, attempts: Int = 4,
                requestTimeout: Duration = .seconds(10)) {
        var base = baseURL
        while base.hasSuffix("/") { base.removeLast() }
        self.baseURL = base
        self.attempts = max(1, attempts)
        self.client = client
        self.tokens = TokenCache(tenants: tenants)
        let (seconds, attoseconds) = requestTimeout.components
        self.timeout = .nanoseconds(seconds * 1_000_000_000 + attoseconds / 1_000_000_000)
    }

    /// Runs `body` with a source on an HTTP client of its own, shut down afterwards.
    public static func with<Result: Sendable>(
        baseURL: String, tenants: [TenantLogin], _ body: (ATOLReportSource) async throws -> Result
    ) async throws -> Result {
        var configuration = HTTPClient.Configuration()
        configuration.timeout = .init(connect: .seconds(5))
        configuration.redirectConfiguration = .disallow
        return try await HTTPClient.withHTTPClient(configuration: configuration) { client in
            try await body(ATOLReportSource(baseURL: baseURL, tenants: tenants, client: client))
        }
    }

    public func report(groupCode: String, uuid: String) async throws -> ObservedReport {
        let url = "\(baseURL)/\(Self.segment(groupCode))/report/\(Self.segment(uuid))"
        var lastProblem = ""
        for attempt in 1...attempts {
            if attempt > 1 { try await Task.sleep(for: .milliseconds(250 * (1 << (attempt - 2)))) }
            let token: String
            do {
                token = try await tokens.token(groupCode: groupCode) { login in try await fetchToken(login) }
            } catch GroundTruthError.noCredentials(let group) {
                throw GroundTruthError.noCredentials(groupCode: group)
            } catch {
                lastProblem = "\(error)"
                continue
            }
            let status: Int
            let body: [UInt8]
            do {
                (status, body) = try await exchange(.GET, url: url, token: token, body: nil)
            } catch {
                lastProblem = "\(error)"
                continue
            }
            if let report = ObservedReport.parse(httpStatus: status, body: body) { return report }
            lastProblem = "HTTP \(status): \(String(decoding: body.prefix(300), as: UTF8.self))"
            if status == 401 { await tokens.forget(groupCode: groupCode, token: token) }  // codes 10, 11: a new token
        }
        throw GroundTruthError.reportUnavailable(groupCode: groupCode, uuid: uuid, reason: "after \(attempts) attempts: \(lastProblem)")
    }

    private func fetchToken(_ login: TenantLogin) async throws -> String {
        let body = try JSONSerialization.data(withJSONObject: ["login": login.login, "pass": login.password])
        let status: Int
        let answer: [UInt8]
        do {
            (status, answer) = try await exchange(.POST, url: "\(baseURL)/getToken", token: nil, body: Array(body))
        } catch {
            throw GroundTruthError.tokenRefused(groupCode: login.groupCode, httpStatus: nil, reason: "\(error)")
        }
        let object = (try? JSONSerialization.jsonObject(with: Data(answer))) as? [String: Any]
        guard status == 200, let token = object?["token"] as? String, !token.isEmpty else {
            throw GroundTruthError.tokenRefused(groupCode: login.groupCode, httpStatus: status,
                                                reason: String(decoding: answer.prefix(300), as: UTF8.self))
        }
        return token
    }

    private func exchange(_ method: HTTPMethod, url: String, token: String?, body: [UInt8]?) async throws -> (Int, [UInt8]) {
        var request = HTTPClientRequest(url: url)
        request.method = method
        if let token { request.headers.add(name: "Token", value: token) }
        if let body {
            request.headers.add(name: "Content-Type", value: "application/json; charset=utf-8")
            request.body = .bytes(ByteBuffer(bytes: body))
        }
        let response = try await client.execute(request, timeout: timeout)
        let buffer = try await response.body.collect(upTo: 1 << 20)
        return (Int(response.status.code), Array(buffer.readableBytesView))
    }

    /// Percent-encodes one path segment.
    private static func segment(_ raw: String) -> String {
        var allowed = CharacterSet.urlPathAllowed
        allowed.remove(charactersIn: "/?#")
        return raw.addingPercentEncoding(withAllowedCharacters: allowed) ?? raw
    }
}

/// One token per tenant, fetched once on first use (single flight) and again after a token error.
private actor TokenCache {
    private let tenants: [String: TenantLogin]
    private var fetches: [String: Task<String, any Error>] = [:]

    init(tenants: [TenantLogin]) {
        self.tenants = Dictionary(tenants.map { ($0.groupCode, $0) }, uniquingKeysWith: { first, _ in first })
    }

    func token(groupCode: String, fetch: @escaping @Sendable (TenantLogin) async throws -> String) async throws -> String {
        if let running = fetches[groupCode] { return try await running.value }
        guard let login = tenants[groupCode] else { throw GroundTruthError.noCredentials(groupCode: groupCode) }
        let task = Task { try await fetch(login) }
        fetches[groupCode] = task
        do {
            return try await task.value
        } catch {
            if fetches[groupCode] == task { fetches[groupCode] = nil }  // the next caller tries again
            throw error
        }
    }

    /// Drops `token` if it is still the tenant's current one.
    func forget(groupCode: String, token: String) async {
        guard let running = fetches[groupCode], let current = try? await running.value, current == token else { return }
        if fetches[groupCode] == running { fetches[groupCode] = nil }
    }
}
