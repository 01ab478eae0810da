import Foundation
import KassaModel

/// One receipt document as the FN archive on disk holds it (only what the check needs).
public struct ArchivedReceipt: Sendable, Equatable {
    public var fnSerial: String
    public var fiscalDocumentNumber: Int64
    public var fiscalDocumentAttribute: Int64
    /// FFD tag 1192: the job the receipt fiscalizes (lowercase uuid).
    public var jobID: String
    public var operation: String
    public var total: Int64
    /// Set on a refund that annuls a duplicate of that job.
    public var annuls: String?
}

/// Every FN archive under a directory (`<dir>/<fn_serial>/archive.jsonl`, docs/KASSA-PROTOCOL.md),
/// read straight from disk: the ground truth the system's own registry is checked against.
public struct FiscalArchive: Sendable {
    public var receipts: [ArchivedReceipt] = []
    /// Documents of any kind read (after the baseline).
    public var documents = 0
    /// Unterminated, unparsable last lines (a crash mid-write), skipped.
    public var tornLines = 0
    /// Lines that could not be read anywhere else: "file:line: why".
    public var problems: [String] = []

    /// Reads every archive, skipping documents numbered at or below `baseline[fn_serial]`
    /// (those existed before the drill).
    public static func read(directory: String, baseline: [String: Int64] = [:]) throws -> FiscalArchive {
        var archive = FiscalArchive()
        let serials = try FileManager.default.contentsOfDirectory(atPath: directory).sorted()
        for serial in serials {
            let path = "\(directory)/\(serial)/archive.jsonl"
            guard let data = FileManager.default.contents(atPath: path) else { continue }
            let floor = baseline[serial] ?? 0
            let lines = data.split(separator: UInt8(ascii: "\n"), omittingEmptySubsequences: false)
            for (index, line) in lines.enumerated() where !line.isEmpty {
                let isLast = index == lines.count - 1  // no newline after it
                guard let document = try? JSONValue.parse(Array(line)) else {
                    if isLast {
                        archive.tornLines += 1
                    } else {
                        archive.problems.append("\(path):\(index + 1): not a JSON document")
                    }
                    continue
                }
                guard case .number(let number)? = document["fiscal_document_number"] else {
                    archive.problems.append("\(path):\(index + 1): no fiscal_document_number")
                    continue
                }
                guard Int64(number) > floor else { continue }
                archive.documents += 1
                guard document["kind"] == .string("receipt") else { continue }
                guard case .string(let fn)? = document["fn_serial"], case .string(let job)? = document["job_id"],
                      case .string(let operation)? = document["operation"], case .number(let attribute)? = document["fiscal_document_attribute"]
                else {
                    archive.problems.append("\(path):\(index + 1): a receipt without fn_serial, job_id, operation or fiscal_document_attribute")
                    continue
                }
                var total: Int64 = 0
                if case .number(let t)? = document["total"] { total = Int64(t) }
                var annuls: String?
                if case .string(let a)? = document["annuls"] { annuls = a.lowercased() }
                archive.receipts.append(ArchivedReceipt(fnSerial: fn, fiscalDocumentNumber: Int64(number), fiscalDocumentAttribute: Int64(attribute),
                                                        jobID: job.lowercased(), operation: operation, total: total, annuls: annuls))
            }
        }
        return archive
    }

    /// The last document number of every FN now: the baseline for a check run later.
    public static func lastDocumentNumbers(directory: String) throws -> [String: Int64] {
        var last: [String: Int64] = [:]
        for serial in try FileManager.default.contentsOfDirectory(atPath: directory) {
            guard let data = FileManager.default.contents(atPath: "\(directory)/\(serial)/archive.jsonl") else { continue }
            // Documents are numbered in order: the last complete line has the highest number.
            for line in data.split(separator: UInt8(ascii: "\n")).reversed() {
                if let document = try? JSONValue.parse(Array(line)), case .number(let n)? = document["fiscal_document_number"] {
                    last[serial] = Int64(n)
                    break
                }
            }
        }
        return last
    }
}

/// One line of the load tool's acknowledged log.
public struct AcknowledgedReceipt: Sendable, Equatable {
    public var uuid: String
    public var groupCode: String
    public var externalID: String
    public var operation: String
    /// The post's answer never came: a document is allowed, not owed.
    public var unanswered: Bool

    /// Reads `kassa load --ack-log` output. A uuid acknowledged once counts as acknowledged,
    /// however often it also appears unanswered.
    public static func readLog(path: String) throws -> [AcknowledgedReceipt] {
        guard let data = FileManager.default.contents(atPath: path) else {
            throw CheckError.unreadable(path: path, reason: "cannot read the acknowledged log")
        }
        var byUUID: [String: AcknowledgedReceipt] = [:]
        var order: [String] = []
        for (index, line) in data.split(separator: UInt8(ascii: "\n")).enumerated() {
            guard let entry = try? JSONValue.parse(Array(line)), case .string(let uuid)? = entry["uuid"],
                  case .string(let group)? = entry["group_code"] else {
                throw CheckError.unreadable(path: path, reason: "line \(index + 1): expected a JSON object with uuid and group_code")
            }
            var externalID = ""
            if case .string(let e)? = entry["external_id"] { externalID = e }
            var operation = "sell"
            if case .string(let o)? = entry["operation"] { operation = o }
            let receipt = AcknowledgedReceipt(uuid: uuid.lowercased(), groupCode: group, externalID: externalID, operation: operation,
                                              unanswered: entry["status"] == .string("unanswered"))
            if let existing = byUUID[receipt.uuid] {
                if existing.unanswered && !receipt.unanswered { byUUID[receipt.uuid] = receipt }
            } else {
                byUUID[receipt.uuid] = receipt
                order.append(receipt.uuid)
            }
        }
        return order.compactMap { byUUID[$0] }
    }
}

/// Why the check could not run.
public enum CheckError: Error, CustomStringConvertible, Sendable {
    case unreadable(path: String, reason: String)
    case reports(String)

    public var description: String {
        switch self {
        case .unreadable(let path, let reason): "\(path): \(reason)"
        case .reports(let reason): "reports: \(reason)"
        }
    }
}
