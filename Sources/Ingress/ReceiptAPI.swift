import Foundation
import HTTPTypes
import Hummingbird
import KassaModel
import Logging
import NIOCore
import Registry

/// The ATOL Online v4 compatible routes: getToken, register a receipt, report; and resend of
/// failed receipts.
struct ReceiptAPI: Sendable {
    let signer: TokenSigner
    let registry: any IngressRegistry
    let publisher: any JobPublisher
    /// Nil when the registry offers no resend (the endpoint answers code 50).
    let resend: ResendDesk?
    let logger: Logger
    /// Tokens already verified, so a repeat costs a dictionary lookup.
    let verifiedTokens = VerifiedTokens()
    /// Largest accepted request body (a 100-item receipt is well under this).
    let maxBodyBytes = 512 * 1024

    func register(on router: Router<BasicRequestContext>, base: String) {
        router.post("\(base)/getToken") { request, _ in try await self.getToken(request) }
        router.get("\(base)/getToken") { request, _ in try await self.getToken(request) }
        // Registered before `:operation`; a constant path segment wins over a capture anyway.
        router.post("\(base)/:group/resend") { request, context in
            await self.resend(request, group: context.parameters.get("group") ?? "")
        }
        router.post("\(base)/:group/:operation") { request, context in
            try await self.registerReceipt(request, group: context.parameters.get("group") ?? "", operation: context.parameters.get("operation") ?? "")
        }
        router.get("\(base)/:group/report/:uuid") { request, context in
            await self.report(request, group: context.parameters.get("group") ?? "", uuidText: context.parameters.get("uuid") ?? "")
        }
    }

    // MARK: getToken

    func getToken(_ request: Request) async throws -> Response {
        var request = request
        var login: String?
        var password: String?
        if request.method == .get {
            login = request.uri.queryParameters["login"].map(String.init)
            password = request.uri.queryParameters["pass"].map(String.init)
        } else {
            let body = try await request.collectBody(upTo: 16 * 1024)
            guard let json = try? JSONValue.parse(body.readableBytesView) else {
                return ATOLResponse.failure(.incomingValidation, "fields: (body): a JSON object {\"login\",\"pass\",\"source\"?}")
            }
            if case .string(let s)? = json["login"] { login = s }
            if case .string(let s)? = json["pass"] { password = s }
        }
        guard let login, !login.isEmpty, login.count <= 100, let password, !password.isEmpty else {
            return ATOLResponse.failure(.incomingValidation, "fields: login: required, a string of 1 to 100 characters; pass: required, a string")
        }
        let tenant: TenantAccount?
        do {
            tenant = try await registry.authenticate(login: login, password: password)
        } catch {
            logger.error("getToken: registry unavailable", metadata: ["error": "\(error)"])
            return ATOLResponse.failure(ATOLError(.serverConfiguration, "the registry is unavailable; retry later"), status: .serviceUnavailable, headers: [.retryAfter: "5"])
        }
        guard let tenant else { return ATOLResponse.failure(.wrongLoginOrPassword, "wrong login or password") }
        guard !tenant.blocked else { return ATOLResponse.failure(.userBlocked, "the user is blocked") }
        let issued = signer.issue(tenantID: tenant.id, groupCode: tenant.groupCode)
        return ATOLResponse.json(.ok, ["error": nil, "token": .string(issued.token), "timestamp": .string(ATOLTimestamp.format(Date()))])
    }

    // MARK: authentication

    /// The token's claims, or the answer to give when the token is missing, forged, expired or for another group.
    func authorize(_ request: Request, group: String) -> Result<TokenSigner.Claims, ATOLError> {
        let token = request.headers[HTTPField.Name("Token")!] ?? request.uri.queryParameters["token"].map(String.init)
        guard let token, !token.isEmpty else { return .failure(ATOLError(.missingToken, "missing token: send it in the Token header or the token query parameter")) }
        switch verifiedTokens.verify(token, with: signer) {
        case .failure(.invalid): return .failure(ATOLError(.missingToken, "the token is not valid; get a new one with getToken"))
        case .failure(.expired): return .failure(ATOLError(.expiredToken, "the token expired; get a new one with getToken"))
        case .success(let claims):
            guard claims.groupCode == group else {
                return .failure(ATOLError(.groupCodeAndTokenDontMatch, "the token was issued for another group code"))
            }
            return .success(claims)
        }
    }

