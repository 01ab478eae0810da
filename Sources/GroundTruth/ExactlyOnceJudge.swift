import Foundation
import KassaModel

/// The pure part of the check: classifies every posted receipt from its FN documents and its
/// report. No I/O; `GroundTruthCheck` gathers the inputs.
///
/// Effective documents of a job = its receipt documents without `annuls` minus the refunds whose
/// `annuls` is the job. An acknowledged receipt is
/// - done: report `done`, one effective document, and the report's fn_number,
///   fiscal_document_number, fiscal_document_attribute (and total) are those of a document of
///   the job that no refund annuls;
/// - failed: report `fail` with an error object, no effective document;
/// - in flight: report `wait`, at most one effective document (one = in doubt);
/// - otherwise listed as a violation (`lost`, `duplicated`, `report_mismatch`).
/// Documents of jobs nobody posted, and refunds with no duplicate to cancel, are `unexpected`.
/// An unanswered post may have a document (counted) but not two.
public enum ExactlyOnceJudge {
    /// The verdict on every post of `log`, from the receipt documents of `archives` and the
    /// `reports` of the acknowledged posts (uuid → report; a missing one counts as unknown).
    public static func judge(log: AcknowledgedLog, archives: FNArchives, reports: [String: ObservedReport]) -> CheckResult {
        var counts = CheckResult.Counts()
        counts.documentsRead = archives.documentsRead
        counts.tornLines = archives.tornLines
        counts.unreadableLines = archives.problems.count

        var sales: [String: [ArchivedReceipt]] = [:]
        var annulments: [String: [ArchivedReceipt]] = [:]
        for document in archives.receipts {
            if let annulled = document.annuls {
                annulments[annulled, default: []].append(document)
                counts.annulDocuments += 1
            } else {
                sales[document.jobID, default: []].append(document)
                counts.receiptDocuments += 1
            }
        }

        var violations: [Violation] = []
        for post in log.posts {
            let made = sales[post.uuid] ?? []
            let annulling = annulments[post.uuid] ?? []
            let effective = made.count - annulling.count
            var found: [Violation] = []
            func flag(_ kind: Violation.Kind, _ detail: String, _ documents: [ArchivedReceipt]) {
                found.append(Violation(kind: kind, uuid: post.uuid, groupCode: post.groupCode, detail: detail, documents: documents))
            }
            if annulling.count > max(made.count - 1, 0) {
                flag(.unexpected, "\(annulling.count) refund(s) annul \(made.count) sale(s), so no duplicate is left to cancel: "
                     + "refunds \(labels(annulling))" + (made.isEmpty ? "" : "; sales \(labels(made))"), annulling + made)
            }
            if effective > 1 {
                flag(.duplicated, "\(effective) effective documents: sales \(labels(made))"
                     + (annulling.isEmpty ? "" : "; annulled by \(labels(annulling))"), made + annulling)
            }

            var outcome: Outcome?
            if !post.acknowledged {
                counts.unanswered += 1
                if effective >= 1 { counts.unacknowledgedFiscalized += 1 }
            } else if effective <= 1 {
                counts.acknowledged += 1
                let report = reports[post.uuid] ?? ObservedReport(status: .unknown, errorText: "no report")
                let annulled = annulledSales(of: post, sales: made, refunds: annulling)
                let standing = made.filter { sale in !annulled.contains { $0 == sale } }
                switch report.status {
                case .done:
                    if made.isEmpty {
                        flag(.lost, "reported done as \(report.documentLabel), but no FN holds a document of it", [])
                    } else if effective < 1 {
                        flag(.reportMismatch, "reported done as \(report.documentLabel), but every sale is annulled: "
                             + "sales \(labels(made)); refunds \(labels(annulling))", made + annulling)
                    } else if standing.contains(where: { names(report, $0) }) {
                        outcome = .done
                    } else {
                        flag(.reportMismatch, "reported done as \(report.documentLabel) (FPD \(report.fiscalDocumentAttribute.map(String.init) ?? "?"), "
                             + "total \(report.totalKopecks.map(String.init) ?? "?")), but the archive holds "
                             + made.map { describe($0, annulled: annulled.contains($0)) }.joined(separator: ", "), made + annulling)
                    }
                case .fail:
                    if effective >= 1 {
                        flag(.reportMismatch, "reported failed (\(report.errorLabel)), but fiscalized as \(labels(made))", made + annulling)
                    } else if report.errorCode == nil {
                        flag(.reportMismatch, "reported failed without an error object", made + annulling)
                    } else {
                        outcome = .failed(reason: "\(report.errorCode.map(String.init) ?? "?") \(report.errorType ?? "?")")
                    }
                case .wait:
                    outcome = .inFlight(inDoubt: effective == 1)
                case .unknown:
                    let why = report.errorCode.map { "code \($0)" } ?? report.errorText ?? "no report"
                    if effective >= 1 {
                        flag(.reportMismatch, "fiscalized as \(labels(made)), but the API does not know the receipt (\(why))", made + annulling)
                    } else {
                        flag(.lost, "acknowledged, the API does not know it (\(why)) and no FN holds an effective document", made + annulling)
                    }
                }
            } else {
                counts.acknowledged += 1  // duplicated: flagged above, no report can make it right
            }

            if post.acknowledged {
                if !found.isEmpty {
                    counts.acknowledgedWithViolations += 1
                } else {
                    switch outcome {
                    case .done?: counts.done += 1
                    case .failed(let reason)?:
                        counts.failed += 1
                        counts.failedByReason[reason, default: 0] += 1
                    case .inFlight(let inDoubt)?:
                        counts.inFlight += 1
                        if inDoubt { counts.inFlightInDoubt += 1 }
                    case nil: break  // cannot happen: no outcome always comes with a violation
                    }
                }
            }
            violations += found
        }

        // Documents of jobs nobody posted (and refunds annulling such jobs).
        let posted = Set(log.posts.map(\.uuid))
        let groups = Set(log.posts.map(\.groupCode)).sorted()
        let strangers = Set(sales.keys).union(annulments.keys).subtracting(posted).sorted()
        for job in strangers {
            let made = sales[job] ?? []
            let annulling = annulments[job] ?? []
            var parts: [String] = []
            if !made.isEmpty { parts.append("fiscalized but never posted: \(labels(made))") }
            if !annulling.isEmpty { parts.append("refunds annul a receipt never posted: \(labels(annulling))") }
            violations.append(Violation(kind: .unexpected, uuid: job, groupCode: groupCode(of: job, among: groups),
                                        detail: parts.joined(separator: "; "), documents: made + annulling))
        }

        // Conservation, counted apart from the per-receipt verdicts: every distinct acknowledged
        // uuid of the log ends in exactly one of the four.
        let acknowledged = Set(log.posts.filter(\.acknowledged).map(\.uuid)).count
        let accounted = counts.done + counts.failed + counts.inFlight + counts.acknowledgedWithViolations
        if acknowledged != accounted || acknowledged != counts.acknowledged {
            violations.append(Violation(
                kind: .conservation, uuid: "-", groupCode: "-",
                detail: "acknowledged \(acknowledged) ≠ done \(counts.done) + failed \(counts.failed) + in flight \(counts.inFlight)"
                    + " + with violations \(counts.acknowledgedWithViolations)"))
        }

        counts.lost = violations.filter { $0.kind == .lost }.count
        counts.duplicated = violations.filter { $0.kind == .duplicated }.count
        counts.unexpected = violations.filter { $0.kind == .unexpected }.count
        counts.reportMismatches = violations.filter { $0.kind == .reportMismatch }.count
        counts.conservation = violations.filter { $0.kind == .conservation }.count
        return CheckResult(counts: counts, violations: violations, problems: archives.problems)
    }

