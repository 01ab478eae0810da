import Foundation
import KassaModel
import KassaWire

#if canImport(Glibc)
import Glibc
#elseif canImport(Musl)
import Musl
#elseif canImport(Darwin)
import Darwin
#endif

/// The files of one FN, `<data-dir>/<fn_serial>/`:
/// - `archive.jsonl`: every document, one JSON object per line in number order, each line
///   written and fsynced before the command is answered. The truth about documents.
/// - `state.json`: the `FiscalDrive` (key, registration, highest epoch, shift, counters),
///   replaced atomically (temporary file, fsync, rename, fsync of the directory). The module
///   saves it whenever something the archive cannot tell changes (creation, registration,
///   epoch) and otherwise only now and then, because a new file per receipt costs more than
///   the receipt; its counters may therefore lag the archive, and loading replays the
///   archive's documents past them.
///
/// A torn last archive line (or an unreadable one) is cut off on load. All calls block; the
/// module runs them on a thread pool.
struct DriveStore: Sendable {
    let directory: String
    /// fsync after each write. Off only for throwaway fleets (benchmarks of the rest).
    let syncToDisk: Bool

    init(dataDirectory: String, serial: String, syncToDisk: Bool = true) {
        self.directory = (dataDirectory as NSString).appendingPathComponent(serial)
        self.syncToDisk = syncToDisk
    }

    var statePath: String { directory + "/state.json" }
    var archivePath: String { directory + "/archive.jsonl" }

    /// What loading found and did, for the log.
    struct Loaded: Sendable {
        var drive: FiscalDrive
        var index: ArchiveIndex
        var created = false
        var tornBytesDropped: Int64 = 0
        var documentsReplayed: Int64 = 0
    }

    /// Loads the FN, or creates it with `make()` when the directory holds none yet.
    func load(orCreate make: () -> FiscalDrive) throws(StorageError) -> Loaded {
        try FileIO.makeDirectory(directory)
        guard let stateBytes = try FileIO.readFile(statePath) else {
            if let archive = try FileIO.readFile(archivePath), !archive.isEmpty {
                throw StorageError(
                    path: statePath, message: "missing, but archive.jsonl has documents: the FN's key is lost")
            }
            let drive = make()
            // An empty archive from the start, so a checker finds both files for every FN.
            let fd = try FileIO.open(archivePath, O_WRONLY | O_CREAT | O_TRUNC)
            FileIO.close(fd)
            try save(drive)
            return Loaded(drive: drive, index: ArchiveIndex(), created: true)
        }
        var drive: FiscalDrive
        do {
            drive = try WireJSON.makeDecoder().decode(FiscalDrive.self, from: Data(stateBytes))
        } catch {
            throw StorageError(path: statePath, message: "unreadable: \(WireJSON.describe(error))")
        }
        let serial = (directory as NSString).lastPathComponent
        guard drive.serial == serial else {
            throw StorageError(path: statePath, message: "holds FN \(drive.serial), expected \(serial)")
        }
        let (index, torn) = try scanArchive()
        guard drive.lastDocumentNumber <= index.lastNumber else {
            throw StorageError(
                path: archivePath,
                message: "ends at document \(index.lastNumber), but state.json counts \(drive.lastDocumentNumber)")
        }
        var loaded = Loaded(drive: drive, index: index, tornBytesDropped: torn)
        if drive.lastDocumentNumber < index.lastNumber {
            let decoder = WireJSON.makeDecoder()
            try forEachLine(after: drive.lastDocumentNumber, index: index) { number, line throws(StorageError) in
                do {
                    try drive.replay(try decoder.decode(FiscalDocument.self, from: Data(line)))
                } catch {
                    throw StorageError(path: archivePath, message: "cannot replay document \(number): \(error)")
                }
                return true
            }
            loaded.documentsReplayed = index.lastNumber - loaded.drive.lastDocumentNumber
            loaded.drive = drive
            try save(drive)
        }
        return loaded
    }

    /// Writes `state.json`.
    func save(_ drive: FiscalDrive) throws(StorageError) {
        let encoder = JSONEncoder()
        encoder.outputFormatting = [.sortedKeys, .prettyPrinted, .withoutEscapingSlashes]
        let bytes: [UInt8]
        do {
            bytes = Array(try encoder.encode(drive)) + [UInt8(ascii: "\n")]
        } catch {
            throw StorageError(path: statePath, message: "cannot encode the state: \(error)")
        }
        try FileIO.replace(statePath, with: bytes, sync: syncToDisk)
    }