    // MARK: register a receipt

    func registerReceipt(_ request: Request, group: String, operation operationText: String) async throws -> Response {
        guard let operation = Operation(rawValue: operationText) else {
            let known = Operation.allCases.map(\.rawValue).joined(separator: ", ")
            return ATOLResponse.failure(.operationNotSupported, "operation '\(operationText)' is not supported; expected one of \(known)")
        }
        let claims: TokenSigner.Claims
        let body: ByteBuffer
        switch await authorizedJSONBody(request, group: group, limit: maxBodyBytes) {
        case .failure(let refusal): return refusal.response
        case .success(let granted): (claims, body) = granted
        }
        let json: JSONValue
        do {
            json = try JSONValue.parse(body.readableBytesView)
        } catch {
            return ATOLResponse.failure(.incomingValidation, "fields: (body): valid JSON (\(error))")
        }
        let valid: ReceiptRequest
        switch ReceiptValidator.validate(json) {
        case .failure(let problems): return ATOLResponse.failure(problems.atolError)
        case .success(let r): valid = r
        }
        let uuid = JobID.derive(groupCode: group, externalID: valid.externalID)
        // A repeat of a job the registry already knows: answer with the original uuid, publish nothing.
        // If the registry cannot be read we publish anyway: dispatchers skip a job they already have.
        if let known = try? await registry.groupCode(ofJob: uuid), known == group {
            return ATOLResponse.registered(uuid: uuid, duplicate: true)
        }
        let job = ReceiptJob(uuid: uuid, groupCode: group, tenantID: claims.tenantID, operation: operation,
                             externalID: valid.externalID, acceptedAt: Date(), timestamp: valid.timestamp,
                             callbackURL: valid.callbackURL, receipt: valid.receipt)
        // Kafka known to be away: say so now rather than after the producer's message timeout.
        guard publisher.isConnected else {
            return ATOLResponse.failure(ATOLError(.serverConfiguration, "the receipt queue is unavailable; the receipt was not registered, retry after 5 s"),
                                        status: .serviceUnavailable, headers: [.retryAfter: "5"])
        }
        do {
            try await publisher.publish(job)
        } catch .backpressure {
            return ATOLResponse.failure(ATOLError(.serverConfiguration, "the receipt queue is full; the receipt was not registered, retry after 1 s"),
                                        status: .serviceUnavailable, headers: [.retryAfter: "1"])
        } catch .unavailable(let reason) {
            logger.warning("publish failed", metadata: ["uuid": "\(uuid)", "reason": "\(reason)"])
            return ATOLResponse.failure(ATOLError(.serverConfiguration, "the receipt queue is unavailable; the receipt was not registered, retry after 5 s"),
                                        status: .serviceUnavailable, headers: [.retryAfter: "5"])
        }
        logger.debug("receipt accepted", metadata: ["uuid": "\(uuid)", "group": "\(group)", "operation": "\(operation.rawValue)"])
        return ATOLResponse.registered(uuid: uuid, duplicate: false)
    }

    // MARK: report

