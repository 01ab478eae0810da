import Foundation
import GroundTruth
import Testing

@Suite("Reading the acknowledged log, archive lines and report answers")
struct ReadingTests {
    @Test("the log: one receipt per uuid, acknowledged if any line is, totals in kopecks")
    func log() throws {
        let text = """
            {"uuid":"AAA","group_code":"g","external_id":"e1","operation":"sell","total":301.15,"accepted_at":"2026-11-23T10:15:02.123Z","status":"unanswered"}
            {"uuid":"aaa","group_code":"g","external_id":"e1","operation":"sell","total":301.15,"accepted_at":"2026-11-23T10:15:03.123Z"}
            {"uuid":"bbb","group_code":"g","external_id":"e2","operation":"sell_refund","total":5,"accepted_at":"2026-11-23T10:15:04.000Z","status":"unanswered"}
            {"uuid":"ccc","group_co
            """
        let log = try AcknowledgedLog.parse(Array(text.utf8), path: "ack.jsonl")
        #expect(log.posts.map(\.uuid) == ["aaa", "bbb"])
        #expect(log.acknowledged.map(\.uuid) == ["aaa"])
        #expect(log.unanswered.map(\.uuid) == ["bbb"])
        #expect(log.posts.first?.totalKopecks == 30115)
        #expect(log.posts.first?.acceptedAt == "2026-11-23T10:15:03.123Z")
        #expect(log.tornLastLine)
    }

