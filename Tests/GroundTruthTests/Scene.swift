import Foundation
import GroundTruth
import KassaModel
import KassaWire

/// A drill's aftermath on disk: FN archives written the way the emulator writes them
/// (`FiscalDocument` lines, compact JSON with sorted keys, one per line) and an acknowledged log
/// written the way `kassa load --ack-log` writes it.
struct Scene {
    static let group = "shop-tea"
    let root: String
    var dataDirectory: String { root + "/fn" }
    var logPath: String { root + "/ack.jsonl" }
    private(set) var archives: [String: [FiscalDocument]] = [:]
    /// Bytes after an archive's last whole line (a torn write).
    var tails: [String: String] = [:]
    private(set) var logLines: [String] = []

    init() throws {
        root = Self.testProcessFolder + "/\(UUID().uuidString.prefix(8))"
        try FileManager.default.createDirectory(atPath: root + "/fn", withIntermediateDirectories: true)
    }

    /// One folder per test process, so a single removal at exit cleans every scene.
    private static let testProcessFolder: String = {
        let path = NSTemporaryDirectory() + "ground-truth-tests-\(getpid())"
        try? FileManager.default.removeItem(atPath: path)
        // Swift Testing has no global teardown; atexit is the one hook every run passes through.
        atexit { try? FileManager.default.removeItem(atPath: NSTemporaryDirectory() + "ground-truth-tests-\(getpid())") }
        return path
    }()

    /// The job uuid of `externalID`, as the ingress derives it.
    static func job(_ externalID: String, group: String = group) -> String {
        JobID.derive(groupCode: group, externalID: externalID).uuidString.lowercased()
    }

    /// An acknowledged (or unanswered) post in the log.
    mutating func post(_ uuid: String, externalID: String = "order", total: String = "301", unanswered: Bool = false) {
        var line = #"{"uuid":"\#(uuid)","group_code":"\#(Self.group)","external_id":"\#(externalID)","operation":"sell","#
            + #""total":\#(total),"accepted_at":"2026-11-23T10:15:02.123Z""#
        if unanswered { line += #","status":"unanswered""# }
        logLines.append(line + "}")
    }

    /// A receipt document of `job` on FN `serial` (opening a shift first on a fresh FN); returns it.
    @discardableResult
    mutating func receipt(_ job: String, on serial: String, total: Int64 = 30100, operation: WireOperation = .sell,
                          annuls: String? = nil) -> FiscalDocument {
        var documents = archives[serial] ?? []
        if documents.isEmpty {
            documents.append(FiscalDocument(kind: .openShift, fiscalDocumentNumber: 1, fiscalDocumentAttribute: 11, shiftNumber: 1,
                                            datetime: "23.11.2026 13:00:00", fnSerial: serial, registrationNumber: "0000000001012345"))
        }
        let number = Int64(documents.count + 1)
        var document = FiscalDocument(
            kind: .receipt, fiscalDocumentNumber: number, fiscalDocumentAttribute: UInt32(1_000_000 + number * 7919),
            fiscalReceiptNumber: number - 1, shiftNumber: 1, datetime: "23.11.2026 13:15:02", fnSerial: serial,
            registrationNumber: "0000000001012345", jobID: job, operation: operation, total: total, inn: "7707083893",
            paymentAddress: "https://tea.example", sno: "osn", client: WireClient(email: "buyer@example.com", phone: nil),
            items: [WireItem(name: "Tea", price: total, quantity: 1000, sum: total, vat: "vat20")],
            payments: [WirePayment(type: 1, sum: total)])
        document.annuls = annuls
        documents.append(document)
        archives[serial] = documents
        return document
    }

    /// The refund the dispatcher issues to annul `duplicate`, a sale of `job`: the inverse
    /// operation under the uuid `ReceiptJob.annulment` derives, carrying `annuls`.
    @discardableResult
    mutating func annul(_ job: String, duplicate: FiscalDocument, on serial: String) -> FiscalDocument {
        let refundJob = Self.job("annul:\(job):\(duplicate.fnSerial):\(duplicate.fiscalDocumentNumber)")
        return receipt(refundJob, on: serial, total: duplicate.total ?? 0, operation: .sellRefund, annuls: job)
    }

    /// A shift closing on FN `serial` (a document the check skips).
    mutating func closeShift(on serial: String) {
        var documents = archives[serial] ?? []
        documents.append(FiscalDocument(kind: .closeShift, fiscalDocumentNumber: Int64(documents.count + 1), fiscalDocumentAttribute: 12,
                                        shiftNumber: 1, datetime: "23.11.2026 23:00:00", fnSerial: serial,
                                        registrationNumber: "0000000001012345", receiptsInShift: Int64(documents.count - 1)))
        archives[serial] = documents
    }

    /// Writes the archives and the log.
    func write() throws {
        let encoder = WireJSON.makeEncoder()
        for (serial, documents) in archives {
            let directory = "\(dataDirectory)/\(serial)"
            try FileManager.default.createDirectory(atPath: directory, withIntermediateDirectories: true)
            var bytes = Data()
            for document in documents {
                bytes += try encoder.encode(document)
                bytes.append(UInt8(ascii: "\n"))
            }
            bytes += Data((tails[serial] ?? "").utf8)
            try bytes.write(to: URL(fileURLWithPath: "\(directory)/archive.jsonl"))
            try Data(#"{"format":1}"#.utf8).write(to: URL(fileURLWithPath: "\(directory)/state.json"))
        }
        try Data(logLines.map { $0 + "\n" }.joined().utf8).write(to: URL(fileURLWithPath: logPath))
    }

    /// Writes everything and runs the check against `reports`.
    func check(_ reports: [String: ObservedReport]) async throws -> CheckResult {
        try write()
        return try await GroundTruthCheck(dataDirectory: dataDirectory, acknowledgedLogPath: logPath)
            .run(reports: FakeReports(reports: reports))
    }

    func remove() {
        try? FileManager.default.removeItem(atPath: root)
    }
}

/// Reports from memory; a uuid it does not know answers like the API: code 34.
struct FakeReports: ReportSource {
    var reports: [String: ObservedReport]

    func report(groupCode: String, uuid: String) async throws -> ObservedReport {
        reports[uuid] ?? ObservedReport(status: .unknown, errorCode: 34, errorType: "system")
    }
}

extension ObservedReport {
    /// A report `done` naming `document` as the API would (total from the document).
    static func done(_ document: FiscalDocument) -> ObservedReport {
        ObservedReport(status: .done, fnNumber: document.fnSerial, fiscalDocumentNumber: document.fiscalDocumentNumber,
                       fiscalDocumentAttribute: Int64(document.fiscalDocumentAttribute), totalKopecks: document.total)
    }

    static let waiting = ObservedReport(status: .wait)

    static func failed(_ code: Int, _ type: String, _ text: String) -> ObservedReport {
        ObservedReport(status: .fail, errorCode: code, errorType: type, errorText: text)
    }
}
