import DequeModule
import Foundation
import KassaModel

/// A tenant desk's queue of receipts waiting for a kassa, with a bounded part in memory.
///
/// Only a window of jobs is held whole (`held`); past it, an admitted job is kept as its uuid
/// and offset (`spilled`), since its body is in the registry (`jobs.body`), and read back in
/// batches as the window drains. Under a long overload (offered load above what the kassas can
/// do) the backlog then costs a few dozen bytes a job instead of the decoded receipt (about
/// 1.4 KB), so a dispatcher's memory follows its kassas, not the backlog. Pausing the topic's
/// partitions would bound it too, but would stall every tenant that shares a partition with
/// the overloaded one.
struct ReceiptQueue {
    /// A job held whole: ready for a kassa.
    struct Queued: Sendable {
        var job: ReceiptJob
        /// The Kafka offset to commit once the job is durable; nil for refunds the desk issued
        /// itself (their durability is the annulment row in the registry).
        var offset: Int64?
        var failedOn: [KassaCandidate] = []
        /// Resent while in doubt on another kassa (resend-and-annul).
        var resend = false
        /// Was found in doubt on a kassa of a previous owner: it may be in that FN, so the
        /// deadline never fails it.
        var mayBeFiscalized = false
    }

    /// A job past the window: its body waits in the registry.
    struct Spilled: Sendable, Equatable {
        var uuid: UUID
        var offset: Int64
    }

    private(set) var held: Deque<Queued> = []
    private(set) var spilled: Deque<Spilled> = []
    /// Spilled jobs being read back from the registry now (at most one batch at a time).
    private(set) var readingBack = 0

    /// Jobs read back in one registry statement, at most.
    static let readBackLimit = 500

    /// Every job waiting: held, spilled and being read back.
    var count: Int { held.count + spilled.count + readingBack }
    /// Whether some jobs wait in the registry (spilled or being read back).
    var isSpilling: Bool { !spilled.isEmpty || readingBack > 0 }

    /// A new job from the topic goes behind every other. It is held whole while the window
    /// has room and nothing is spilled (so jobs keep their order); otherwise, if the registry
    /// has its body (`admitted`), it is spilled. Returns whether it was.
    @discardableResult
    mutating func append(_ item: Queued, admitted: Bool, window: Int) -> Bool {
        guard admitted, let offset = item.offset, isSpilling || held.count >= window else {
            held.append(item)
            return false
        }
        spilled.append(Spilled(uuid: item.job.uuid, offset: offset))
        return true
    }

    /// A job back at the head (a retry, a resend, a receipt waiting for the registry).
    mutating func prepend(_ item: Queued) {
        held.prepend(item)
    }

    mutating func removeFirst() -> Queued { held.removeFirst() }
    mutating func removeHeld(at index: Int) -> Queued { held.remove(at: index) }
    mutating func swapHeld(_ i: Int, _ j: Int) { held.swapAt(i, j) }

    /// The next spilled jobs to read back, once the held part has drained below half the
    /// window and no batch is on its way; nil when there is nothing to do.
    mutating func nextReadBack(window: Int) -> [Spilled]? {
        guard readingBack == 0, !spilled.isEmpty, held.count < max(1, window / 2) else { return nil }
        let n = min(spilled.count, max(1, window - held.count), Self.readBackLimit)
        let batch = Array(spilled.prefix(n))
        spilled.removeFirst(n)
        readingBack = n
        return batch
    }

    /// The batch came back: its jobs join the held part behind what is there.
    mutating func readBack(_ jobs: [Queued]) {
        held.append(contentsOf: jobs)
        readingBack = 0
    }

    /// The batch could not be read: it goes back in front of the spilled part, in order.
    mutating func readBackFailed(_ batch: [Spilled]) {
        spilled.insert(contentsOf: batch, at: 0)
        readingBack = 0
    }

    /// Takes out the held jobs that `expired` selects, and the spilled ones whose uuid it does.
    mutating func removeExpired(held expired: (Queued) -> Bool, spilled expiredUUID: (UUID) -> Bool) -> (held: [Queued], spilled: [Spilled]) {
        let heldOut = held.filter(expired)
        if !heldOut.isEmpty { held.removeAll(where: expired) }
        let spilledOut = spilled.filter { expiredUUID($0.uuid) }
        if !spilledOut.isEmpty { spilled.removeAll { expiredUUID($0.uuid) } }
        return (Array(heldOut), Array(spilledOut))
    }

    /// Puts a spilled job back in front (its expiry could not be written).
    mutating func respill(_ item: Spilled) {
        spilled.prepend(item)
    }

    mutating func removeAll() {
        held.removeAll()
        spilled.removeAll()
    }
}