    @Test("a bad log line that is not the torn last one stops the check, naming file and line")
    func badLogLine() {
        let text = "{\"uuid\":\"a\",\"group_code\":\"g\"}\nnot json\n{\"uuid\":\"b\",\"group_code\":\"g\"}\n"
        #expect(throws: GroundTruthError.self) { try AcknowledgedLog.parse(Array(text.utf8), path: "ack.jsonl") }
        do {
            _ = try AcknowledgedLog.parse(Array(text.utf8), path: "ack.jsonl")
        } catch {
            guard case .badLogLine(let path, let line, _) = error else {
                Issue.record("expected badLogLine, got \(error)")
                return
            }
            #expect(path == "ack.jsonl")
            #expect(line == 2)
        }
        let unknownStatus = "{\"uuid\":\"a\",\"group_code\":\"g\",\"status\":\"lost\"}\n"
        #expect(throws: GroundTruthError.badLogLine(path: "p", line: 1, reason: "unknown status \"lost\"")) {
            try AcknowledgedLog.parse(Array(unknownStatus.utf8), path: "p")
        }
    }

    @Test("a receipt line missing its job id is a problem; shift documents are skipped")
    func archiveLines() {
        let text = """
            {"datetime":"23.11.2026 13:00:00","fiscal_document_attribute":1,"fiscal_document_number":1,"fn_serial":"F","kind":"open_shift","registration_number":"R","shift_number":1}
            {"datetime":"23.11.2026 13:00:01","fiscal_document_attribute":2,"fiscal_document_number":2,"fn_serial":"F","kind":"receipt","operation":"sell","registration_number":"R","shift_number":1,"total":100}
            {"annuls":"AbC","datetime":"23.11.2026 13:00:02","fiscal_document_attribute":3,"fiscal_document_number":3,"fn_serial":"F","job_id":"R1","kind":"receipt","operation":"sell_refund","registration_number":"R","shift_number":1,"total":100}

            """
        let archives = FNArchives.parse(Array(text.utf8), path: "F/archive.jsonl")
        #expect(archives.documentsRead == 3)
        #expect(archives.problems == [ArchiveProblem(path: "F/archive.jsonl", line: 2, reason: "a receipt without job_id")])
        #expect(archives.receipts.count == 1)
        #expect(archives.receipts.first?.annuls == "abc")
        #expect(archives.receipts.first?.jobID == "r1")
        #expect(archives.receipts.first?.line == 3)
        #expect(archives.tornLines == 0)
    }

    @Test("a whole but unreadable last line (zeros after a crash) is torn too")
    func zeroedLastLine() {
        let good = #"{"datetime":"d","fiscal_document_attribute":1,"fiscal_document_number":1,"fn_serial":"F","kind":"open_shift","registration_number":"R","shift_number":1}"#
        let bytes = Array((good + "\n").utf8) + [0, 0, 0, UInt8(ascii: "\n")]
        let archives = FNArchives.parse(bytes, path: "F/archive.jsonl")
        #expect(archives.tornLines == 1)
        #expect(archives.problems.isEmpty)
        #expect(archives.documentsRead == 1)
    }

    @Test("report answers: done with payload and warnings, 34 and 404 unknown, a token error is no report")
    func reports() throws {
        let done = #"{"uuid":"u","status":"done","error":null,"warnings":{"annulled":"the receipt was also fiscalized as FN F FD 2"},"payload":{"fn_number":"9999","fiscal_document_number":18,"fiscal_document_attribute":2881263154,"total":301.15}}"#
        let report = try #require(ObservedReport.parse(httpStatus: 200, body: Array(done.utf8)))
        #expect(report.status == .done)
        #expect(report.fnNumber == "9999")
        #expect(report.fiscalDocumentNumber == 18)
        #expect(report.fiscalDocumentAttribute == 2_881_263_154)
        #expect(report.totalKopecks == 30115)
        #expect(report.warnings["annulled"]?.contains("FD 2") == true)

        let fail = #"{"status":"fail","error":{"error_id":"x","code":2003,"text":"INN","type":"agent"},"payload":null,"warnings":null}"#
        let failed = try #require(ObservedReport.parse(httpStatus: 200, body: Array(fail.utf8)))
        #expect(failed.status == .fail)
        #expect(failed.errorCode == 2003)
        #expect(failed.errorType == "agent")

        let notYet = #"{"status":"wait","error":{"code":34,"text":"not processed yet","type":"system"},"payload":null}"#
        #expect(ObservedReport.parse(httpStatus: 200, body: Array(notYet.utf8))?.status == .unknown)
        let unknownUUID = #"{"status":"fail","error":{"code":30,"text":"bad uuid","type":"system"}}"#
        #expect(ObservedReport.parse(httpStatus: 400, body: Array(unknownUUID.utf8))?.status == .unknown)
        #expect(ObservedReport.parse(httpStatus: 404, body: [])?.status == .unknown)
        let expired = #"{"status":"fail","error":{"code":11,"text":"expired","type":"system"}}"#
        #expect(ObservedReport.parse(httpStatus: 401, body: Array(expired.utf8)) == nil)
        #expect(ObservedReport.parse(httpStatus: 502, body: Array("<html>".utf8)) == nil)
    }

    @Test("reports are fetched with bounded concurrency, one per acknowledged uuid")
    func boundedConcurrency() async throws {
        let source = CountingReports()
        let posts = (0..<40).map { AcknowledgedPost(uuid: "u\($0)", groupCode: "g") }
        let reports = try await source.reports(for: posts, inFlight: 4)
        #expect(reports.count == 40)
        #expect(reports["u7"]?.status == .wait)
        let peak = await source.counter.peak
        #expect(peak <= 4)
        #expect(peak >= 2)
    }

    @Test("the credentials file gives each tenant's login")
    func credentials() throws {
        let path = NSTemporaryDirectory() + "ground-truth-tenants-\(UUID().uuidString.prefix(8)).json"
        defer { try? FileManager.default.removeItem(atPath: path) }
        let text = #"[{"group_code":"shop-tea","login":"tea-login","password":"tea-secret-1","inn":"7707083893","payment_address":"https://tea.example","sno":"osn"}]"#
        try Data(text.utf8).write(to: URL(fileURLWithPath: path))
        #expect(try TenantLogin.read(path: path) == [TenantLogin(groupCode: "shop-tea", login: "tea-login", password: "tea-secret-1")])
        #expect(throws: GroundTruthError.self) { try TenantLogin.read(path: path + ".missing") }
    }
}

actor ConcurrencyCounter {
    private var current = 0
    private(set) var peak = 0

    func enter() {
        current += 1
        peak = max(peak, current)
    }

    func leave() { current -= 1 }
}

struct CountingReports: ReportSource {
    let counter = ConcurrencyCounter()

    func report(groupCode: String, uuid: String) async throws -> ObservedReport {
        await counter.enter()
        try await Task.sleep(for: .milliseconds(5))
        await counter.leave()
        return ObservedReport(status: .wait)
    }
}
