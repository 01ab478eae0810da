/// One ATOL token per tenant, fetched up front and renewed only after ExpiredToken
/// (code 11), as ATOL recommends.
///
/// Renewal is single-flight: when many posts hit code 11 at once, one `getToken` runs
/// and everyone awaits it.
actor TokenStore {
    private let api: AtolAPI
    private let tenants: [TenantCredentials]
    private var tokens: [Int: String] = [:]
    private var fetches: [Int: Task<String, any Error>] = [:]
    /// Renewals after code 11 (the initial fetches are not counted).
    private(set) var renewals = 0

    init(api: AtolAPI, tenants: [TenantCredentials]) {
        self.api = api
        self.tenants = tenants
    }

    /// Fetches every tenant's token; a run cannot start without them.
    func fetchAll() async throws {
        for index in tenants.indices {
            _ = try await token(for: index)
        }
    }

    /// The current token for tenant `index`, fetching it if there is none yet.
    func token(for index: Int) async throws -> String {
        if let token = tokens[index] { return token }
        return try await fetch(index)
    }

    /// True when `token` is no longer the tenant's current token because a renewal
    /// replaced it (or is replacing it) meanwhile.
    func wasReplaced(_ index: Int, token: String) -> Bool {
        fetches[index] != nil || (tokens[index].map { $0 != token } ?? false)
    }

    /// Replaces `stale` with a fresh token. If someone already replaced it, the newer
    /// token is returned without another request.
    func renew(_ index: Int, replacing stale: String) async throws -> String {
        if let current = tokens[index], current != stale { return current }
        tokens[index] = nil
        if fetches[index] == nil { renewals += 1 }  // joining a running renewal is not another one
        return try await fetch(index)
    }

    private func fetch(_ index: Int) async throws -> String {
        if let running = fetches[index] { return try await running.value }
        let tenant = tenants[index]
        let api = api
        let task = Task { try await Self.requestToken(api: api, tenant: tenant) }
        fetches[index] = task
        defer { fetches[index] = nil }
        let token = try await task.value
        tokens[index] = token
        return token
    }

    private static func requestToken(api: AtolAPI, tenant: TenantCredentials) async throws -> String {
        let answer: HTTPAnswer
        do {
            answer = try await api.getToken(login: tenant.login, password: tenant.password)
        } catch {
            throw LoadError.tokenRequestFailed(groupCode: tenant.groupCode, httpStatus: nil, reason: "\(error)")
        }
        let decoded = answer.decoded(TokenAnswer.self)
        guard answer.isSuccess, decoded?.error == nil, let token = decoded?.token, !token.isEmpty else {
            throw LoadError.tokenRequestFailed(
                groupCode: tenant.groupCode,
                httpStatus: answer.status,
                reason: decoded?.error?.reason ?? answer.bodyExcerpt
            )
        }
        return token
    }
}
