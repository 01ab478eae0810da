import Foundation
import GroundTruth
import HTTPTypes
import Hummingbird
import HummingbirdTesting
import Testing

/// A stand-in for the ingress's token and report endpoints.
actor FakeATOL {
    private(set) var tokensIssued = 0
    private(set) var reportCalls: [String: Int] = [:]

    /// The first token handed out is already expired (code 11), as after a day-long drill.
    func issueToken() -> String {
        tokensIssued += 1
        return "token-\(tokensIssued)"
    }

    func report(uuid: String, token: String?) -> (HTTPResponse.Status, String) {
        guard token == "token-2" else {
            return (.unauthorized, #"{"status":"fail","error":{"code":11,"text":"expired","type":"system"}}"#)
        }
        reportCalls[uuid, default: 0] += 1
        switch uuid {
        case "done-uuid":
            return (.ok, #"{"uuid":"done-uuid","status":"done","error":null,"warnings":null,"payload":{"fn_number":"9999010010010001","fiscal_document_number":5,"fiscal_document_attribute":123456,"total":301}}"#)
        case "flaky-uuid" where reportCalls[uuid] == 1:
            return (.serviceUnavailable, "<html>busy</html>")
        case "flaky-uuid":
            return (.ok, #"{"uuid":"flaky-uuid","status":"wait","error":null,"payload":null}"#)
        case "gone-uuid":
            return (.notFound, "")
        default:
            return (.ok, #"{"status":"wait","error":{"code":34,"text":"not processed yet","type":"system"},"payload":null}"#)
        }
    }
}

@Suite("Reports over HTTP, as a shop reads them")
struct ATOLReportSourceTests {
    static func application(_ api: FakeATOL) -> some ApplicationProtocol {
        let router = Router()
        router.post("/possystem/v4/getToken") { request, _ -> Response in
            var request = request
            let body = try await request.collectBody(upTo: 1 << 16)
            let login = (try? JSONSerialization.jsonObject(with: Data(buffer: body))) as? [String: Any]
            guard login?["login"] as? String == "tea-login", login?["pass"] as? String == "tea-secret-1" else {
                return json(.unauthorized, #"{"status":"fail","error":{"code":12,"text":"wrong login","type":"system"}}"#)
            }
            return json(.ok, #"{"error":null,"token":"\#(await api.issueToken())","timestamp":"23.11.2026 10:00:00"}"#)
        }
        router.get("/possystem/v4/:group/report/:uuid") { request, context -> Response in
            let uuid = context.parameters.get("uuid") ?? ""
            let (status, body) = await api.report(uuid: uuid, token: HTTPField.Name("Token").flatMap { request.headers[$0] })
            return json(status, body)
        }
        return Application(router: router)
    }

    static func json(_ status: HTTPResponse.Status, _ body: String) -> Response {
        Response(status: status, headers: [.contentType: "application/json"], body: .init(byteBuffer: ByteBuffer(string: body)))
    }

    @Test("a token is fetched and renewed after code 11; done, 34, 404 and a retried 503 are read")
    func reports() async throws {
        let api = FakeATOL()
        try await Self.application(api).test(.live) { client in
            let port = try #require(client.port)
            let tenants = [TenantLogin(groupCode: "shop-tea", login: "tea-login", password: "tea-secret-1")]
            let posts = ["done-uuid", "unknown-uuid", "gone-uuid", "flaky-uuid"].map { AcknowledgedPost(uuid: $0, groupCode: "shop-tea") }
            let reports = try await ATOLReportSource.with(baseURL: "http://127.0.0.1:\(port)/possystem/v4/", tenants: tenants) { source in
                try await source.reports(for: posts, inFlight: 2)
            }
            #expect(reports["done-uuid"] == ObservedReport(status: .done, fnNumber: "9999010010010001", fiscalDocumentNumber: 5,
                                                           fiscalDocumentAttribute: 123_456, totalKopecks: 30100))
            #expect(reports["unknown-uuid"]?.status == .unknown)
            #expect(reports["unknown-uuid"]?.errorCode == 34)
            #expect(reports["gone-uuid"]?.status == .unknown)
            #expect(reports["flaky-uuid"]?.status == .wait)
            #expect(await api.tokensIssued == 2)
            #expect(await api.reportCalls["flaky-uuid"] == 2)
        }
    }

    @Test("a tenant missing from the credentials stops the check, naming the tenant")
    func noCredentials() async throws {
        let api = FakeATOL()
        try await Self.application(api).test(.live) { client in
            let port = try #require(client.port)
            await #expect(throws: GroundTruthError.noCredentials(groupCode: "shop-other")) {
                try await ATOLReportSource.with(baseURL: "http://127.0.0.1:\(port)/possystem/v4", tenants: []) { source in
                    try await source.report(groupCode: "shop-other", uuid: "done-uuid")
                }
            }
        }
    }
}
