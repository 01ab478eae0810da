import Foundation
#if canImport(Glibc)
import Glibc
#endif

/// Runs `body` against a fresh Tansu broker and stops the broker afterwards, also on failure.
func withTansuBroker<T>(_ body: (TansuBroker) async throws -> T) async throws -> T {
    let broker = try await TansuBroker.start()
    do {
        let result = try await body(broker)
        await broker.stop()
        return result
    } catch {
        await broker.stop()
        throw error
    }
}

/// A throwaway Tansu broker (memory storage) on a free loopback port.
final class TansuBroker {
    let port: Int
    private let process: Process
    private let exited: AsyncStream<Never>

    var bootstrapServers: String { "127.0.0.1:\(port)" }

    private init(port: Int, process: Process, exited: AsyncStream<Never>) {
        self.port = port
        self.process = process
        self.exited = exited
    }

    /// The repository root: `KASSA_ROOT`, or three levels above this file.
    static var repositoryRoot: URL {
        if let root = ProcessInfo.processInfo.environment["KASSA_ROOT"], !root.isEmpty {
            return URL(fileURLWithPath: root)
        }
        return URL(fileURLWithPath: #filePath)
            .deletingLastPathComponent()  // KafkaTests
            .deletingLastPathComponent()  // Tests
            .deletingLastPathComponent()
    }

    /// Starts the broker and returns once it accepts TCP connections (or throws after `timeout`).
    static func start(timeout: Duration = .seconds(10)) async throws -> TansuBroker {
        let port = try freeLoopbackPort()
        let process = Process()
        process.executableURL = repositoryRoot.appendingPathComponent(".local/bin/tansu")
        let url = "tcp://127.0.0.1:\(port)"
        process.arguments = ["broker", "--listener-url", url, "--advertised-listener-url", url]
        let logPath = FileManager.default.temporaryDirectory.appendingPathComponent("tansu-\(port).log").path
        _ = FileManager.default.createFile(atPath: logPath, contents: nil)
        if let log = FileHandle(forWritingAtPath: logPath) {
            process.standardOutput = log
            process.standardError = log
        }
        let (exited, exitedContinuation) = AsyncStream.makeStream(of: Never.self)
        process.terminationHandler = { _ in exitedContinuation.finish() }
        try process.run()
        let broker = TansuBroker(port: port, process: process, exited: exited)

        let deadline = ContinuousClock.now + timeout
        while !canConnect(port: port) {
            guard process.isRunning, ContinuousClock.now < deadline else {
                await broker.stop()
                throw BrokerError("tansu did not listen on \(port) within \(timeout); see \(logPath)")
            }
            try await Task.sleep(for: .milliseconds(20))
        }
        return broker
    }

    /// Kills the broker (it keeps nothing worth a graceful shutdown, and ignores SIGTERM) and
    /// waits for its exit without blocking a thread.
    func stop() async {
        if process.isRunning { kill(process.processIdentifier, SIGKILL) }
        for await _ in exited {}
    }

    deinit {
        if process.isRunning { kill(process.processIdentifier, SIGKILL) }
    }
}

struct BrokerError: Error, CustomStringConvertible {
    let description: String
    init(_ description: String) { self.description = description }
}

/// A loopback TCP port nothing listens on (the kernel picks it; we close it again).
func freeLoopbackPort() throws -> Int {
    let descriptor = socket(AF_INET, Int32(SOCK_STREAM.rawValue), 0)
    guard descriptor >= 0 else { throw BrokerError("socket() failed") }
    defer { close(descriptor) }
    var address = loopbackAddress(port: 0)
    var length = socklen_t(MemoryLayout<sockaddr_in>.size)
    let bound = withUnsafeMutablePointer(to: &address) { pointer in
        pointer.withMemoryRebound(to: sockaddr.self, capacity: 1) { socketAddress in
            bind(descriptor, socketAddress, length) == 0 && getsockname(descriptor, socketAddress, &length) == 0
        }
    }
    guard bound else { throw BrokerError("bind() failed") }
    return Int(UInt16(bigEndian: address.sin_port))
}

func canConnect(port: Int) -> Bool {
    let descriptor = socket(AF_INET, Int32(SOCK_STREAM.rawValue), 0)
    guard descriptor >= 0 else { return false }
    defer { close(descriptor) }
    var address = loopbackAddress(port: port)
    return withUnsafePointer(to: &address) { pointer in
        pointer.withMemoryRebound(to: sockaddr.self, capacity: 1) {
            connect(descriptor, $0, socklen_t(MemoryLayout<sockaddr_in>.size)) == 0
        }
    }
}

private func loopbackAddress(port: Int) -> sockaddr_in {
    var address = sockaddr_in()
    address.sin_family = sa_family_t(AF_INET)
    address.sin_port = UInt16(port).bigEndian
    address.sin_addr.s_addr = inet_addr("127.0.0.1")
    return address
}

struct TimedOut: Error, CustomStringConvertible {
    let description: String
}

/// Runs `body`, cancelling it and throwing ``TimedOut`` if it takes longer than `timeout`.
func withTimeout<T: Sendable>(
    _ timeout: Duration,
    _ what: String,
    _ body: @escaping @Sendable () async throws -> T
) async throws -> T {
    try await withThrowingTaskGroup(of: T.self) { group in
        group.addTask { try await body() }
        group.addTask {
            try await Task.sleep(for: timeout)
            throw TimedOut(description: "\(what) did not finish within \(timeout)")
        }
        defer { group.cancelAll() }
        guard let result = try await group.next() else { throw TimedOut(description: what) }
        return result
    }
}
