import Foundation
import Testing

#if canImport(Glibc)
import Glibc
#endif

/// A throwaway PostgreSQL 15 server for tests: its own data folder under /tmp, listening on
/// 127.0.0.1 on a free port with trust authentication, its socket in that folder.
///
/// Tests run as root and initdb refuses root, so initdb and postgres run as the `postgres` user
/// (through `runuser`) on a folder chowned to it. Readiness is polled with `pg_isready` in a
/// bounded loop. `stop()` kills the server (`pg_ctl stop -m immediate`) and deletes the folder.
///
/// Self-contained (Foundation only) so other test targets can copy it as is.
final class TestPostgres: Sendable {
    static let binaries = "/usr/lib/postgresql/15/bin"

    enum Failure: Error, CustomStringConvertible {
        case command(String, status: Int32, output: String)
        case notReady(String)
        var description: String {
            switch self {
            case .command(let command, let status, let output): return "\(command) exited with \(status):\n\(output)"
            case .notReady(let log): return "PostgreSQL did not become ready:\n\(log)"
            }
        }
    }

    let root: String
    let port: Int
    private let server: ServerProcess

    var dataDirectory: String { root + "/data" }
    var socketDirectory: String { root + "/sock" }
    var logFile: String { root + "/postgres.log" }

    /// A libpq key/value connection string for one database (superuser `postgres`, no password).
    func connectionString(database: String = "postgres") -> String {
        "host=127.0.0.1 port=\(port) user=postgres dbname=\(database)"
    }

    private init(root: String, port: Int, server: ServerProcess) {
        self.root = root
        self.port = port
        self.server = server
    }

    /// initdb + start + wait for readiness. Retries with another port if the chosen one was
    /// taken between choosing and binding.
    static func start() async throws -> TestPostgres {
        let root = try makeTemporaryDirectory()
        do {
            try FileManager.default.createDirectory(atPath: root + "/data", withIntermediateDirectories: false,
                                                    attributes: [.posixPermissions: 0o700])
            try FileManager.default.createDirectory(atPath: root + "/sock", withIntermediateDirectories: false)
            try await run(["/bin/chown", "-R", "postgres:postgres", root], in: root)
            try await run(asPostgres([binaries + "/initdb", "-D", root + "/data", "-U", "postgres", "-A", "trust",
                                      "-E", "UTF8", "--locale=C", "--no-sync"]), in: root)
            var lastFailure: (any Error)?
            for _ in 0..<3 {
                let port = try freePort()
                let server = try ServerProcess.launch(asPostgres([
                    binaries + "/postgres", "-D", root + "/data", "-p", String(port), "-k", root + "/sock",
                    "-c", "listen_addresses=127.0.0.1", "-c", "fsync=off", "-c", "synchronous_commit=off",
                    "-c", "full_page_writes=off", "-c", "max_connections=200",
                ]), log: root + "/postgres.log", in: root)
                let instance = TestPostgres(root: root, port: port, server: server)
                do {
                    try await instance.waitUntilReady()
                    return instance
                } catch {
                    lastFailure = error
                    await instance.stopServer()
                }
            }
            throw lastFailure ?? Failure.notReady("no attempt made")
        } catch {
            try? FileManager.default.removeItem(atPath: root)
            throw error
        }
    }

    /// Polls `pg_isready` until the server accepts connections: at most ~30 s, and not at all
    /// once the server process has exited.
    private func waitUntilReady() async throws {
        for _ in 0..<300 {
            guard server.isRunning else { break }
            let status = try await Self.run(
                [Self.binaries + "/pg_isready", "-q", "-h", "127.0.0.1", "-p", String(port), "-t", "1"],
                in: root, check: false)
            if status == 0 { return }
            try await Task.sleep(for: .milliseconds(100))  // poll interval, not a synchronization
        }
        let log = (try? String(contentsOfFile: logFile, encoding: .utf8)) ?? "(no log)"
        throw Failure.notReady(log)
    }

    /// Creates an empty database and returns its connection string.
    func createDatabase(_ name: String) async throws -> String {
        try await Self.run([Self.binaries + "/createdb", "-h", "127.0.0.1", "-p", String(port), "-U", "postgres", name],
                           in: root)
        return connectionString(database: name)
    }

    /// Kills the server and deletes its folder.
    func stop() async {
        await stopServer()
        try? FileManager.default.removeItem(atPath: root)
    }

    private func stopServer() async {
        if server.isRunning {
            _ = try? await Self.run(Self.asPostgres([Self.binaries + "/pg_ctl", "stop", "-D", dataDirectory,
                                                     "-m", "immediate", "-w", "-t", "30"]), in: root, check: false)
        }
        await server.waitForExit(timeout: .seconds(30))
    }

    // MARK: Processes

    static func asPostgres(_ arguments: [String]) -> [String] {
        ["/usr/sbin/runuser", "-u", "postgres", "--"] + arguments
    }

