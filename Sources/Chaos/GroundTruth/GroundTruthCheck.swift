import Foundation

/// What the API's report says about one receipt (only what the check compares).
public struct ObservedReport: Sendable, Equatable {
    public enum Status: String, Sendable {
        case wait, done, fail
        /// No such receipt (code 30/34, 404) or an answer that is not a report.
        case unknown
    }

    public var status: Status
    public var errorCode: Int?
    public var errorText: String?
    public var fnNumber: String?
    public var fiscalDocumentNumber: Int64?
    public var fiscalDocumentAttribute: Int64?

    public init(status: Status, errorCode: Int? = nil, errorText: String? = nil, fnNumber: String? = nil,
                fiscalDocumentNumber: Int64? = nil, fiscalDocumentAttribute: Int64? = nil) {
        self.status = status
        self.errorCode = errorCode
        self.errorText = errorText
        self.fnNumber = fnNumber
        self.fiscalDocumentNumber = fiscalDocumentNumber
        self.fiscalDocumentAttribute = fiscalDocumentAttribute
    }
}

/// One way exactly-once was broken, naming the receipt.
public struct Violation: Sendable, Codable, Equatable {
    public enum Kind: String, Sendable, Codable {
        /// Acknowledged, and neither a document nor a report knows it.
        case lost
        /// More than one effective fiscal document.
        case duplicated
        /// A document for a receipt nobody posted (or a refund with nothing to annul).
        case unexpected
        /// The report disagrees with the FN archive.
        case reportMismatch = "report_mismatch"
        /// acknowledged ≠ done + failed + in flight.
        case conservation
    }

    public var kind: Kind
    public var uuid: String
    public var groupCode: String
    public var detail: String

    public var line: String { "\(kind.rawValue) \(uuid) (\(groupCode)): \(detail)" }
}

/// The verdict of one ground-truth check.
public struct CheckResult: Sendable, Codable, Equatable {
    public var acknowledged = 0
    public var unanswered = 0
    public var documentsRead = 0
    public var receiptDocuments = 0
    public var annulDocuments = 0
    public var tornLines = 0
    public var done = 0
    public var failed = 0
    public var inFlight = 0
    /// In flight with a document already in an FN (the system has not recorded it yet).
    public var inFlightInDoubt = 0
    /// Posts whose answer never came but whose receipt was fiscalized (allowed).
    public var unacknowledgedFiscalized = 0
    public var violations: [Violation] = []

    public func count(_ kind: Violation.Kind) -> Int { violations.filter { $0.kind == kind }.count }
    public var lost: Int { count(.lost) }
    public var duplicated: Int { count(.duplicated) }
    public var unexpected: Int { count(.unexpected) }
    public var reportMismatches: Int { count(.reportMismatch) }
    /// No violation of any kind.
    public var passed: Bool { violations.isEmpty }

    /// A small table and the first `limit` violations.
    public func text(limit: Int = 20) -> String {
        var out = """
            ground truth: \(passed ? "PASSED" : "FAILED")
              acknowledged \(acknowledged) (+\(unanswered) unanswered posts)   documents read \(documentsRead) \
            (receipts \(receiptDocuments), refunds annulling \(annulDocuments), torn lines \(tornLines))
              done \(done)   failed \(failed)   in flight \(inFlight) (\(inFlightInDoubt) in doubt)   unanswered but fiscalized \(unacknowledgedFiscalized)
              lost \(lost)   duplicated \(duplicated)   unexpected \(unexpected)   report mismatches \(reportMismatches)   conservation \(count(.conservation))

            """
        for violation in violations.prefix(limit) { out += "  - \(violation.line)\n" }
        if violations.count > limit { out += "  ... and \(violations.count - limit) more\n" }
        return out
    }

