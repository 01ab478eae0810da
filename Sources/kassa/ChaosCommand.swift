import ArgumentParser
import Chaos
import Foundation
import GroundTruth

struct ChaosCommand: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "chaos", abstract: "Chaos drills against a running cluster, and the ground-truth check.",
        subcommands: [ChaosRunCommand.self, ChaosCheckCommand.self])
}

/// Where the running cluster is (what `cluster/up` wrote).
struct ClusterOptions: ParsableArguments {
    @Option(help: "The cluster's folder (env KASSA_CLUSTER_DIR, default .cluster).")
    var clusterDir = ProcessInfo.processInfo.environment["KASSA_CLUSTER_DIR"] ?? ".cluster"

    @Option(help: "The repository root (holds cluster/ and chaos/).")
    var root = FileManager.default.currentDirectoryPath

    func handle() throws -> ClusterHandle {
        let absolute = clusterDir.hasPrefix("/") ? clusterDir : "\(root)/\(clusterDir)"
        return try ClusterHandle(root: root, directory: absolute)
    }
}

struct ChaosRunCommand: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "run",
        abstract: "Run a drill: load and faults together, then the ground-truth check; writes a report (Markdown, JSON, PNG).",
        discussion: "Exits 0 when the drill's expected outcome held, 1 when it did not.")

    @Argument(help: "The drill file, e.g. chaos/drills/dispatcher-kill.yaml.") var drill: String
    @OptionGroup var cluster: ClusterOptions
    @Option(help: "Random seed for fault moments and targets (default: from the clock).") var seed: UInt64?
    @Option(help: "Where the report goes (default chaos/results/<drill name>).") var results: String?
    @Flag(help: "End with the verdict and figures as one JSON object on the last line.") var json = false
    @Option(help: "Log level of the load's and drill's own logging.") var logLevel = "warning"

    func run() async throws {
        let drill = try Drill.load(path: self.drill)
        let handle = try cluster.handle()
        let seed = self.seed ?? UInt64(Date().timeIntervalSince1970 * 1000)
        let results = self.results ?? "\(cluster.root)/chaos/results/\(drill.name)"
        let python = "\(cluster.root)/.venv/bin/python"
        let runner = DrillRunner(
            drill: drill, seed: seed, cluster: handle, resultsDirectory: results, checker: ArchiveCheck(),
            logger: CommonOptions.logger("kassa.chaos", level: logLevel),
            python: FileManager.default.isExecutableFile(atPath: python) ? python : nil)
        let report = try await runner.run { line in
            FileHandle.standardError.write(Data("\(line)\n".utf8))
        }
        print(report.groundTruth?.text ?? "ground truth: the check did not run")
        print("drill \(report.drill): \(report.passed ? "PASSED" : "FAILED")")
        for failure in report.failures { print("  - \(failure)") }
        if json { print(report.summaryLine(reportDirectory: results)) }
        if !report.passed { throw ExitCode(1) }
    }
}

struct ChaosCheckCommand: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "check",
        abstract: "Check FN archives on disk against an acknowledged log and the API's reports.",
        discussion: "Exits 0 when every acknowledged receipt has exactly one effective document (or a failure with a reason) and nothing else has one.")

    @Option(help: "Where the FN archives are (<dir>/<fn_serial>/archive.jsonl; env KASSA_FN_DIR).")
    var dataDir = ProcessInfo.processInfo.environment["KASSA_FN_DIR"] ?? ".cluster/fn"
    @Option(help: "The acknowledged log (kassa load --ack-log).") var ackLog: String
    @Option(help: "The API base URL (env KASSA_URL).") var url = ProcessInfo.processInfo.environment["KASSA_URL"] ?? "http://127.0.0.1:18080/possystem/v4"
    @Option(help: "Tenants' credentials (env KASSA_CREDENTIALS).")
    var credentials = ProcessInfo.processInfo.environment["KASSA_CREDENTIALS"] ?? ".cluster/tenants.json"
    @Flag(help: "Receipts still waiting do not fail the check.") var allowInFlight = false
    @Flag(help: "End with the result as one JSON object on the last line.") var json = false

    func run() async throws {
        // Every document on disk counts: documents of other runs show up as unexpected.
        let check = GroundTruthCheck(dataDirectory: dataDir, acknowledgedLogPath: ackLog)
        let result = try await check.run(baseURL: url, credentialsPath: credentials)
        print(result.text(allowingInFlight: allowInFlight), terminator: "")
        if json {
            let encoder = JSONEncoder()
            encoder.outputFormatting = .sortedKeys
            print(String(decoding: try encoder.encode(result), as: UTF8.self))
        }
        if !result.passed(allowingInFlight: allowInFlight) { throw ExitCode(1) }
    }
}
