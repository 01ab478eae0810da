import Foundation
import KassaModel
import Registry
import Testing

@testable import Ingress

/// Parsing and validation of the body of `POST /{group}/resend`.
@Suite struct ResendRequestTests {
    func parse(_ text: String) -> Result<ResendFilter, ATOLError> {
        ResendRequest.filter(fromBody: Array(text.utf8))
    }

    func problems(_ text: String) -> String? {
        guard case .failure(let error) = parse(text) else { return nil }
        #expect(error.code == 32, "\(text)")
        return error.text
    }

    @Test func anEmptyBodyOrObjectSelectsEveryFailure() throws {
        for body in ["", "  \n", "{}", #"{"uuids": null, "error_code": null}"#] {
            let filter = try parse(body).get()
            #expect(filter == ResendFilter(), "\(body)")
            #expect(filter.limit == ResendFilter.maxLimit)
        }
    }

    @Test func everyFieldIsRead() throws {
        let first = "5b1f0e3c-0000-8000-8000-000000000001"
        let second = "5B1F0E3C-0000-8000-8000-000000000002"
        let filter = try parse("""
            {"uuids": ["\(first)", "\(second)"], "error_code": 2003, "error_type": "agent",
             "from": "23.11.2026 10:00:00", "to": "23.11.2026 11:30:00", "limit": 50}
            """).get()
        #expect(filter.uuids == [UUID(uuidString: first), UUID(uuidString: second)].compactMap { $0 })
        #expect(filter.errorCode == 2003)
        #expect(filter.errorType == "agent")
        #expect(filter.limit == 50)
        // Moscow time: 10:00 MSK is 07:00 UTC.
        #expect(filter.from == ISO8601DateFormatter().date(from: "2026-11-23T07:00:00Z"))
        #expect(filter.to == ISO8601DateFormatter().date(from: "2026-11-23T08:30:00Z"))
    }

    @Test func badFieldsAreNamedWithTheirExpectedForm() throws {
        let cases: [(String, [String])] = [
            (#"{"uuids": ["nope", "5b1f0e3c-0000-8000-8000-000000000001", 7]}"#, ["uuids[0]: a uuid", "uuids[2]: a uuid"]),
            (#"{"uuids": []}"#, ["uuids: an array of 1 to 1000 uuids"]),
            (#"{"uuids": "5b1f0e3c-0000-8000-8000-000000000001"}"#, ["uuids: an array"]),
            (#"{"error_code": "2003"}"#, ["error_code: an integer"]),
            (#"{"error_code": 20.5}"#, ["error_code: an integer"]),
            (#"{"error_code": -1}"#, ["error_code: an integer from 0"]),
            (#"{"error_type": "kassa"}"#, ["error_type: one of agent, driver, system, timeout, unknown"]),
            (#"{"from": "2026-11-23T10:00:00Z"}"#, ["from: a time dd.mm.yyyy HH:MM:SS (Moscow time)"]),
            (#"{"to": "31.02.2026 10:00:00"}"#, ["to: a time dd.mm.yyyy HH:MM:SS"]),
            (#"{"from": "23.11.2026 11:00:00", "to": "23.11.2026 10:00:00"}"#, ["to: a time later than from"]),
            (#"{"from": "23.11.2026 11:00:00", "to": "23.11.2026 11:00:00"}"#, ["to: a time later than from"]),
            (#"{"limit": 0}"#, ["limit: an integer from 1 to 1000"]),
            (#"{"limit": 1001}"#, ["limit: an integer from 1 to 1000"]),
            // A misspelt key must not silently widen the resend to every failure.
            (#"{"uuid": ["5b1f0e3c-0000-8000-8000-000000000001"]}"#, ["uuid: not a resend field"]),
            (#"{"error_code": true, "errorType": "agent"}"#, ["error_code: an integer", "errorType: not a resend field"]),
            ("[1, 2]", ["(body): a JSON object", "got array"]),
            ("{not json", ["(body): valid JSON"]),
        ]
        for (body, expected) in cases {
            let text = try #require(problems(body), "\(body) should be refused")
            #expect(text.hasPrefix("fields: "), "\(text)")
            for part in expected {
                #expect(text.contains(part), "\(body): \(text) should name '\(part)'")
            }
        }
    }

    @Test func aLateJobsReportCarriesADeadlineWarning() {
        let uuid = UUID()
        let lateSince = ISO8601DateFormatter().date(from: "2026-11-23T07:05:00Z") ?? Date()
        var report = JobReport(uuid: uuid, groupCode: "shop-tea", externalID: "e1", status: .wait, lateSince: lateSince)
        guard case .object(let warnings) = ATOLResponse.warnings(report), case .string(let text)? = warnings["deadline"] else {
            Issue.record("expected a warnings object with a deadline text")
            return
        }
        #expect(text.contains("past the tenant's deadline since 23.11.2026 10:05:00"))
        #expect(text.contains("still queued"))
        report.lateSince = nil
        #expect(ATOLResponse.warnings(report) == .null)
        report = JobReport(uuid: uuid, groupCode: "shop-tea", externalID: "e1", status: .done, lateSince: lateSince)
        #expect(ATOLResponse.warnings(report) == .null)  // only while still queued
    }
}