    /// Runs a command to completion without blocking a thread; output goes to a log file in
    /// `directory` and is quoted in the error when `check` and the status is not 0.
    @discardableResult
    static func run(_ arguments: [String], in directory: String, check: Bool = true) async throws -> Int32 {
        let outputPath = directory + "/command-\(UUID().uuidString).log"
        _ = FileManager.default.createFile(atPath: outputPath, contents: nil)
        defer { try? FileManager.default.removeItem(atPath: outputPath) }
        guard let output = FileHandle(forWritingAtPath: outputPath) else {
            throw Failure.command(arguments.joined(separator: " "), status: -1, output: "cannot open \(outputPath)")
        }
        defer { try? output.close() }
        let process = Process()
        process.executableURL = URL(fileURLWithPath: arguments[0])
        process.arguments = Array(arguments.dropFirst())
        process.currentDirectoryURL = URL(fileURLWithPath: directory)  // postgres cannot enter root's cwd
        process.standardInput = FileHandle.nullDevice
        process.standardOutput = output
        process.standardError = output
        let status: Int32 = try await withCheckedThrowingContinuation { continuation in
            process.terminationHandler = { finished in continuation.resume(returning: finished.terminationStatus) }
            do {
                try process.run()
            } catch {
                process.terminationHandler = nil
                continuation.resume(throwing: error)
            }
        }
        if check, status != 0 {
            let text = (try? String(contentsOfFile: outputPath, encoding: .utf8)) ?? ""
            throw Failure.command(arguments.joined(separator: " "), status: status, output: text)
        }
        return status
    }

    private static func makeTemporaryDirectory() throws -> String {
        var template = Array("/tmp/kassa-pg-XXXXXX".utf8CString)
        guard let pointer = mkdtemp(&template) else {
            throw Failure.command("mkdtemp", status: errno, output: "cannot create a temporary folder")
        }
        return String(cString: pointer)
    }

    /// A port the kernel just handed out on 127.0.0.1 (free at that moment).
    static func freePort() throws -> Int {
        let descriptor = socket(AF_INET, Int32(SOCK_STREAM.rawValue), 0)
        guard descriptor >= 0 else { throw Failure.command("socket", status: errno, output: "") }
        defer { close(descriptor) }
        var address = sockaddr_in()
        address.sin_family = sa_family_t(AF_INET)
        address.sin_port = 0
        address.sin_addr.s_addr = inet_addr("127.0.0.1")
        var length = socklen_t(MemoryLayout<sockaddr_in>.size)
        let bound = withUnsafePointer(to: &address) {
            $0.withMemoryRebound(to: sockaddr.self, capacity: 1) { bind(descriptor, $0, length) }
        }
        guard bound == 0 else { throw Failure.command("bind", status: errno, output: "") }
        let named = withUnsafeMutablePointer(to: &address) {
            $0.withMemoryRebound(to: sockaddr.self, capacity: 1) { getsockname(descriptor, $0, &length) }
        }
        guard named == 0 else { throw Failure.command("getsockname", status: errno, output: "") }
        return Int(UInt16(bigEndian: address.sin_port))
    }
}

/// The long-running server process (runuser → postgres), watched for exit.
private final class ServerProcess: @unchecked Sendable {
    private let process: Process
    private let lock = NSLock()
    private var exited = false
    private var waiters: [CheckedContinuation<Void, Never>] = []

    private init(process: Process) { self.process = process }

    static func launch(_ arguments: [String], log: String, in directory: String) throws -> ServerProcess {
        if !FileManager.default.fileExists(atPath: log) { _ = FileManager.default.createFile(atPath: log, contents: nil) }
        guard let output = FileHandle(forWritingAtPath: log) else {
            throw TestPostgres.Failure.command("open \(log)", status: -1, output: "")
        }
        output.seekToEndOfFile()
        let process = Process()
        process.executableURL = URL(fileURLWithPath: arguments[0])
        process.arguments = Array(arguments.dropFirst())
        process.currentDirectoryURL = URL(fileURLWithPath: directory)
        process.standardInput = FileHandle.nullDevice
        process.standardOutput = output
        process.standardError = output
        let server = ServerProcess(process: process)
        process.terminationHandler = { _ in
            try? output.close()
            server.markExited()
        }
        try process.run()
        return server
    }

    var isRunning: Bool {
        lock.lock()
        defer { lock.unlock() }
        return !exited
    }

    private func markExited() {
        lock.lock()
        exited = true
        let pending = waiters
        waiters.removeAll()
        lock.unlock()
        for waiter in pending { waiter.resume() }
    }

    /// Waits for the process to exit, at most `timeout` (then SIGKILLs it and waits on).
    func waitForExit(timeout: Duration) async {
        let watchdog = Task { [process] in
            try await Task.sleep(for: timeout)
            if process.isRunning { kill(process.processIdentifier, SIGKILL) }
        }
        await withCheckedContinuation { (continuation: CheckedContinuation<Void, Never>) in
            lock.lock()
            if exited {
                lock.unlock()
                continuation.resume()
            } else {
                waiters.append(continuation)
                lock.unlock()
            }
        }
        watchdog.cancel()
    }
}

// MARK: - One server around a whole suite

/// Suite trait: starts one `TestPostgres` before the suite's tests and stops it after them.
/// Tests reach it through `TestPostgres.current` and create a database each.
struct PostgresServerTrait: SuiteTrait, TestScoping {
    func scopeProvider(for test: Test, testCase: Test.Case?) -> Self? {
        test.isSuite ? self : nil
    }

    func provideScope(for test: Test, testCase: Test.Case?,
                      performing function: @Sendable () async throws -> Void) async throws {
        let server = try await TestPostgres.start()
        do {
            try await TestPostgres.$current.withValue(server) { try await function() }
        } catch {
            await server.stop()
            throw error
        }
        await server.stop()
    }
}

extension Trait where Self == PostgresServerTrait {
    /// A PostgreSQL server for the whole suite (see `TestPostgres`).
    static var postgresServer: Self { Self() }
}

extension TestPostgres {
    @TaskLocal static var current: TestPostgres?

    enum Missing: Error { case noServer }

    /// The suite's server; fails the test when the suite lacks `.postgresServer`.
    static func shared() throws -> TestPostgres {
        guard let current else { throw Missing.noServer }
        return current
    }
}