    func report(_ request: Request, group: String, uuidText: String) async -> Response {
        switch authorize(request, group: group) {
        case .failure(let error): return ATOLResponse.failure(error)
        case .success: break
        }
        guard let uuid = UUID(uuidString: uuidText) else {
            return ATOLResponse.failure(.missingUUID, "uuid '\(uuidText)' is not a uuid (expected the form 8-4-4-4-12 hex digits)")
        }
        // A uuid issued for another group is refused without asking the registry.
        guard JobID.belongs(uuid, to: group) else {
            return ATOLResponse.failure(.missingUUID, "no receipt with uuid \(uuidText) in group \(group)")
        }
        let report: JobReport?
        do {
            report = try await registry.report(uuid: uuid)
        } catch {
            // A registry failover takes seconds. The receipt is safe in Kafka, so the honest
            // answer is ATOL's "not processed yet, poll later, do not resend" (34, status wait):
            // a `fail` here would tell the shop its receipt failed, and a resend under a new
            // external_id would sell twice.
            logger.warning("report: registry unavailable, answering 'not processed yet'", metadata: ["error": "\(error)"])
            return ATOLResponse.notYetProcessed(uuid: uuid, groupCode: group)
        }
        guard let report else { return ATOLResponse.notYetProcessed(uuid: uuid, groupCode: group) }
        guard report.groupCode == group else {
            return ATOLResponse.failure(.missingUUID, "no receipt with uuid \(uuidText) in group \(group)")
        }
        return ATOLResponse.report(report)
    }

    // MARK: resend

    /// Largest accepted resend body (1000 uuids are about 40 KB).
    static let maxResendBodyBytes = 128 * 1024

    /// A refusal already shaped as the API's answer.
    struct Refusal: Error {
        let response: Response
    }

    /// The token's claims for `group` and the JSON body (at most `limit` bytes), or the ATOL
    /// answer refusing the request (bad token, wrong content type, body too large).
    func authorizedJSONBody(_ request: Request, group: String, limit: Int) async -> Result<(TokenSigner.Claims, ByteBuffer), Refusal> {
        let claims: TokenSigner.Claims
        switch authorize(request, group: group) {
        case .failure(let error): return .failure(Refusal(response: ATOLResponse.failure(error)))
        case .success(let c): claims = c
        }
        if let type = request.headers[.contentType], !type.lowercased().hasPrefix("application/json") {
            return .failure(Refusal(response: ATOLResponse.failure(.unsupportedMediaType, "Content-Type must be application/json; charset=utf-8, got \(type)")))
        }
        var request = request
        do {
            return .success((claims, try await request.collectBody(upTo: limit)))
        } catch {
            return .failure(Refusal(response: ATOLResponse.failure(.incomingValidation, "fields: (body): a JSON object of at most \(limit) bytes")))
        }
    }

    /// `POST /{group}/resend`: re-sends the group's failed receipts matching the optional filter
    /// body (`ResendRequest`) under their original uuids.
    func resend(_ request: Request, group: String) async -> Response {
        let claims: TokenSigner.Claims
        let body: ByteBuffer
        switch await authorizedJSONBody(request, group: group, limit: Self.maxResendBodyBytes) {
        case .failure(let refusal): return refusal.response
        case .success(let granted): (claims, body) = granted
        }
        let filter: ResendFilter
        switch ResendRequest.filter(fromBody: Array(body.readableBytesView)) {
        case .failure(let error): return ATOLResponse.failure(error)
        case .success(let f): filter = f
        }
        guard let resend else {
            return ATOLResponse.failure(ATOLError(.serverConfiguration, "resend is not available on this node"))
        }
        do throws(ResendFailure) {
            let outcome = try await resend.resend(tenantID: claims.tenantID, filter: filter)
            return ATOLResponse.resent(outcome)
        } catch {
            switch error {
            case .invalidFilter(let text):
                return ATOLResponse.failure(.incomingValidation, "fields: \(text)")
            case .registry(let reason):
                logger.error("resend: registry unavailable", metadata: ["group": "\(group)", "error": "\(reason)"])
                return ATOLResponse.failure(ATOLError(.serverConfiguration, "the registry is unavailable; nothing was re-sent, retry later"),
                                            status: .serviceUnavailable, headers: [.retryAfter: "5"])
            case .queueUnavailable:
                return ATOLResponse.failure(ATOLError(.serverConfiguration, "the receipt queue is unavailable; nothing was re-sent, retry after 5 s"),
                                            status: .serviceUnavailable, headers: [.retryAfter: "5"])
            }
        }
    }
}