    private enum Outcome {
        case done
        case failed(reason: String)
        case inFlight(inDoubt: Bool)
    }

    /// The sales that the refunds identifiably annul. A refund's job id is derived from the
    /// annulled sale (`ReceiptJob.annulment`: external_id `annul:<job>:<fn serial>:<document
    /// number>` in the job's group), so the archive says which sale each refund cancels. A refund
    /// matching no sale still counts against the effective documents, but names none.
    static func annulledSales(of post: AcknowledgedPost, sales: [ArchivedReceipt], refunds: [ArchivedReceipt]) -> [ArchivedReceipt] {
        guard !refunds.isEmpty else { return [] }
        let refundJobs = Set(refunds.map(\.jobID))
        return sales.filter { sale in
            let refundJob = JobID.derive(groupCode: post.groupCode,
                                         externalID: "annul:\(post.uuid):\(sale.fnSerial):\(sale.fiscalDocumentNumber)")
            return refundJobs.contains(refundJob.uuidString.lowercased())
        }
    }

    /// The report's fiscal attributes are those of `document` (total too, when the report has one).
    static func names(_ report: ObservedReport, _ document: ArchivedReceipt) -> Bool {
        report.fnNumber == document.fnSerial
            && report.fiscalDocumentNumber == document.fiscalDocumentNumber
            && report.fiscalDocumentAttribute == document.fiscalDocumentAttribute
            && (report.totalKopecks ?? document.totalKopecks) == document.totalKopecks
    }

    private static func labels(_ documents: [ArchivedReceipt]) -> String {
        documents.map(\.label).joined(separator: ", ")
    }

    private static func describe(_ document: ArchivedReceipt, annulled: Bool) -> String {
        "\(document.label) (FPD \(document.fiscalDocumentAttribute), total \(document.totalKopecks)\(annulled ? ", annulled" : ""))"
    }

    /// The tenant a uuid was issued for, told by its group tag (`JobID.belongs`), or "?".
    private static func groupCode(of job: String, among groups: [String]) -> String {
        guard let uuid = UUID(uuidString: job) else { return "?" }
        return groups.first { JobID.belongs(uuid, to: $0) } ?? "?"
    }
}