    /// Appends `documents` (one line each) after the archive's last whole line, fsyncs, and
    /// returns the index that counts them. On failure the file is cut back to where it was.
    func append(_ documents: [FiscalDocument], to index: ArchiveIndex) throws(StorageError) -> ArchiveIndex {
        var bytes: [UInt8] = []
        var lengths: [Int64] = []
        for document in documents {
            var line = JSONWriter(capacity: 768)
            document.write(to: &line)
            bytes += line.bytes
            bytes.append(UInt8(ascii: "\n"))
            lengths.append(Int64(line.bytes.count + 1))
        }
        let fd = try FileIO.open(archivePath, O_WRONLY | O_CREAT)
        defer { FileIO.close(fd) }
        do {
            // Written at the index's end rather than O_APPEND: anything past the last whole line
            // (left by an earlier failed write) is overwritten, never glued to a new line.
            try FileIO.write(fd, bytes, at: index.endOffset, path: archivePath)
            let end = index.endOffset + Int64(bytes.count)
            if try FileIO.size(fd, path: archivePath) > end {
                try FileIO.truncate(fd, to: end, path: archivePath)
            }
            if syncToDisk { try FileIO.sync(fd, path: archivePath) }
        } catch {
            try? FileIO.truncate(fd, to: index.endOffset, path: archivePath)
            throw error
        }
        var next = index
        for length in lengths { next.append(lineLength: length) }
        return next
    }

    /// Archive lines for documents after `after`, as a JSON array body (objects joined by
    /// commas): at most `limit`, and stopping before `byteBudget` bytes unless that would return
    /// none. The lines are the archive's own bytes, so `archive` answers exactly what is on disk.
    func readPage(after: Int64, limit: Int, byteBudget: Int, index: ArchiveIndex) throws(StorageError)
        -> (json: [UInt8], count: Int)
    {
        var json: [UInt8] = []
        var count = 0
        try forEachLine(after: after, index: index) { _, line in
            if count > 0, json.count + 1 + line.count > byteBudget { return false }
            if count > 0 { json.append(UInt8(ascii: ",")) }
            json += line
            count += 1
            return count < limit
        }
        return (json, count)
    }

    /// Calls `body` with the number and bytes (no newline) of each document after `after`, in
    /// order, until it returns false or the indexed part of the archive ends.
    private func forEachLine(
        after: Int64, index: ArchiveIndex, _ body: (Int64, ArraySlice<UInt8>) throws(StorageError) -> Bool
    ) throws(StorageError) {
        guard let start = index.start(after: after) else { return }
        let fd = try FileIO.open(archivePath, O_RDONLY)
        defer { FileIO.close(fd) }
        var number = start.number
        var offset = start.offset
        var pending: [UInt8] = []
        let chunk: Int64 = 256 * 1024
        while offset < index.endOffset {
            let bytes = try FileIO.read(
                fd, at: offset, count: Int(min(chunk, index.endOffset - offset)), path: archivePath)
            if bytes.isEmpty { return }
            offset += Int64(bytes.count)
            pending += bytes
            var lineStart = 0
            while let newline = pending[lineStart...].firstIndex(of: UInt8(ascii: "\n")) {
                let line = pending[lineStart..<newline]
                lineStart = newline + 1
                defer { number += 1 }
                if number > after, try !body(number, line) { return }
            }
            pending.removeFirst(lineStart)
        }
    }

    /// Reads the archive through: builds the index, cuts a torn or unreadable last line off the
    /// file, and checks that the last document's number is the line count.
    private func scanArchive() throws(StorageError) -> (ArchiveIndex, tornBytes: Int64) {
        let fd = try FileIO.open(archivePath, O_RDWR | O_CREAT)
        defer { FileIO.close(fd) }
        let size = try FileIO.size(fd, path: archivePath)
        var index = ArchiveIndex()
        var lastLine: (offset: Int64, length: Int64)?
        var offset: Int64 = 0
        var lineStart: Int64 = 0
        let chunk: Int64 = 1 << 20
        while offset < size {
            let bytes = try FileIO.read(fd, at: offset, count: Int(min(chunk, size - offset)), path: archivePath)
            if bytes.isEmpty { break }
            var i = bytes.startIndex
            while let newline = bytes[i...].firstIndex(of: UInt8(ascii: "\n")) {
                let end = offset + Int64(newline) + 1
                index.append(lineLength: end - lineStart)
                lastLine = (lineStart, end - lineStart)
                lineStart = end
                i = newline + 1
            }
            offset += Int64(bytes.count)
        }
        // An unreadable last line is a torn write (a crash can leave zeros, or half a line that
        // happens to end in a newline). The lines before it were fsynced whole.
        var last: FiscalDocument?
        if let line = lastLine {
            let bytes = try FileIO.read(fd, at: line.offset, count: Int(line.length - 1), path: archivePath)
            if let document = try? WireJSON.makeDecoder().decode(FiscalDocument.self, from: Data(bytes)) {
                last = document
            } else {
                index.dropLast(lineLength: line.length)
            }
        }
        let torn = size - index.endOffset
        if torn > 0 {
            try FileIO.truncate(fd, to: index.endOffset, path: archivePath)
            if syncToDisk { try FileIO.sync(fd, path: archivePath) }
        }
        if let last, last.fiscalDocumentNumber != index.lastNumber {
            throw StorageError(
                path: archivePath,
                message: "holds \(index.lastNumber) whole lines, but the last is document \(last.fiscalDocumentNumber)")
        }
        return (index, torn)
    }
}
