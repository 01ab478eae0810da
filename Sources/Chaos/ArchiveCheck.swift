import GroundTruth

/// The check drills end with: the `GroundTruth` checker (FN archives on disk, only documents made
/// after `baseline`, against the acknowledged log and the API's reports), in the figures a drill
/// report shows.
public struct ArchiveCheck: GroundTruthChecking {
    public init() {}

    public func baseline(fnDirectory: String) throws -> [String: Int64] {
        try FNArchives.lastDocumentNumbers(dataDirectory: fnDirectory)
    }

    public func check(fnDirectory: String, baseline: [String: Int64], acknowledgedLog: String, apiURL: String,
                      credentialsPath: String) async throws -> GroundTruthFigures {
        let result = try await GroundTruthCheck(dataDirectory: fnDirectory, acknowledgedLogPath: acknowledgedLog, baseline: baseline)
            .run(baseURL: apiURL, credentialsPath: credentialsPath)
        let c = result.counts
        return GroundTruthFigures(
            acknowledged: c.acknowledged, done: c.done, failed: c.failed, inFlight: c.inFlight, inFlightInDoubt: c.inFlightInDoubt,
            lost: c.lost, duplicated: c.duplicated, unexpected: c.unexpected, reportMismatches: c.reportMismatches,
            receiptDocuments: c.receiptDocuments, annulDocuments: c.annulDocuments, passed: result.passed,
            violations: result.violations.prefix(50).map(\.description) + result.problems.prefix(10).map { "\($0)" },
            text: result.text(maxViolations: 20, allowingInFlight: true))
    }
}
