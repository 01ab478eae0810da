import Foundation

/// One acknowledged receipt, as a line of the ground-truth log; or, with `unanswered`, a post
/// whose answer never came (the server may or may not have taken it).
struct AcknowledgedEntry: Sendable {
    var uuid: String
    var groupCode: String
    var externalID: String
    var operation: ReceiptOperation
    var totalKopecks: Int
    var acceptedAt: Date
    /// The post's outcome is unknown (transport error or timeout): a fiscal document for it is
    /// allowed, but it is not owed one.
    var unanswered = false

    /// `{"uuid","group_code","external_id","operation","total","accepted_at"}` (plus
    /// `"status":"unanswered"` when unanswered) and a newline.
    var jsonLine: String {
        var json = JSONText()
        json.beginObject()
        json.field("uuid", uuid)
        json.field("group_code", groupCode)
        json.field("external_id", externalID)
        json.field("operation", operation.rawValue)
        json.field("total", number: DecimalText.kopecks(totalKopecks))
        json.field("accepted_at", WallClockText.iso8601(acceptedAt))
        if unanswered { json.field("status", "unanswered") }
        json.endObject()
        return json.text + "\n"
    }
}

/// Appends acknowledged receipts to a JSONL file as they are acknowledged.
///
/// Each line is written at once (no buffering) so that a run killed half-way still
/// leaves truthful ground truth behind. A write failure is remembered and reported at
/// the end of the run: a silently incomplete log would make later checks lie.
actor AcknowledgedLog {
    let path: String
    private let handle: FileHandle
    private(set) var failure: LoadError?

    init(path: String) throws(LoadError) {
        self.path = path
        guard FileManager.default.createFile(atPath: path, contents: nil),  // creates or truncates
              let handle = FileHandle(forWritingAtPath: path)
        else {
            throw .acknowledgedLogFailed(path: path, reason: "cannot create or open for writing")
        }
        self.handle = handle
    }

    func append(_ entry: AcknowledgedEntry) {
        guard failure == nil else { return }
        do {
            try handle.write(contentsOf: Data(entry.jsonLine.utf8))
        } catch {
            failure = .acknowledgedLogFailed(path: path, reason: "write failed: \(error)")
        }
    }

    func close() {
        do {
            try handle.synchronize()
            try handle.close()
        } catch where failure == nil {
            failure = .acknowledgedLogFailed(path: path, reason: "close failed: \(error)")
        } catch {}
    }
}
