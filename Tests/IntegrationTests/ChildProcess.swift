import Foundation

/// Runs a program to completion without holding a thread of Swift's cooperative pool.
///
/// `Process.waitUntilExit()` and reading a pipe to its end block the calling thread for as long
/// as the program runs. The pool has one thread per core (two here), so two tests doing that at
/// once (a drill, a cluster/up) stopped every other test for minutes: a test that had just
/// stopped the ingress could not bring it back for 33 s. Here the exit is awaited through
/// `terminationHandler`, and captured output goes to a file that is read once the program ended.
enum ChildProcess {
    struct Finished {
        let status: Int32
        /// Standard output, when captured; empty otherwise.
        let output: String
    }

    /// Where standard error goes.
    enum Errors {
        case inherited
        case discarded
        /// A regular file, created or truncated.
        case file(URL)
    }

    /// Runs `executable`. Standard output is captured when `captureOutput`, else inherited.
    static func run(_ executable: URL, _ arguments: [String] = [], environment: [String: String] = [:],
                    currentDirectory: URL? = nil, captureOutput: Bool = false, errors: Errors = .inherited) async throws -> Finished {
        let process = Self.process(executable, arguments, environment: environment, currentDirectory: currentDirectory)

        let outputFile = FileManager.default.temporaryDirectory.appendingPathComponent("kassa-child-\(UUID().uuidString).out")
        defer { try? FileManager.default.removeItem(at: outputFile) }
        var handles: [FileHandle] = []
        defer { for handle in handles { try? handle.close() } }
        if captureOutput {
            FileManager.default.createFile(atPath: outputFile.path, contents: nil)
            let handle = try FileHandle(forWritingTo: outputFile)
            handles.append(handle)
            process.standardOutput = handle
        }
        switch errors {
        case .inherited:
            break
        case .discarded:
            process.standardError = FileHandle.nullDevice
        case .file(let url):
            // createFile writes a new file and renames it over the path: never a device's path.
            FileManager.default.createFile(atPath: url.path, contents: nil)
            let handle = try FileHandle(forWritingTo: url)
            handles.append(handle)
            process.standardError = handle
        }

        let status: Int32 = try await withCheckedThrowingContinuation { continuation in
            process.terminationHandler = { finished in continuation.resume(returning: finished.terminationStatus) }
            do {
                try process.run()
            } catch {
                process.terminationHandler = nil
                continuation.resume(throwing: error)
            }
        }
        let output = captureOutput ? ((try? String(contentsOf: outputFile, encoding: .utf8)) ?? "") : ""
        return Finished(status: status, output: output)
    }

    /// `run` with output inherited, blocking the calling thread: only for an exit handler, where
    /// nothing else is left to run. Returns the exit status.
    @discardableResult
    static func runBlocking(_ executable: URL, _ arguments: [String] = [], environment: [String: String] = [:]) throws -> Int32 {
        let process = Self.process(executable, arguments, environment: environment, currentDirectory: nil)
        try process.run()
        process.waitUntilExit()
        return process.terminationStatus
    }

    /// A process for `executable`: this process's environment with `environment` over it,
    /// standard input empty.
    private static func process(_ executable: URL, _ arguments: [String], environment: [String: String],
                                currentDirectory: URL?) -> Process {
        let process = Process()
        process.executableURL = executable
        process.arguments = arguments
        var merged = ProcessInfo.processInfo.environment
        for (key, value) in environment { merged[key] = value }
        process.environment = merged
        if let currentDirectory { process.currentDirectoryURL = currentDirectory }
        process.standardInput = FileHandle.nullDevice
        return process
    }
}
