import Foundation

#if canImport(Glibc)
import Glibc
#elseif canImport(Musl)
import Musl
#endif

/// A running cluster as `cluster/up` left it: where its API, credentials, FN archives and
/// emulator control plane are (the `env` file it writes), and its processes by the PIDs it
/// recorded. Drills act on the cluster only through this.
public struct ClusterHandle: Sendable {
    /// The repository root (holds `cluster/start`).
    public let root: String
    /// `.cluster/` or `$KASSA_CLUSTER_DIR`.
    public let directory: String
    /// The `KEY=value` lines of `<directory>/env`.
    public let environment: [String: String]

    public var apiURL: String { environment["KASSA_URL"] ?? "" }
    public var credentialsPath: String { environment["KASSA_CREDENTIALS"] ?? "\(directory)/tenants.json" }
    public var fnDirectory: String { environment["KASSA_FN_DIR"] ?? "\(directory)/fn" }
    public var database: String { environment["KASSA_DB"] ?? "" }
    public var emulatorControlURL: String? { environment["KASSA_EMULATOR_CONTROL"] }
    /// Every site's emulator control plane (one per site with two sites).
    public var emulatorControlURLs: [String] {
        ["KASSA_EMULATOR_CONTROL", "KASSA_EMULATOR_CONTROL_B"].compactMap { environment[$0] }
    }
    /// The WAN link's control plane (two sites only).
    public var wanControlURL: String? { environment["KASSA_WAN_CONTROL"] }
    /// 1 or 2.
    public var sites: Int { Int(environment["KASSA_SITES"] ?? "1") ?? 1 }

    /// The API base URL of a site's ingress (`A` is the default one).
    public func apiURL(site: String) -> String {
        site == "B" ? environment["KASSA_URL_B"] ?? apiURL : apiURL
    }

    /// The cluster's own processes of a site (two sites): its dispatchers, ingress and emulator.
    public func siteProcesses(_ site: String) -> [String] {
        let suffix = site.lowercased()
        let names = (try? FileManager.default.contentsOfDirectory(atPath: "\(directory)/pids")) ?? []
        return names.filter { $0.hasSuffix(".pid") }.map { String($0.dropLast(4)) }
            .filter { $0 == "ingress-\(suffix)" || $0 == "emulator-\(suffix)" || $0.hasPrefix("dispatcher-\(suffix)") }
            .sorted()
    }

    /// Runs `cluster/registry-ha ARGS` for this cluster; its output.
    public func registryHA(_ arguments: [String]) async throws(ChaosError) -> String {
        var environment = ProcessInfo.processInfo.environment
        environment["KASSA_CLUSTER_DIR"] = directory
        if let offset = self.environment["KASSA_PORT_OFFSET"] { environment["KASSA_PORT_OFFSET"] = offset }
        let result = await ChildProcess.run("\(root)/cluster/registry-ha", arguments: arguments, environment: environment)
        guard result.status == 0 else {
            throw .cluster("cluster/registry-ha \(arguments.joined(separator: " ")) failed (exit \(result.status)): \(result.output.suffix(2000))")
        }
        return result.output
    }
    public var logsDirectory: String { "\(directory)/logs" }

    /// Reads `<directory>/env`; fails with what to do when the cluster was never brought up.
    public init(root: String, directory: String) throws(ChaosError) {
        self.root = root
        self.directory = directory
        let path = "\(directory)/env"
        guard let data = FileManager.default.contents(atPath: path) else {
            throw .cluster("no \(path): bring the cluster up first (cluster/up)")
        }
        var environment: [String: String] = [:]
        for line in String(decoding: data, as: UTF8.self).split(separator: "\n") {
            guard let equals = line.firstIndex(of: "=") else { continue }
            let key = String(line[..<equals]).trimmingCharacters(in: .whitespaces)
            var value = String(line[line.index(after: equals)...]).trimmingCharacters(in: .whitespaces)
            if value.count >= 2, value.hasPrefix("'"), value.hasSuffix("'") { value = String(value.dropFirst().dropLast()) }
            environment[key] = value
        }
        self.environment = environment
        for key in ["KASSA_URL", "KASSA_DB"] where environment[key] == nil {
            throw .cluster("\(path) has no \(key): bring the cluster up again (cluster/up)")
        }
    }

    // MARK: Processes

    /// The PID recorded for a process, if it runs.
    public func pid(of name: String) -> pid_t? {
        guard let data = FileManager.default.contents(atPath: "\(directory)/pids/\(name).pid"),
              let pid = pid_t(String(decoding: data, as: UTF8.self).trimmingCharacters(in: .whitespacesAndNewlines)),
              pid > 0, Self.isRunning(pid)
        else { return nil }
        return pid
    }

    /// True while the process exists and is not a zombie (killed, not yet reaped).
    static func isRunning(_ pid: pid_t) -> Bool {
        guard kill(pid, 0) == 0 else { return false }
        guard let stat = FileManager.default.contents(atPath: "/proc/\(pid)/stat") else { return false }
        // "pid (comm) S ...": the state follows the last ')'.
        let text = String(decoding: stat, as: UTF8.self)
        guard let close = text.lastIndex(of: ")") else { return true }
        return !text[text.index(after: close)...].trimmingCharacters(in: .whitespaces).hasPrefix("Z")
    }

    /// The dispatchers `cluster/up` started (`dispatcher-a1`, ...), running or not.
    public func dispatcherNames() -> [String] {
        let names = (try? FileManager.default.contentsOfDirectory(atPath: "\(directory)/pids")) ?? []
        return names.filter { $0.hasPrefix("dispatcher-") && $0.hasSuffix(".pid") }
            .map { String($0.dropLast(4)) }.sorted()
    }

