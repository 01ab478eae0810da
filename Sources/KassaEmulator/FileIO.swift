import Foundation

#if canImport(Glibc)
import Glibc
#elseif canImport(Musl)
import Musl
#elseif canImport(Darwin)
import Darwin
#endif

/// A file operation of the emulator's FN storage that failed, with the file and the reason.
public struct StorageError: Error, Sendable, CustomStringConvertible {
    public var path: String
    public var message: String

    public init(path: String, message: String) {
        self.path = path
        self.message = message
    }

    public var description: String { "\(path): \(message)" }

    /// `operation` failed with the current `errno`.
    static func posix(_ path: String, _ operation: String) -> StorageError {
        let code = errno
        return StorageError(path: path, message: "\(operation): \(String(cString: strerror(code))) (errno \(code))")
    }
}

/// The few POSIX file calls the FN storage needs, with EINTR retried and errors typed. Blocking:
/// call them off the cooperative pool (the module runs them on a `NIOThreadPool`).
enum FileIO {
    static func open(_ path: String, _ flags: Int32, mode: mode_t = 0o644) throws(StorageError) -> Int32 {
        while true {
            let fd = path.withCString { posixOpen($0, flags | O_CLOEXEC, mode) }
            if fd >= 0 { return fd }
            if errno != EINTR { throw .posix(path, "open") }
        }
    }

    static func close(_ fd: Int32) {
        _ = posixClose(fd)
    }

    /// Writes every byte at `offset`.
    static func write(_ fd: Int32, _ bytes: [UInt8], at offset: Int64, path: String) throws(StorageError) {
        var done = 0
        while done < bytes.count {
            let n = bytes.withUnsafeBytes { raw in
                pwrite(fd, raw.baseAddress.map { $0 + done }, bytes.count - done, off_t(offset) + off_t(done))
            }
            if n < 0 {
                if errno == EINTR { continue }
                throw .posix(path, "write")
            }
            done += n
        }
    }

    /// Reads up to `count` bytes at `offset` (fewer at the end of the file).
    static func read(_ fd: Int32, at offset: Int64, count: Int, path: String) throws(StorageError) -> [UInt8] {
        var buffer = [UInt8](repeating: 0, count: count)
        var done = 0
        while done < count {
            let n = buffer.withUnsafeMutableBytes { raw in
                pread(fd, raw.baseAddress.map { $0 + done }, count - done, off_t(offset) + off_t(done))
            }
            if n < 0 {
                if errno == EINTR { continue }
                throw .posix(path, "read")
            }
            if n == 0 { break }
            done += n
        }
        buffer.removeLast(count - done)
        return buffer
    }

    static func size(_ fd: Int32, path: String) throws(StorageError) -> Int64 {
        var info = stat()
        guard fstat(fd, &info) == 0 else { throw .posix(path, "fstat") }
        return Int64(info.st_size)
    }

    static func truncate(_ fd: Int32, to size: Int64, path: String) throws(StorageError) {
        guard ftruncate(fd, off_t(size)) == 0 else { throw .posix(path, "ftruncate") }
    }

    static func sync(_ fd: Int32, path: String) throws(StorageError) {
        guard fsync(fd) == 0 else { throw .posix(path, "fsync") }
    }

    /// The whole file, or nil if it does not exist.
    static func readFile(_ path: String) throws(StorageError) -> [UInt8]? {
        let fd: Int32
        do {
            fd = try open(path, O_RDONLY)
        } catch {
            if errno == ENOENT { return nil }
            throw error
        }
        defer { close(fd) }
        return try read(fd, at: 0, count: Int(try size(fd, path: path)), path: path)
    }

    static func exists(_ path: String) -> Bool {
        access(path, F_OK) == 0
    }

    /// Replaces `path` with `bytes` so that a crash leaves the old or the new file, never a mix:
    /// write a temporary file, fsync it, rename it over, fsync the directory.
    static func replace(_ path: String, with bytes: [UInt8], sync: Bool) throws(StorageError) {
        let temporary = path + ".tmp"
        let fd = try open(temporary, O_WRONLY | O_CREAT | O_TRUNC)
        do {
            try write(fd, bytes, at: 0, path: temporary)
            if sync { try self.sync(fd, path: temporary) }
        } catch {
            close(fd)
            throw error
        }
        close(fd)
        guard rename(temporary, path) == 0 else { throw .posix(path, "rename") }
        if sync { try syncDirectory(of: path) }
    }

    /// Makes a new or renamed entry in the directory of `path` durable.
    static func syncDirectory(of path: String) throws(StorageError) {
        let directory = (path as NSString).deletingLastPathComponent
        let fd = try open(directory.isEmpty ? "." : directory, O_RDONLY)
        defer { close(fd) }
        try sync(fd, path: directory)
    }

    static func makeDirectory(_ path: String) throws(StorageError) {
        do {
            try FileManager.default.createDirectory(atPath: path, withIntermediateDirectories: true)
        } catch {
            throw StorageError(path: path, message: "cannot create directory: \(error.localizedDescription)")
        }
    }
}

// The C calls under names that do not clash with `FileIO.open` / `FileIO.close`.
private func posixOpen(_ path: UnsafePointer<CChar>, _ flags: Int32, _ mode: mode_t) -> Int32 {
    open(path, flags, mode)
}

private func posixClose(_ fd: Int32) -> Int32 {
    close(fd)
}
