import Foundation
import Testing

@testable import Load

@Suite("Timestamps, summary rendering, configuration")
struct RenderingTests {
    @Test("ATOL timestamps are Moscow time, ISO ones UTC with milliseconds")
    func timestamps() {
        let sample = Date(timeIntervalSince1970: 1_795_418_102.123)
        #expect(WallClockText.atolTimestamp(sample) == "23.11.2026 10:15:02")
        #expect(WallClockText.iso8601(sample) == "2026-11-23T07:15:02.123Z")
        let leap = Date(timeIntervalSince1970: 1_709_247_599.999)
        #expect(WallClockText.atolTimestamp(leap) == "01.03.2024 01:59:59")
        #expect(WallClockText.iso8601(leap) == "2024-02-29T22:59:59.999Z")
        #expect(WallClockText.iso8601(Date(timeIntervalSince1970: -3600)) == "1969-12-31T23:00:00.000Z")
        #expect(WallClockText.atolTimestamp(Date(timeIntervalSince1970: 0)) == "01.01.1970 03:00:00")
    }

    @Test("the acknowledged log line has the agreed fields")
    func acknowledgedLine() throws {
        let entry = AcknowledgedEntry(
            uuid: "u-1", groupCode: "g", externalID: "load-x-1", operation: .sellRefund, totalKopecks: 30115,
            acceptedAt: Date(timeIntervalSince1970: 1_795_418_102.123))
        let line = entry.jsonLine
        #expect(line.hasSuffix("\n"))
        #expect(line.dropLast().contains("\n") == false)
        #expect(line.contains("\"total\":301.15"))
        let object = try #require(try JSONSerialization.jsonObject(with: Data(line.utf8)) as? [String: Any])
        #expect(object["uuid"] as? String == "u-1")
        #expect(object["group_code"] as? String == "g")
        #expect(object["external_id"] as? String == "load-x-1")
        #expect(object["operation"] as? String == "sell_refund")
        #expect(object["accepted_at"] as? String == "2026-11-23T07:15:02.123Z")
    }

    @Test("the summary renders as one JSON line that decodes back, and as a table")
    func summary() throws {
        var summary = LoadSummary()
        summary.runID = "abc"
        summary.accepted = 10
        summary.done = 8
        summary.failed = 1
        summary.failedByReason = ["1: Превышено время ожидания чека в очереди": 1]
        summary.stillWaiting = 1
        summary.rejectedByReason = ["HTTP 400 13: fields: total": 2]
        summary.rejected = 2
        summary.latency = LatencySummary(milliseconds: [100, 200, 300])
        summary.offeredRate = 20
        summary.achievedRate = 19.5
        let line = try summary.jsonLine()
        #expect(!line.contains("\n"))
        let decoded = try JSONDecoder().decode(LoadSummary.self, from: Data(line.utf8))
        #expect(decoded == summary)

        let table = summary.renderTable()
        #expect(table.contains("accepted"))
        #expect(table.contains("Превышено время ожидания"))
        #expect(table.contains("p50 200  p95 300  p99 300  max 300  (n=3)"))
        #expect(table.contains("19.50 /s"))
    }

    @Test("bad configurations are refused")
    func validation() {
        let tenant = TenantCredentials(
            groupCode: "g", login: "l", password: "p", inn: "7707083893", paymentAddress: "https://x", sno: "osn")
        var good = LoadConfiguration(baseURL: "http://127.0.0.1:8080/possystem/v4", tenants: [tenant], rate: 10, duration: .seconds(5), seed: 1)
        #expect(throws: Never.self) { try good.validate() }

        var bad = good
        bad.tenants = []
        #expect(throws: LoadError.self) { try bad.validate() }
        bad = good
        bad.rate = 0
        #expect(throws: LoadError.self) { try bad.validate() }
        bad = good
        bad.duplicateRatio = 0.7
        bad.invalidRatio = 0.5
        #expect(throws: LoadError.self) { try bad.validate() }
        bad = good
        bad.baseURL = "127.0.0.1:8080"
        #expect(throws: LoadError.self) { try bad.validate() }
        good.duration = .zero
        #expect(throws: LoadError.self) { try good.validate() }
    }
}
