/// Where documents start in `archive.jsonl`, sparsely: the byte offset of every 256th document.
///
/// Documents are numbered 1, 2, 3, ... with no gaps, one per line in number order, so a sparse
/// index finds any document with one short forward scan, and 2,304 modules with full FNs still
/// hold only about 1,000 offsets each in memory.
struct ArchiveIndex: Sendable, Equatable {
    static let stride: Int64 = 256

    /// `checkpoints[k]` is the offset of document `k * stride + 1`.
    private(set) var checkpoints: [Int64] = []
    /// The length of the archive's whole lines: where the next document goes.
    private(set) var endOffset: Int64 = 0
    /// The newest document's number (0 when empty).
    private(set) var lastNumber: Int64 = 0

    /// Counts the next document (number `lastNumber + 1`), a line of `length` bytes with its newline.
    mutating func append(lineLength length: Int64) {
        if lastNumber % Self.stride == 0 {
            checkpoints.append(endOffset)
        }
        lastNumber += 1
        endOffset += length
    }

    /// Forgets the newest document, a line of `length` bytes (a torn or unreadable last line).
    mutating func dropLast(lineLength length: Int64) {
        guard lastNumber > 0 else { return }
        lastNumber -= 1
        endOffset -= length
        if lastNumber % Self.stride == 0 {
            checkpoints.removeLast()
        }
    }

    /// Where to start reading for documents after `after`: an offset and the number of the
    /// document there; nil when there is none after `after`.
    func start(after: Int64) -> (offset: Int64, number: Int64)? {
        let first = max(after, 0) + 1
        guard first <= lastNumber else { return nil }
        let k = Int((first - 1) / Self.stride)
        guard k < checkpoints.count else { return nil }
        return (checkpoints[k], Int64(k) * Self.stride + 1)
    }
}
