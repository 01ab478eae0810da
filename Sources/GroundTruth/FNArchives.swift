import Foundation

/// One receipt document of an FN archive: a sale of a job, or a refund issued to annul a
/// duplicate sale of a job (`annuls` set, resend-and-annul policy).
public struct ArchivedReceipt: Sendable, Codable, Equatable {
    /// The FN that holds the document (tag 1041).
    public var fnSerial: String
    /// Tag 1040.
    public var fiscalDocumentNumber: Int64
    /// The fiscal sign, FPD (tag 1077).
    public var fiscalDocumentAttribute: Int64
    /// Tag 1192: the job the document fiscalizes, lowercase. For an annulling refund this is
    /// the refund job's own uuid, not the sale's.
    public var jobID: String
    /// `sell`, `sell_refund`, `buy` or `buy_refund`.
    public var operation: String
    /// Tag 1020, in kopecks.
    public var totalKopecks: Int64
    /// The job whose duplicate sale this refund cancels (lowercase), or nil for an ordinary receipt.
    public var annuls: String?
    /// The archive file and 1-based line the document was read from.
    public var path: String
    public var line: Int

    public init(fnSerial: String, fiscalDocumentNumber: Int64, fiscalDocumentAttribute: Int64, jobID: String,
                operation: String, totalKopecks: Int64, annuls: String? = nil, path: String = "", line: Int = 0) {
        self.fnSerial = fnSerial
        self.fiscalDocumentNumber = fiscalDocumentNumber
        self.fiscalDocumentAttribute = fiscalDocumentAttribute
        self.jobID = jobID
        self.operation = operation
        self.totalKopecks = totalKopecks
        self.annuls = annuls
        self.path = path
        self.line = line
    }

    /// "FN 9999010010010001 FD 17", how documents are named in violation details.
    public var label: String { "FN \(fnSerial) FD \(fiscalDocumentNumber)" }

    enum CodingKeys: String, CodingKey {
        case fnSerial = "fn_serial"
        case fiscalDocumentNumber = "fiscal_document_number"
        case fiscalDocumentAttribute = "fiscal_document_attribute"
        case jobID = "job_id"
        case operation
        case totalKopecks = "total"
        case annuls, path, line
    }
}

/// An archive line that could not be read as a document (not a torn last line): the ground
/// truth itself is damaged there, so a check that meets one cannot pass.
public struct ArchiveProblem: Sendable, Codable, Equatable, CustomStringConvertible {
    public var path: String
    /// 1-based.
    public var line: Int
    public var reason: String

    public init(path: String, line: Int, reason: String) {
        self.path = path
        self.line = line
        self.reason = reason
    }

    public var description: String { "\(path):\(line): \(reason)" }
}

/// The receipt documents of every FN archive under a data directory
/// (`<data-dir>/<fn_serial>/archive.jsonl`, docs/KASSA-PROTOCOL.md), read straight from disk.
///
/// Shift documents are counted and skipped. The last line of a file is torn when it has no
/// newline (a crash or a write in progress; the emulator cuts it off on load, so it is no
/// document) or cannot be read; torn lines are counted, never fatal. Any other unreadable
/// line is an `ArchiveProblem`.
public struct FNArchives: Sendable, Equatable {
    /// Receipt documents (sales and annulling refunds), in file and line order.
    public var receipts: [ArchivedReceipt] = []
    /// Documents of every kind read (past the baseline).
    public var documentsRead = 0
    /// Torn last lines skipped.
    public var tornLines = 0
    /// Unreadable lines other than a torn last one.
    public var problems: [ArchiveProblem] = []
    /// `archive.jsonl` files read.
    public var files = 0

    public init() {}

    /// Reads every `<dataDirectory>/*/archive.jsonl`. Documents numbered at or below
    /// `baseline[fn_serial]` existed before the drill and are skipped.
    public static func read(dataDirectory: String, after baseline: [String: Int64] = [:]) throws(GroundTruthError) -> FNArchives {
        var archives = FNArchives()
        for serial in try serials(in: dataDirectory) {
            let path = "\(dataDirectory)/\(serial)/archive.jsonl"
            guard FileManager.default.fileExists(atPath: path) else { continue }
            guard let data = FileManager.default.contents(atPath: path) else {
                throw .unreadable(path: path, reason: "cannot read the archive")
            }
            archives.add(parse(Array(data), path: path, after: baseline[serial] ?? 0))
        }
        return archives
    }

