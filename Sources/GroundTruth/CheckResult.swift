/// One way exactly-once was broken, naming the receipt and the documents involved.
public struct Violation: Sendable, Codable, Equatable, CustomStringConvertible {
    public enum Kind: String, Sendable, Codable, CaseIterable {
        /// Acknowledged, and no FN holds a document although the report does not say failed or waiting.
        case lost
        /// More than one effective document (sales minus the refunds annulling them).
        case duplicated
        /// A document for a receipt that was never posted, or an annulling refund with no
        /// duplicate to cancel.
        case unexpected
        /// The report disagrees with the FN archives.
        case reportMismatch = "report_mismatch"
        /// The acknowledged receipts do not add up to done + failed + in flight (+ those with
        /// violations): the classification itself went wrong.
        case conservation
    }

    public var kind: Kind
    /// The job uuid ("-" for a violation of the whole run).
    public var uuid: String
    /// The tenant ("?" when no log line or known group matches the uuid).
    public var groupCode: String
    /// What is wrong, naming FN serials and document numbers.
    public var detail: String
    /// The documents involved.
    public var documents: [ArchivedReceipt]

    public init(kind: Kind, uuid: String, groupCode: String, detail: String, documents: [ArchivedReceipt] = []) {
        self.kind = kind
        self.uuid = uuid
        self.groupCode = groupCode
        self.detail = detail
        self.documents = documents
    }

    /// "duplicated 3f2a… (shop-tea): 2 effective documents: FN … FD 17, FN … FD 4".
    public var description: String { "\(kind.rawValue) \(uuid) (\(groupCode)): \(detail)" }

    enum CodingKeys: String, CodingKey {
        case kind, uuid, detail, documents
        case groupCode = "group_code"
    }
}

/// The verdict of one ground-truth check: what the FN archives and the acknowledged log say,
/// receipt by receipt, against the API's reports.
///
/// Every acknowledged receipt ends in exactly one of: done, failed (with a reason), in flight,
/// or listed under `violations`. `passed` means no violation and no unreadable archive line;
/// receipts still in flight do not fail it (use `passed(allowingInFlight: false)` for that).
public struct CheckResult: Sendable, Codable, Equatable {
    /// The figures of the check.
    public struct Counts: Sendable, Codable, Equatable {
        /// Distinct uuids the API acknowledged.
        public var acknowledged = 0
        /// Distinct uuids posted whose answer never came (and never acknowledged on another line).
        public var unanswered = 0
        /// Unanswered posts that have an effective document (allowed).
        public var unacknowledgedFiscalized = 0
        /// FN documents of every kind read.
        public var documentsRead = 0
        /// Receipt documents without `annuls` (sales and the shops' own refunds).
        public var receiptDocuments = 0
        /// Refunds annulling a duplicate (`annuls` set).
        public var annulDocuments = 0
        /// Torn last lines of archive files, skipped.
        public var tornLines = 0
        /// Archive lines that could not be read (not torn last lines).
        public var unreadableLines = 0
        /// Report done, one effective document, the report names it.
        public var done = 0
        /// Report fail with an error object, no effective document.
        public var failed = 0
        /// Failed receipts by "code type" of the error, e.g. "2003 agent".
        public var failedByReason: [String: Int] = [:]
        /// Report wait, at most one effective document.
        public var inFlight = 0
        /// In flight with one effective document: fiscalized, but the system has not recorded it yet.
        public var inFlightInDoubt = 0
        /// Acknowledged receipts with at least one violation (neither done, failed nor in flight).
        public var acknowledgedWithViolations = 0
        public var lost = 0
        public var duplicated = 0
        public var unexpected = 0
        public var reportMismatches = 0
        /// 1 when the acknowledged receipts did not add up, else 0.
        public var conservation = 0

        public init() {}

