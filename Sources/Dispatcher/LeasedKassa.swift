import Registry
import Synchronization

/// A kassa this dispatcher holds a lease on: its place in the topology, the lease epoch, the
/// session that carries the epoch, and the last document number we know the FN has.
final class LeasedKassa: Sendable {
    let id: Int64
    let epoch: Int64
    let candidateBase: KassaCandidate
    let session: KassaSession
    /// The tenant's tax system, for receipts that leave `sno` out.
    let defaultSNO: String
    private let lastDocument: Mutex<Int64>

    init(record: KassaRecord, epoch: Int64, session: KassaSession, defaultSNO: String) {
        self.id = record.id
        self.defaultSNO = defaultSNO
        self.epoch = epoch
        self.candidateBase = KassaCandidate(id: record.id, site: record.site, rack: record.rack, assembly: record.assembly, used: 0)
        self.session = session
        self.lastDocument = Mutex(record.lastDocumentNumber)
    }

    var lastDocumentNumber: Int64 { lastDocument.withLock { $0 } }

    func advance(to number: Int64) {
        lastDocument.withLock { $0 = max($0, number) }
    }
}
