/// An accepted receipt that has not reached `done` or `fail` yet.
struct PendingReceipt: Sendable {
    var uuid: String
    var tenantIndex: Int
    var groupCode: String
    var externalID: String
    var totalKopecks: Int
    var acceptedAt: ContinuousClock.Instant
}

/// What a deliberate duplicate needs to rebuild and check the original post.
struct AcceptedReference: Sendable {
    var number: Int
    var tenantIndex: Int
    var timestamp: String
    var uuid: String
}

/// Pending receipts in the order they become due for polling.
///
/// Every receipt is (re)queued at "now + poll interval" and now only grows, so a FIFO
/// is already sorted by due time: taking the due ones is popping from the front, with
/// no scan over everything pending.
struct DueQueue: Sendable {
    private var entries: [(uuid: String, due: ContinuousClock.Instant)] = []
    private var head = 0

    var isEmpty: Bool { head == entries.count }

    mutating func append(_ uuid: String, due: ContinuousClock.Instant) {
        entries.append((uuid, due))
    }

    /// Removes and returns up to `limit` uuids due at `now`.
    mutating func popDue(now: ContinuousClock.Instant, limit: Int) -> [String] {
        var out: [String] = []
        while out.count < limit, head < entries.count, entries[head].due <= now {
            out.append(entries[head].uuid)
            head += 1
        }
        // Reclaim the consumed prefix once it dominates the storage.
        if head > 4096, head * 2 > entries.count {
            entries.removeFirst(head)
            head = 0
        }
        return out
    }
}