        enum CodingKeys: String, CodingKey {
            case acknowledged, unanswered, done, failed, lost, duplicated, unexpected, conservation
            case unacknowledgedFiscalized = "unacknowledged_fiscalized"
            case documentsRead = "documents_read"
            case receiptDocuments = "receipt_documents"
            case annulDocuments = "annul_documents"
            case tornLines = "torn_lines"
            case unreadableLines = "unreadable_lines"
            case failedByReason = "failed_by_reason"
            case inFlight = "in_flight"
            case inFlightInDoubt = "in_flight_in_doubt"
            case acknowledgedWithViolations = "acknowledged_with_violations"
            case reportMismatches = "report_mismatches"
        }
    }

    public let counts: Counts
    /// Every violation found, receipts of the log first (in log order), then documents nobody posted.
    public let violations: [Violation]
    /// Archive lines that could not be read; ground truth is damaged there.
    public let problems: [ArchiveProblem]
    /// No violation and no unreadable archive line. Receipts in flight are allowed here.
    public let passed: Bool

    public init(counts: Counts, violations: [Violation], problems: [ArchiveProblem] = []) {
        self.counts = counts
        self.violations = violations
        self.problems = problems
        self.passed = violations.isEmpty && problems.isEmpty
    }

    /// `passed`, and with `allowingInFlight: false` also no receipt still in flight.
    public func passed(allowingInFlight: Bool) -> Bool {
        passed && (allowingInFlight || counts.inFlight == 0)
    }

    /// The violations of one kind.
    public func violations(_ kind: Violation.Kind) -> [Violation] {
        violations.filter { $0.kind == kind }
    }

    /// A small table of the figures and the first `maxViolations` violations and problems. The
    /// headline is the verdict of `passed(allowingInFlight:)`.
    public func text(maxViolations: Int = 20, allowingInFlight: Bool = true) -> String {
        let c = counts
        let verdict = passed(allowingInFlight: allowingInFlight)
            ? "PASSED" + (c.inFlight > 0 ? " (\(c.inFlight) still in flight)" : "")
            : "FAILED" + (passed ? " (\(c.inFlight) still in flight, not allowed)" : "")
        let reasons = c.failedByReason.sorted { $0.key < $1.key }.map { "\($0.key): \($0.value)" }.joined(separator: ", ")
        let rows: [(String, Int, String)] = [
            ("acknowledged", c.acknowledged,
             "= done \(c.done) + failed \(c.failed) + in flight \(c.inFlight) + with violations \(c.acknowledgedWithViolations)"),
            ("unanswered posts", c.unanswered, "\(c.unacknowledgedFiscalized) fiscalized (allowed)"),
            ("FN documents read", c.documentsRead,
             "receipts \(c.receiptDocuments), annulling refunds \(c.annulDocuments), torn last lines \(c.tornLines), unreadable lines \(c.unreadableLines)"),
            ("done", c.done, ""),
            ("failed", c.failed, reasons),
            ("in flight", c.inFlight, c.inFlightInDoubt > 0 ? "\(c.inFlightInDoubt) in doubt (in an FN, not yet recorded)" : ""),
            ("lost", c.lost, ""),
            ("duplicated", c.duplicated, ""),
            ("unexpected", c.unexpected, ""),
            ("report mismatches", c.reportMismatches, ""),
            ("conservation", c.conservation, ""),
        ]
        var out = "ground truth: \(verdict)\n"
        for (name, value, note) in rows {
            let padded = name.padding(toLength: 18, withPad: " ", startingAt: 0)
            let number = String(value)
            let line = "  \(padded)\(String(repeating: " ", count: max(0, 8 - number.count)))\(number)" + (note.isEmpty ? "" : "   \(note)")
            out += line + "\n"
        }
        if !violations.isEmpty {
            let shown = violations.prefix(max(0, maxViolations))
            out += "violations (\(shown.count) of \(violations.count)):\n"
            for violation in shown { out += "  - \(violation)\n" }
        }
        if !problems.isEmpty {
            let shown = problems.prefix(max(0, maxViolations))
            out += "unreadable archive lines (\(shown.count) of \(problems.count)):\n"
            for problem in shown { out += "  - \(problem)\n" }
        }
        return out
    }

    enum CodingKeys: String, CodingKey {
        case counts, violations, problems, passed
    }
}
