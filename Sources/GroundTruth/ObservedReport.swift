import Foundation

/// What the API's report (`GET {base}/{group_code}/report/{uuid}`) says about one receipt:
/// only what the check compares with the FN archives.
public struct ObservedReport: Sendable, Codable, Equatable {
    public enum Status: String, Sendable, Codable {
        case wait, done, fail
        /// The API does not know the receipt: error code 30 (unknown uuid) or 34 (not
        /// registered yet), or HTTP 404.
        case unknown
    }

    public var status: Status
    public var errorCode: Int?
    /// `system`, `driver`, `timeout`, `unknown` or `agent`.
    public var errorType: String?
    public var errorText: String?
    /// Payload tag 1041.
    public var fnNumber: String?
    /// Payload tag 1040.
    public var fiscalDocumentNumber: Int64?
    /// Payload tag 1077 (the FPD).
    public var fiscalDocumentAttribute: Int64?
    /// Payload tag 1020, in kopecks.
    public var totalKopecks: Int64?
    /// ATOL's `warnings` object (e.g. `deadline`, `annulled`), key → text.
    public var warnings: [String: String]

    public init(status: Status, errorCode: Int? = nil, errorType: String? = nil, errorText: String? = nil,
                fnNumber: String? = nil, fiscalDocumentNumber: Int64? = nil, fiscalDocumentAttribute: Int64? = nil,
                totalKopecks: Int64? = nil, warnings: [String: String] = [:]) {
        self.status = status
        self.errorCode = errorCode
        self.errorType = errorType
        self.errorText = errorText
        self.fnNumber = fnNumber
        self.fiscalDocumentNumber = fiscalDocumentNumber
        self.fiscalDocumentAttribute = fiscalDocumentAttribute
        self.totalKopecks = totalKopecks
        self.warnings = warnings
    }

    /// A report `done` naming this document.
    public static func done(_ document: ArchivedReceipt) -> ObservedReport {
        ObservedReport(status: .done, fnNumber: document.fnSerial, fiscalDocumentNumber: document.fiscalDocumentNumber,
                       fiscalDocumentAttribute: document.fiscalDocumentAttribute, totalKopecks: document.totalKopecks)
    }

    /// "FN 9999... FD 17", or what of it the report gave.
    public var documentLabel: String {
        "FN \(fnNumber ?? "?") FD \(fiscalDocumentNumber.map(String.init) ?? "?")"
    }

    /// "2003 agent: text", or "no error object".
    public var errorLabel: String {
        guard let errorCode else { return "no error object" }
        return "\(errorCode)" + (errorType.map { " \($0)" } ?? "") + (errorText.map { ": \($0)" } ?? "")
    }

    /// Reads an answer of the report endpoint. Nil when the answer is not a report (a token
    /// error, a server error, an unreadable body): the caller retries or gives up.
    public static func parse(httpStatus: Int, body: [UInt8]) -> ObservedReport? {
        let object = (try? JSONSerialization.jsonObject(with: Data(body))) as? [String: Any]
        if httpStatus == 404 { return ObservedReport(status: .unknown, errorText: "HTTP 404") }
        guard let object else { return nil }
        let error = object["error"] as? [String: Any]
        let code = (error?["code"] as? NSNumber)?.intValue
        let type = error?["type"] as? String
        let text = error?["text"] as? String
        if code == 30 || code == 34 {
            return ObservedReport(status: .unknown, errorCode: code, errorType: type, errorText: text)
        }
        guard (200..<300).contains(httpStatus), let statusText = object["status"] as? String,
              let status = Status(rawValue: statusText), status != .unknown
        else { return nil }
        let payload = object["payload"] as? [String: Any]
        var warnings: [String: String] = [:]
        if let raw = object["warnings"] as? [String: Any] {
            for (key, value) in raw { warnings[key] = (value as? String) ?? "\(value)" }
        }
        return ObservedReport(
            status: status, errorCode: code, errorType: type, errorText: text,
            fnNumber: payload?["fn_number"] as? String,
            fiscalDocumentNumber: (payload?["fiscal_document_number"] as? NSNumber)?.int64Value,
            fiscalDocumentAttribute: (payload?["fiscal_document_attribute"] as? NSNumber)?.int64Value,
            totalKopecks: (payload?["total"] as? NSNumber).map { Int64(($0.doubleValue * 100).rounded()) },
            warnings: warnings)
    }

    enum CodingKeys: String, CodingKey {
        case status
        case errorCode = "error_code"
        case errorType = "error_type"
        case errorText = "error_text"
        case fnNumber = "fn_number"
        case fiscalDocumentNumber = "fiscal_document_number"
        case fiscalDocumentAttribute = "fiscal_document_attribute"
        case totalKopecks = "total"
        case warnings
    }
}