    /// Classifies every acknowledged receipt from the FN archive and its report.
    ///
    /// Effective documents of a receipt = its sale documents (job id = its uuid, no `annuls`)
    /// minus the refunds that annul it (`annuls` = its uuid). A receipt is done (report `done`,
    /// one effective document, the report naming one of its documents), failed (report `fail`
    /// with a reason, no effective document) or in flight (report `wait`, at most one); anything
    /// else is a violation.
    public static func judge(acknowledged log: [AcknowledgedReceipt], archive: FiscalArchive, reports: [String: ObservedReport]) -> CheckResult {
        var result = CheckResult()
        result.documentsRead = archive.documents
        result.tornLines = archive.tornLines
        var sales: [String: [ArchivedReceipt]] = [:]
        var refunds: [String: [ArchivedReceipt]] = [:]
        for receipt in archive.receipts {
            if let annulled = receipt.annuls {
                refunds[annulled, default: []].append(receipt)
                result.annulDocuments += 1
            } else {
                sales[receipt.jobID, default: []].append(receipt)
                result.receiptDocuments += 1
            }
        }
        func describe(_ documents: [ArchivedReceipt]) -> String {
            documents.map { "FN \($0.fnSerial) FD \($0.fiscalDocumentNumber)" }.joined(separator: ", ")
        }
        var posted: Set<String> = []
        for receipt in log {
            posted.insert(receipt.uuid)
            let made = sales[receipt.uuid] ?? []
            let annulled = refunds[receipt.uuid] ?? []
            let effective = made.count - annulled.count
            func violation(_ kind: Violation.Kind, _ detail: String) {
                result.violations.append(Violation(kind: kind, uuid: receipt.uuid, groupCode: receipt.groupCode, detail: detail))
            }
            if effective > 1 {
                violation(.duplicated, "\(effective) effective documents: \(describe(made))" + (annulled.isEmpty ? "" : "; annulled by \(describe(annulled))"))
            }
            if annulled.count > made.count {
                violation(.unexpected, "\(annulled.count) refunds annul \(made.count) sales: \(describe(annulled))")
            }
            if receipt.unanswered {
                result.unanswered += 1
                if effective >= 1 { result.unacknowledgedFiscalized += 1 }
                continue
            }
            result.acknowledged += 1
            let report = reports[receipt.uuid] ?? ObservedReport(status: .unknown)
            switch report.status {
            case .done:
                guard effective >= 1 else {
                    violation(.lost, "the report says done (FN \(report.fnNumber ?? "?") FD \(report.fiscalDocumentNumber.map(String.init) ?? "?")) but no FN holds it")
                    continue
                }
                let named = made.contains {
                    $0.fnSerial == report.fnNumber && $0.fiscalDocumentNumber == report.fiscalDocumentNumber
                        && $0.fiscalDocumentAttribute == report.fiscalDocumentAttribute
                }
                if !named {
                    violation(.reportMismatch, "the report names FN \(report.fnNumber ?? "?") FD \(report.fiscalDocumentNumber.map(String.init) ?? "?"); the archive holds \(describe(made))")
                } else if effective == 1 {
                    result.done += 1
                }
            case .fail:
                if effective >= 1 {
                    violation(.reportMismatch, "reported failed (\(report.errorCode.map(String.init) ?? "?")) but fiscalized: \(describe(made))")
                } else if report.errorCode == nil {
                    violation(.reportMismatch, "reported failed without an error")
                } else {
                    result.failed += 1
                }
            case .wait:
                if effective <= 1 {
                    result.inFlight += 1
                    if effective == 1 { result.inFlightInDoubt += 1 }
                }
            case .unknown:
                if effective >= 1 {
                    violation(.reportMismatch, "fiscalized (\(describe(made))) but the API does not know the receipt")
                } else {
                    violation(.lost, "acknowledged, no report and no fiscal document")
                }
            }
        }
        for (job, documents) in sales where !posted.contains(job) {
            result.violations.append(Violation(kind: .unexpected, uuid: job, groupCode: "?", detail: "fiscalized but never posted: \(describe(documents))"))
        }
        for (job, documents) in refunds where !posted.contains(job) && sales[job] == nil {
            result.violations.append(Violation(kind: .unexpected, uuid: job, groupCode: "?", detail: "refunds annul a receipt never fiscalized: \(describe(documents))"))
        }
        let accounted = result.done + result.failed + result.inFlight
        if accounted != result.acknowledged {
            result.violations.append(Violation(kind: .conservation, uuid: "-", groupCode: "-",
                                               detail: "acknowledged \(result.acknowledged) ≠ done \(result.done) + failed \(result.failed) + in flight \(result.inFlight)"))
        }
        return result
    }
}
