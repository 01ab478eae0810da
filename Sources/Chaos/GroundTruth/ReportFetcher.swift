import AsyncHTTPClient
import Foundation
import KassaModel
import Load
import NIOCore
import NIOHTTP1

/// Reads receipts' reports through the ATOL v4 API, as a shop would, a bounded number at once.
public struct ReportFetcher: Sendable {
    public let baseURL: String
    public let tenants: [TenantCredentials]
    public var inFlight = 32

    public init(baseURL: String, tenants: [TenantCredentials]) {
        self.baseURL = baseURL.hasSuffix("/") ? String(baseURL.dropLast()) : baseURL
        self.tenants = tenants
    }

    /// The report of every receipt in `receipts` (uuid → report).
    public func reports(for receipts: [AcknowledgedReceipt], client: HTTPClient) async throws -> [String: ObservedReport] {
        var tokens: [String: String] = [:]
        for tenant in tenants where receipts.contains(where: { $0.groupCode == tenant.groupCode }) {
            tokens[tenant.groupCode] = try await token(tenant, client: client)
        }
        let tokensByGroup = tokens
        var reports: [String: ObservedReport] = [:]
        try await withThrowingTaskGroup(of: (String, ObservedReport).self) { group in
            var next = receipts.startIndex
            func add() {
                guard next < receipts.endIndex else { return }
                let receipt = receipts[next]
                next += 1
                group.addTask {
                    guard let token = tokensByGroup[receipt.groupCode] else {
                        throw CheckError.reports("no credentials for tenant \(receipt.groupCode)")
                    }
                    return (receipt.uuid, try await report(receipt, token: token, client: client))
                }
            }
            for _ in 0..<inFlight { add() }
            while let (uuid, report) = try await group.next() {
                reports[uuid] = report
                add()
            }
        }
        return reports
    }

    private func token(_ tenant: TenantCredentials, client: HTTPClient) async throws -> String {
        let body = JSONValue.object(["login": .string(tenant.login), "pass": .string(tenant.password)]).serialized()
        let (status, json) = try await exchange(.POST, "\(baseURL)/getToken", body: body, token: nil, client: client)
        guard status == 200, case .string(let token)? = json["token"] else {
            throw CheckError.reports("getToken for \(tenant.groupCode) answered \(status): \(json.serialized())")
        }
        return token
    }

    private func report(_ receipt: AcknowledgedReceipt, token: String, client: HTTPClient) async throws -> ObservedReport {
        let url = "\(baseURL)/\(receipt.groupCode)/report/\(receipt.uuid)"
        var attempt = 0
        while true {
            attempt += 1
            do {
                let (status, json) = try await exchange(.GET, url, body: nil, token: token, client: client)
                if status >= 500, attempt < 5 {
                    try await Task.sleep(for: .milliseconds(200 * attempt))
                    continue
                }
                return Self.observed(json)
            } catch let error as CheckError {
                throw error
            } catch {
                guard attempt < 5 else { throw CheckError.reports("GET \(url): \(error)") }
                try await Task.sleep(for: .milliseconds(200 * attempt))
            }
        }
    }

    static func observed(_ json: JSONValue) -> ObservedReport {
        func int(_ value: JSONValue?) -> Int64? {
            if case .number(let n)? = value { return Int64(n) }
            return nil
        }
        func string(_ value: JSONValue?) -> String? {
            if case .string(let s)? = value { return s }
            return nil
        }
        let code = int(json["error"]?["code"]).map(Int.init)
        let status: ObservedReport.Status
        switch string(json["status"]) {
        case "done": status = .done
        case "wait": status = .wait
        // 30: unknown uuid; 34: not registered yet — neither is a fiscal failure.
        case "fail" where code != 30 && code != 34: status = .fail
        default: status = .unknown
        }
        let payload = json["payload"]
        return ObservedReport(status: status, errorCode: code, errorText: string(json["error"]?["text"]),
                              fnNumber: string(payload?["fn_number"]), fiscalDocumentNumber: int(payload?["fiscal_document_number"]),
                              fiscalDocumentAttribute: int(payload?["fiscal_document_attribute"]))
    }

    private func exchange(_ method: HTTPMethod, _ url: String, body: String?, token: String?, client: HTTPClient) async throws -> (Int, JSONValue) {
        var request = HTTPClientRequest(url: url)
        request.method = method
        if let token { request.headers.add(name: "Token", value: token) }
        if let body {
            request.headers.add(name: "Content-Type", value: "application/json; charset=utf-8")
            request.body = .bytes(ByteBuffer(string: body))
        }
        let response = try await client.execute(request, timeout: .seconds(30))
        let bytes = try await response.body.collect(upTo: 1 << 20)
        return (Int(response.status.code), (try? JSONValue.parse(bytes.readableBytesView)) ?? .null)
    }
}

/// The check drills end with: FN archives on disk against the acknowledged log, and the
/// reports the API gives for every acknowledged receipt.
public struct ArchiveCheck: GroundTruthChecking {
    public init() {}

    public func baseline(fnDirectory: String) throws -> [String: Int64] {
        try FiscalArchive.lastDocumentNumbers(directory: fnDirectory)
    }

    public func result(fnDirectory: String, baseline: [String: Int64], acknowledgedLog: String, apiURL: String,
                       credentialsPath: String) async throws -> CheckResult {
        let log = try AcknowledgedReceipt.readLog(path: acknowledgedLog)
        let tenants = try Self.tenants(credentialsPath)
        let reports = try await HTTPClient.withHTTPClient { client in
            try await ReportFetcher(baseURL: apiURL, tenants: tenants).reports(for: log.filter { !$0.unanswered }, client: client)
        }
        // The archive is read after the reports: a receipt reported done is on disk by then.
        let archive = try FiscalArchive.read(directory: fnDirectory, baseline: baseline)
        var result = CheckResult.judge(acknowledged: log, archive: archive, reports: reports)
        for problem in archive.problems {
            result.violations.append(Violation(kind: .unexpected, uuid: "-", groupCode: "-", detail: "unreadable archive line \(problem)"))
        }
        return result
    }

    public func check(fnDirectory: String, baseline: [String: Int64], acknowledgedLog: String, apiURL: String,
                      credentialsPath: String) async throws -> GroundTruthFigures {
        let r = try await result(fnDirectory: fnDirectory, baseline: baseline, acknowledgedLog: acknowledgedLog, apiURL: apiURL,
                                 credentialsPath: credentialsPath)
        return GroundTruthFigures(
            acknowledged: r.acknowledged, done: r.done, failed: r.failed, inFlight: r.inFlight, inFlightInDoubt: r.inFlightInDoubt,
            lost: r.lost, duplicated: r.duplicated, unexpected: r.unexpected, reportMismatches: r.reportMismatches,
            receiptDocuments: r.receiptDocuments, annulDocuments: r.annulDocuments, passed: r.passed,
            violations: r.violations.prefix(50).map(\.line), text: r.text())
    }

    static func tenants(_ path: String) throws -> [TenantCredentials] {
        guard let data = FileManager.default.contents(atPath: path) else {
            throw CheckError.unreadable(path: path, reason: "cannot read the tenants' credentials")
        }
        let decoder = JSONDecoder()
        decoder.keyDecodingStrategy = .convertFromSnakeCase
        return try decoder.decode([TenantCredentials].self, from: data)
    }
}
