/// The check a chaos drill ends with: the FN archives on disk and the load tool's acknowledged
/// log, against the reports the API gives, judged by `ExactlyOnceJudge`.
public struct GroundTruthCheck: Sendable {
    /// Where the FN archives are: `<dataDirectory>/<fn_serial>/archive.jsonl`.
    public var dataDirectory: String
    /// The load tool's `--ack-log` file.
    public var acknowledgedLogPath: String
    /// Documents numbered at or below `baseline[fn_serial]` existed before the drill and are
    /// ignored (see `FNArchives.lastDocumentNumbers`). Empty: every document counts.
    public var baseline: [String: Int64]
    /// Report requests in flight at once.
    public var reportsInFlight: Int

    public init(dataDirectory: String, acknowledgedLogPath: String, baseline: [String: Int64] = [:], reportsInFlight: Int = 32) {
        self.dataDirectory = dataDirectory
        self.acknowledgedLogPath = acknowledgedLogPath
        self.baseline = baseline
        self.reportsInFlight = reportsInFlight
    }

    /// Reads the log, asks `source` for every acknowledged receipt's report, then reads the
    /// archives. The archives come last: a receipt is on disk before the system records it, so
    /// every document a `done` report names is there to be found.
    public func run(reports source: some ReportSource) async throws -> CheckResult {
        let log = try AcknowledgedLog.read(path: acknowledgedLogPath)
        let reports = try await source.reports(for: log.acknowledged, inFlight: reportsInFlight)
        let archives = try FNArchives.read(dataDirectory: dataDirectory, after: baseline)
        return ExactlyOnceJudge.judge(log: log, archives: archives, reports: reports)
    }

    /// `run` against the ATOL API at `baseURL`, logging in as the tenants of `credentialsPath`.
    public func run(baseURL: String, credentialsPath: String) async throws -> CheckResult {
        let tenants = try TenantLogin.read(path: credentialsPath)
        return try await ATOLReportSource.with(baseURL: baseURL, tenants: tenants) { source in
            try await run(reports: source)
        }
    }
}
