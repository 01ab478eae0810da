import Foundation

extension LoadSummary {
    /// The summary as one line of JSON with sorted keys (stable for diffing and `jq`).
    public func jsonLine() throws -> String {
        let encoder = JSONEncoder()
        encoder.outputFormatting = [.sortedKeys, .withoutEscapingSlashes]
        let data = try encoder.encode(self)
        return String(decoding: data, as: UTF8.self)
    }

    /// A human-readable, aligned report.
    public func renderTable() -> String {
        var rows: [(String, String)] = []
        func row(_ label: String, _ value: String) { rows.append((label, value)) }
        func count(_ label: String, _ value: Int) { row(label, String(value)) }
        func breakdown(_ reasons: [String: Int]) {
            // Most frequent first; ties by text so the output is stable.
            for (reason, n) in reasons.sorted(by: { $0.value != $1.value ? $0.value > $1.value : $0.key < $1.key }) {
                row("    \(reason)", String(n))
            }
        }

        row("run", runID)
        row("offered rate", "\(Self.decimal(offeredRate)) /s")
        row("achieved rate", "\(Self.decimal(achievedRate)) /s accepted")
        row("send phase", "\(Self.decimal(sendDurationSeconds)) s")
        row("whole run", "\(Self.decimal(runDurationSeconds)) s")
        count("max schedule lag ms", maxScheduleLagMilliseconds)
        count("sent", sent)
        count("accepted", accepted)
        count("done", done)
        count("failed", failed)
        breakdown(failedByReason)
        count("still waiting", stillWaiting)
        count("duplicates sent", duplicatesSent)
        count("  refused, same uuid", duplicatesRefused)
        count("  wrong uuid", duplicatesWithWrongUUID)
        count("invalid sent", invalidSent)
        count("  refused with 32", invalidRefused)
        count("  misanswered", invalidMisanswered)
        breakdown(invalidMisansweredByReason)
        count("rejected", rejected)
        breakdown(rejectedByReason)
        count("503 backpressure", backpressure503)
        count("  abandoned", backpressureAbandoned)
        count("token refreshes", tokenRefreshes)
        count("uuid reused", uuidReused)
        count("report mismatches", reportMismatches)
        count("report errors", reportErrors)
        breakdown(reportErrorsByReason)
        row("latency accept→done ms", Self.latencyText(latency))
        row("POST round trip ms", Self.latencyText(postLatency))

        let width = rows.map(\.0.count).max() ?? 0
        return rows.map { label, value in
            label + String(repeating: " ", count: width - label.count) + "  " + value
        }.joined(separator: "\n")
    }

    private static func latencyText(_ latency: LatencySummary) -> String {
        guard latency.count > 0 else { return "no samples" }
        return "p50 \(latency.p50)  p95 \(latency.p95)  p99 \(latency.p99)  max \(latency.max)  (n=\(latency.count))"
    }

    private static func decimal(_ value: Double) -> String {
        String(format: "%.2f", value)
    }
}