    /// Sends `signal` to a process by its recorded PID.
    public func signal(_ name: String, _ signal: Int32) throws(ChaosError) {
        guard let pid = pid(of: name) else { throw .cluster("\(name) is not running") }
        guard kill(pid, signal) == 0 else { throw .cluster("cannot signal \(name) (pid \(pid)): errno \(errno)") }
    }

    /// `kill -9` and waits until the process is gone.
    public func kill9(_ name: String) async throws(ChaosError) {
        guard let pid = pid(of: name) else { throw .cluster("\(name) is not running") }
        _ = kill(pid, SIGKILL)
        let deadline = ContinuousClock.now + .seconds(10)
        while Self.isRunning(pid), ContinuousClock.now < deadline {
            try? await Task.sleep(for: .milliseconds(10))
        }
    }

    /// SIGTERM, then waits (bounded) for a graceful exit; SIGKILL if it does not come.
    public func stop(_ name: String, timeout: Duration = .seconds(30)) async {
        guard let pid = pid(of: name) else { return }
        _ = kill(pid, SIGTERM)
        let deadline = ContinuousClock.now + timeout
        while Self.isRunning(pid) {
            if ContinuousClock.now >= deadline {
                _ = kill(pid, SIGKILL)
                break
            }
            try? await Task.sleep(for: .milliseconds(20))
        }
    }

    /// Starts processes again through `cluster/start` (the same command lines as `cluster/up`),
    /// with `extraEnvironment` (e.g. debug flags) for this start only.
    public func start(_ names: [String], extraEnvironment: [String: String] = [:]) async throws(ChaosError) {
        var environment = ProcessInfo.processInfo.environment
        environment["KASSA_CLUSTER_DIR"] = directory
        if let offset = self.environment["KASSA_PORT_OFFSET"] { environment["KASSA_PORT_OFFSET"] = offset }
        for (key, value) in extraEnvironment { environment[key] = value }
        let result = await ChildProcess.run("\(root)/cluster/start", arguments: names, environment: environment)
        guard result.status == 0 else {
            throw .cluster("cluster/start \(names.joined(separator: " ")) failed (exit \(result.status)): \(result.output.suffix(2000))")
        }
    }

    /// Current size of every log file, to read later only what was written after now.
    public func logSizes() -> [String: UInt64] {
        let names = (try? FileManager.default.contentsOfDirectory(atPath: logsDirectory)) ?? []
        var sizes: [String: UInt64] = [:]
        for name in names where name.hasSuffix(".log") {
            let attributes = try? FileManager.default.attributesOfItem(atPath: "\(logsDirectory)/\(name)")
            sizes[name] = (attributes?[.size] as? NSNumber)?.uint64Value ?? 0
        }
        return sizes
    }

    /// The lines of the logs whose name starts with `prefix`, written after `since` (sizes
    /// from `logSizes()`): read once, then searched for each kind of evidence.
    public func logLines(prefix: String, since: [String: UInt64]) -> [Substring] {
        let names = (try? FileManager.default.contentsOfDirectory(atPath: logsDirectory)) ?? []
        var lines: [Substring] = []
        for name in names where name.hasPrefix(prefix) && name.hasSuffix(".log") {
            guard let handle = FileHandle(forReadingAtPath: "\(logsDirectory)/\(name)") else { continue }
            defer { try? handle.close() }
            try? handle.seek(toOffset: since[name] ?? 0)
            guard let data = try? handle.readToEnd() else { continue }
            lines += String(decoding: data, as: UTF8.self).split(separator: "\n")
        }
        return lines
    }
}

/// Runs a child process to completion, collecting its output (stdout and stderr together).
enum ChildProcess {
    struct Result: Sendable {
        var status: Int32
        var output: String
    }

    static func run(_ executable: String, arguments: [String], environment: [String: String]? = nil) async -> Result {
        await withCheckedContinuation { continuation in
            let process = Process()
            process.executableURL = URL(fileURLWithPath: executable)
            process.arguments = arguments
            if let environment { process.environment = environment }
            let output = Pipe()
            process.standardOutput = output
            process.standardError = output
            process.standardInput = FileHandle.nullDevice
            // Read on a thread of its own: a chatty child must not block on a full pipe.
            let collected = OutputBox()
            let reader = Thread {
                collected.data = output.fileHandleForReading.readDataToEndOfFile()
                collected.done.signal()
            }
            process.terminationHandler = { process in
                collected.done.wait()
                continuation.resume(returning: Result(status: process.terminationStatus, output: String(decoding: collected.data, as: UTF8.self)))
            }
            do {
                try process.run()
                reader.start()
            } catch {
                continuation.resume(returning: Result(status: -1, output: "cannot run \(executable): \(error)"))
            }
        }
    }

    private final class OutputBox: @unchecked Sendable {
        // Written once by the reader thread before `done` is signalled, read after the wait.
        var data = Data()
        let done = DispatchSemaphore(value: 0)
    }
}

/// Why a drill could not be run as written.
public enum ChaosError: Error, CustomStringConvertible, Sendable {
    case cluster(String)
    case emulatorControl(String)
    case registry(String)

    public var description: String {
        switch self {
        case .cluster(let text): "cluster: \(text)"
        case .emulatorControl(let text): "emulator control plane: \(text)"
        case .registry(let text): "registry: \(text)"
        }
    }
}
