import ArgumentParser
import Foundation
import Load

struct LoadCommand: AsyncParsableCommand {
    static let configuration = CommandConfiguration(commandName: "load", abstract: "Post valid, varied receipts through the ingress and summarize.")

    @Option(help: "The API base URL.") var url = ProcessInfo.processInfo.environment["KASSA_URL"] ?? "http://127.0.0.1:18080/possystem/v4"
    @Option(help: "Tenants' credentials (JSON written by `kassa registry provision`).") var credentials = ProcessInfo.processInfo.environment["KASSA_CREDENTIALS"] ?? ".cluster/tenants.json"
    @Option(help: "Receipts per second offered, over all tenants.") var rate: Double = 40
    @Option(help: "How long to send, e.g. 60s, 2m, 500ms.") var duration: String = "60s"
    @Option(help: "How many of the tenants to post as (default: all).") var tenants: Int?
    @Option(help: "Fraction of posts that repeat an earlier external_id on purpose.") var duplicateRatio: Double = 0.02
    @Option(help: "Seconds to keep polling reports after sending ends.") var drainTimeout: Double = 120
    @Option(help: "Milliseconds between report polls of each unfinished receipt.") var pollIntervalMs: Int = 250
    @Option(help: "Keep-alive connections to the ingress, at most. Posts beyond them wait in the client; size it as rate × answer time.") var connections: Int = 128
    @Option(help: "Append one JSON line per acknowledged receipt to this file.") var ackLog: String?
    @Option(help: "Random seed (default: from the clock).") var seed: UInt64?
    @Flag(help: "End with the summary as one JSON object on the last line.") var json = false
    @Option(help: "Log level.") var logLevel = "warning"

    func run() async throws {
        let logger = CommonOptions.logger("kassa.load", level: logLevel)
        guard let data = FileManager.default.contents(atPath: credentials) else {
            throw ValidationError("--credentials \(credentials): cannot read the file (run cluster/up first)")
        }
        let decoder = JSONDecoder()
        decoder.keyDecodingStrategy = .convertFromSnakeCase
        var all = try decoder.decode([TenantCredentials].self, from: data)
        if let tenants {
            guard tenants >= 1, tenants <= all.count else { throw ValidationError("--tenants: expected 1...\(all.count)") }
            all = Array(all.prefix(tenants))
        }
        guard let sendFor = Self.parseDuration(duration) else {
            throw ValidationError("--duration \(duration): expected a number with s, ms or m, e.g. 60s")
        }
        var configuration = LoadConfiguration(baseURL: url, tenants: all, rate: rate, duration: sendFor,
                                              seed: seed ?? UInt64(Date().timeIntervalSince1970 * 1000), acknowledgedLogPath: ackLog)
        configuration.duplicateRatio = duplicateRatio
        guard pollIntervalMs >= 10 else { throw ValidationError("--poll-interval-ms \(pollIntervalMs): expected at least 10") }
        configuration.reportPollInterval = .milliseconds(pollIntervalMs)
        configuration.drainTimeout = .milliseconds(Int(drainTimeout * 1000))
        configuration.maxConnections = connections
        let summary = try await LoadRunner(configuration: configuration, logger: logger).run { progress in
            FileHandle.standardError.write(Data((progress.line + "\n").utf8))
        }
        print(summary.renderTable())
        if json { print(try summary.jsonLine()) }
    }

    static func parseDuration(_ text: String) -> Duration? {
        let units: [(String, Double)] = [("ms", 0.001), ("s", 1), ("m", 60)]
        for (suffix, factor) in units where text.hasSuffix(suffix) {
            guard let value = Double(text.dropLast(suffix.count)), value > 0 else { return nil }
            return .milliseconds(Int(value * factor * 1000))
        }
        return Double(text).flatMap { $0 > 0 ? .milliseconds(Int($0 * 1000)) : nil }
    }
}