    /// The number of each FN's last whole document now: a baseline for a check run later.
    public static func lastDocumentNumbers(dataDirectory: String) throws(GroundTruthError) -> [String: Int64] {
        var last: [String: Int64] = [:]
        for serial in try serials(in: dataDirectory) {
            let path = "\(dataDirectory)/\(serial)/archive.jsonl"
            guard let data = FileManager.default.contents(atPath: path) else { continue }
            let lines = ArchiveLines(Array(data))
            for index in lines.whole.indices.reversed() {
                if let line = try? decoder.decode(DocumentLine.self, from: Data(lines.whole[index])) {
                    last[serial] = line.fiscalDocumentNumber
                    break
                }
            }
        }
        return last
    }

    /// Reads one archive file's bytes. `path` is only used to name lines.
    public static func parse(_ bytes: [UInt8], path: String, after floor: Int64 = 0) -> FNArchives {
        var archives = FNArchives()
        archives.files = 1
        let lines = ArchiveLines(bytes)
        if lines.unterminatedTail { archives.tornLines += 1 }
        for (index, line) in lines.whole.enumerated() {
            let number = index + 1
            let isLastLine = index == lines.whole.count - 1 && !lines.unterminatedTail
            if line.allSatisfy({ $0 == UInt8(ascii: " ") || $0 == UInt8(ascii: "\r") }) {
                continue  // blank
            }
            let document: DocumentLine
            do {
                document = try decoder.decode(DocumentLine.self, from: Data(line))
            } catch {
                if isLastLine {
                    archives.tornLines += 1
                } else {
                    archives.problems.append(ArchiveProblem(path: path, line: number, reason: "not a document: \(describe(error))"))
                }
                continue
            }
            guard document.fiscalDocumentNumber > floor else { continue }
            archives.documentsRead += 1
            guard document.kind == "receipt" else { continue }
            guard let fnSerial = document.fnSerial, let jobID = document.jobID, let operation = document.operation,
                  let attribute = document.fiscalDocumentAttribute, let total = document.total
            else {
                let missing = [("fn_serial", document.fnSerial == nil), ("job_id", document.jobID == nil),
                               ("operation", document.operation == nil),
                               ("fiscal_document_attribute", document.fiscalDocumentAttribute == nil),
                               ("total", document.total == nil)]
                    .filter(\.1).map(\.0).joined(separator: ", ")
                archives.problems.append(ArchiveProblem(path: path, line: number, reason: "a receipt without \(missing)"))
                continue
            }
            archives.receipts.append(ArchivedReceipt(
                fnSerial: fnSerial, fiscalDocumentNumber: document.fiscalDocumentNumber, fiscalDocumentAttribute: attribute,
                jobID: jobID.lowercased(), operation: operation, totalKopecks: total, annuls: document.annuls?.lowercased(),
                path: path, line: number))
        }
        return archives
    }

    /// Appends another set of archives (files read separately).
    public mutating func add(_ other: FNArchives) {
        receipts += other.receipts
        documentsRead += other.documentsRead
        tornLines += other.tornLines
        problems += other.problems
        files += other.files
    }

    private static let decoder = JSONDecoder()

    private static func serials(in dataDirectory: String) throws(GroundTruthError) -> [String] {
        do {
            return try FileManager.default.contentsOfDirectory(atPath: dataDirectory).sorted()
        } catch {
            throw .unreadable(path: dataDirectory, reason: "cannot list the FN data directory: \(error.localizedDescription)")
        }
    }

    private static func describe(_ error: any Error) -> String {
        guard let error = error as? DecodingError else { return "\(error)" }
        switch error {
        case .keyNotFound(let key, _): return "no \(key.stringValue)"
        case .typeMismatch(_, let context), .valueNotFound(_, let context):
            return "\(context.codingPath.map(\.stringValue).joined(separator: ".")): \(context.debugDescription)"
        case .dataCorrupted(let context): return context.debugDescription
        @unknown default: return "\(error)"
        }
    }
}

/// The fields of an archive line the check reads; everything else is ignored.
private struct DocumentLine: Decodable {
    var kind: String
    var fiscalDocumentNumber: Int64
    var fiscalDocumentAttribute: Int64?
    var fnSerial: String?
    var jobID: String?
    var operation: String?
    var total: Int64?
    var annuls: String?

    enum CodingKeys: String, CodingKey {
        case kind, operation, total, annuls
        case fiscalDocumentNumber = "fiscal_document_number"
        case fiscalDocumentAttribute = "fiscal_document_attribute"
        case fnSerial = "fn_serial"
        case jobID = "job_id"
    }
}

/// A file's bytes split into newline-terminated lines, plus whether bytes follow the last newline.
private struct ArchiveLines {
    var whole: [ArraySlice<UInt8>] = []
    var unterminatedTail = false

    init(_ bytes: [UInt8]) {
        var start = bytes.startIndex
        while let newline = bytes[start...].firstIndex(of: UInt8(ascii: "\n")) {
            whole.append(bytes[start..<newline])
            start = newline + 1
        }
        unterminatedTail = start < bytes.endIndex
    }
}
