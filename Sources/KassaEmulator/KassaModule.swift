import Foundation
import KassaModel
import KassaWire
import Logging
import NIOCore
import NIOPosix

/// What a connection does with a module's reply to one line.
public enum ModuleReply: Sendable {
    /// Write this line (it ends with `\n`).
    case answer(ByteBuffer)
    /// Close the connection without answering (a fault, or a failed disk: the client is left in
    /// doubt, as with a real device that dies mid-command).
    case hangUp
}

/// One emulated kassa module: a fiscal drive behind the wire protocol.
///
/// Commands are carried out one at a time in arrival order, whichever connection they come on,
/// because the FN is a serial device. `sell` takes the service time (0.9 s / speed) — the
/// emulated FN's work; other commands are immediate. Every document is on disk (fsynced) before
/// the answer goes out. Only the FN's counters live in memory; `archive` reads the file.
///
/// Every document is also queued for the OFD in the FN (persisted with the FN state). In a
/// fleet, a module whose OFD link is up has its queue delivered in the background by the
/// fleet's delivery loop (`Fleet.run`); a module on its own delivers when `deliverToOFD` is
/// called.
///
/// If writing to disk fails the module stops answering (every command hangs up) until it is
/// restarted, which recovers from the files.
public actor KassaModule {
    /// How modules are made.
    public struct Settings: Sendable {
        /// Where FN directories live: `<dataDirectory>/<fn_serial>/`.
        public var dataDirectory: String
        /// How long the FN works on a receipt.
        public var serviceTime: Duration
        /// Capacity of a newly created FN (an existing FN keeps its own).
        public var fnCapacity: Int64
        /// Lifetime of a newly created FN (an existing FN keeps its expiry).
        public var fnLifetime: FiscalDriveLifetime
        /// fsync every write (off only for throwaway fleets).
        public var syncToDisk: Bool
        /// UNSAFE, for chaos drills only: accept commands whose epoch is older than the highest
        /// seen instead of refusing them with `stale_epoch`, i.e. switch lease fencing off, so a
        /// drill can show that the ground-truth checker catches a broken protocol.
        public var unsafeIgnoreEpoch: Bool

        public init(
            dataDirectory: String, serviceTime: Duration = .milliseconds(900),
            fnCapacity: Int64 = FiscalDrive.standardCapacity, fnLifetime: FiscalDriveLifetime = .standard,
            syncToDisk: Bool = true, unsafeIgnoreEpoch: Bool = false
        ) {
            self.dataDirectory = dataDirectory
            self.serviceTime = serviceTime
            self.fnCapacity = fnCapacity
            self.fnLifetime = fnLifetime
            self.syncToDisk = syncToDisk
            self.unsafeIgnoreEpoch = unsafeIgnoreEpoch
        }
    }

    public nonisolated let slot: ModuleSlot
    private var drive: FiscalDrive
    private var index: ArchiveIndex
    private let store: DriveStore
    private let clock: any KassaClock
    private var serviceTime: Duration
    private let threadPool: NIOThreadPool
    private let unsafeIgnoreEpoch: Bool
    private var faults = FaultSwitch()
    /// Set when a write failed; the module then hangs up on every command.
    private var storageFailure: StorageError?
    /// `drive.lastDocumentNumber` as of the last state file save.
    private var savedDocumentNumber: Int64
    /// `drive.ofdDeliveredThrough` as of the last state file save.
    private var savedDeliveredThrough: Int64
    private var ofdLink = OFDLink.up
    /// Where the module asks for delivery; nil outside a fleet.
    private let outbox: OFDOutbox?
    /// In the outbox and not yet taken by the delivery loop (so it is put there once).
    private var awaitingDelivery = false
    /// Documents after which the state file is saved even if nothing else changed.
    static let stateSaveInterval: Int64 = 100
    private let gate = AsyncGate()
    private let logger: Logger

    private init(
        slot: ModuleSlot, loaded: DriveStore.Loaded, store: DriveStore, clock: any KassaClock,
        serviceTime: Duration, threadPool: NIOThreadPool, unsafeIgnoreEpoch: Bool, outbox: OFDOutbox?, logger: Logger
    ) {
        self.slot = slot
        self.drive = loaded.drive
        self.index = loaded.index
        self.savedDocumentNumber = loaded.drive.lastDocumentNumber
        self.savedDeliveredThrough = loaded.drive.ofdDeliveredThrough
        self.outbox = outbox
        self.store = store
        self.clock = clock
        self.serviceTime = serviceTime
        self.threadPool = threadPool
        self.unsafeIgnoreEpoch = unsafeIgnoreEpoch
        self.logger = logger
    }

    /// Loads the module's FN from `<dataDirectory>/<fn_serial>/`, creating it on first use.
    /// On its own (outside a fleet) the module delivers to the OFD only when `deliverToOFD` is
    /// called.
    public static func load(
        slot: ModuleSlot, settings: Settings, clock: any KassaClock = SystemClock(),
        threadPool: NIOThreadPool = .singleton, logger: Logger = Logger(label: "kassa.emulator")
    ) async throws(StorageError) -> KassaModule {
        try await load(slot: slot, settings: settings, clock: clock, threadPool: threadPool, outbox: nil, logger: logger)
    }

    /// The same, for a fleet: the module asks `outbox` for delivery whenever it has documents
    /// for the OFD (at once if it was loaded with a backlog).
    static func load(
        slot: ModuleSlot, settings: Settings, clock: any KassaClock, threadPool: NIOThreadPool, outbox: OFDOutbox?,
        logger: Logger
    ) async throws(StorageError) -> KassaModule {
        var logger = logger
        logger[metadataKey: "kassa"] = "\(slot.name)"
        logger[metadataKey: "fn"] = "\(slot.fnSerial)"
        let store = DriveStore(
            dataDirectory: settings.dataDirectory, serial: slot.fnSerial, syncToDisk: settings.syncToDisk)
        let loaded = try await offload(threadPool, directory: store.directory) { () throws(StorageError) in
            try store.load {
                FiscalDrive(
                    serial: slot.fnSerial, capacity: settings.fnCapacity, createdAt: clock.now(),
                    lifetime: settings.fnLifetime)
            }
        }
        if loaded.tornBytesDropped > 0 {
            logger.warning("dropped a torn last archive line", metadata: ["bytes": "\(loaded.tornBytesDropped)"])
        }
        if loaded.documentsReplayed > 0 {
            logger.notice("state caught up with the archive", metadata: ["documents": "\(loaded.documentsReplayed)"])
        }
        let module = KassaModule(
            slot: slot, loaded: loaded, store: store, clock: clock, serviceTime: settings.serviceTime,
            threadPool: threadPool, unsafeIgnoreEpoch: settings.unsafeIgnoreEpoch, outbox: outbox, logger: logger)
        // The FN kept its queue across the restart; it goes out once the fleet runs.
        await module.requestDelivery()
        return module
    }

    // MARK: Control (the seam for fault injection)

    /// Makes the module show `fault` from its next command on (`.none` clears it). `count`
    /// limits a fault that acts on sells (`ModuleFault.takesCount`) to that many sells; without
    /// it the fault stays until cleared. Callers log the change (one line for many modules).
    public func setFault(_ fault: ModuleFault, count: Int? = nil) {
        faults.set(fault, count: fault.takesCount ? count : nil)
        // A module that was hung or down delivers its backlog once it is neither.
        requestDelivery()
    }

    /// Takes the module's OFD link down (documents pile up in the FN) or brings it up (the
    /// backlog drains). Independent of the module's fault. Callers log the change.
    public func setOFDLink(_ link: OFDLink) {
        ofdLink = link
        requestDelivery()
    }

    /// The OFD link as last set.
    public var currentOFDLink: OFDLink { ofdLink }

    /// What the control plane shows of a module, read in one step.
    public struct Condition: Sendable, Equatable {
        public var fault: ModuleFault
        public var ofdLink: OFDLink
        public var lastDocumentNumber: Int64
        public var undeliveredDocuments: Int64
    }

    /// The module's fault, OFD link and counters.
    public var condition: Condition {
        Condition(
            fault: faults.fault, ofdLink: ofdLink, lastDocumentNumber: drive.lastDocumentNumber,
            undeliveredDocuments: drive.undeliveredDocuments)
    }

    /// The fault the module shows now (`hang` once a `hang_after_fiscalizing` has tripped).
    public var currentFault: ModuleFault { faults.fault }

    /// Commands taken and held unanswered by a `hang` (a probe can await them instead of guessing).
    public private(set) var commandsHeld = 0

    /// Returns once `condition` holds for the module's fault, or when the task is cancelled
    /// (check `Task.isCancelled`).
    public func waitForFault(_ condition: @escaping @Sendable (ModuleFault) -> Bool) async {
        guard !condition(faults.fault) else { return }
        let id = faults.newWaiterID()
        await withTaskCancellationHandler {
            await withCheckedContinuation { (continuation: CheckedContinuation<Void, Never>) in
                // Cancelled before we got here: the handler below found nothing to resume.
                guard !Task.isCancelled else { return continuation.resume() }
                faults.addWaiter(id, until: condition, continuation)
            }
        } onCancel: {
            Task { await self.resumeWaiter(id) }
        }
    }

    private func resumeWaiter(_ id: UInt64) {
        faults.resumeWaiter(id)
    }

    /// The last document number of the FN.
    public var lastDocumentNumber: Int64 { drive.lastDocumentNumber }

    /// Changes how long a receipt takes (a "slow kassa").
    public func setServiceTime(_ serviceTime: Duration) {
        self.serviceTime = serviceTime
    }

    /// The FN's state, as `status` would answer.
    public var status: KassaStatus { drive.status }

    // MARK: The OFD

    /// Whether queued documents can go out now: the link is up, and the module is neither hung
    /// nor down (a board that hangs or has no network sends nothing) nor stopped by a failed disk.
    private var canDeliver: Bool {
        ofdLink == .up && faults.fault != .hang && faults.fault != .down && storageFailure == nil
    }

    /// Puts the module in the fleet's outbox if it has documents it can deliver and is not
    /// there yet. Called whenever one of those conditions may have become true.
    private func requestDelivery() {
        guard drive.undeliveredDocuments > 0, canDeliver, !awaitingDelivery, let outbox else { return }
        awaitingDelivery = true
        outbox.enqueue(self)
    }

    /// Delivers every queued document to the OFD (the OFD's tickets arrive at once: there is
    /// no network to it here) and returns how many; 0 when the link is down or the module is
    /// hung or down. Takes its turn at the FN like a command, so it never interleaves with one.
    /// The fleet's delivery loop calls this; a module on its own delivers only through it.
    @discardableResult
    public func deliverToOFD() async -> Int64 {
        awaitingDelivery = false
        guard canDeliver, drive.undeliveredDocuments > 0 else { return 0 }
        await gate.acquire()
        defer { gate.release() }
        // The link or the fault may have changed while waiting for the FN.
        guard canDeliver else { return 0 }
        var next = drive
        let delivered = next.deliverAllToOFD()
        guard delivered > 0 else { return 0 }
        drive = next
        logger.trace("delivered to the OFD", metadata: ["documents": "\(delivered)"])
        // Acknowledgements are saved now and then, like the counters: after a crash the FN may
        // send up to that many documents again (the OFD knows them by FN and number), but it
        // never forgets one that was not acknowledged.
        if next.ofdDeliveredThrough - savedDeliveredThrough >= Self.stateSaveInterval {
            do {
                try await save(next)
            } catch {
                stopAnswering(error)
            }
        }
        return delivered
    }

    // MARK: Wear (drills)

    /// How a change of the FN's wear (`changeFN`) ended.
    public enum FNChange: Sendable, Equatable {
        /// Done and saved; the FN's state now.
        case changed(KassaStatus)
        /// The FN was held by a command longer than allowed (a hung one): nothing changed.
        case busy
        /// The state file could not be written; the module stops answering as after any
        /// failed write.
        case failed(String)
    }

    /// Makes the FN look worn, for drills: `documentsLeft` documents before it is full
    /// (`FiscalDrive.setDocumentsLeft`) and/or an expiry `expiresIn` seconds from now by the
    /// emulator's clock. Saved to the state file at once (the archive cannot tell it). Waits at
    /// most `wait` for the FN, which a hung command may hold forever.
    public func changeFN(documentsLeft: Int64?, expiresIn: Int64?, wait: Duration) async -> FNChange {
        guard await gate.acquire(within: wait) else { return .busy }
        defer { gate.release() }
        if let storageFailure { return .failed("the module stopped after a failed write: \(storageFailure)") }
        var next = drive
        if let documentsLeft { next.setDocumentsLeft(documentsLeft) }
        if let expiresIn { next.setExpiry(clock.now().addingTimeInterval(Double(expiresIn))) }
        do {
            try await save(next)
        } catch {
            drive = next
            stopAnswering(error)
            return .failed("\(error)")
        }
        drive = next
        return .changed(drive.status)
    }

    // MARK: Serving

    /// The reply to one line from a connection.
    public func respond(to frame: LineFrame) async -> ModuleReply {
        let request: IncomingRequest
        switch frame {
        case .overlong(let limit):
            return refuse(nil, .badRequest("line longer than \(limit) bytes; skipped up to the next newline"))
        case .line(let line):
            switch IncomingRequest.parse(line.readableBytesView) {
            case .failure(let rejection):
                logger.debug("bad request", metadata: ["error": "\(rejection.error.text)"])
                return refuse(rejection.id, rejection.error)
            case .success(let parsed):
                request = parsed
            }
        }
        // A hung module takes the command and does nothing until the fault is lifted.
        if faults.fault == .hang {
            commandsHeld += 1
            await waitForFault { $0 != .hang }
            commandsHeld -= 1
            if Task.isCancelled { return .hangUp }
        }
        // A dead module's listener is closing; a command that slipped in gets no answer.
        if faults.fault == .down { return .hangUp }
        await gate.acquire()
        defer { gate.release() }
        return await execute(request)
    }

    private func execute(_ request: IncomingRequest) async -> ModuleReply {
        if let storageFailure {
            logger.error("not answering: storage failed earlier", metadata: ["error": "\(storageFailure)"])
            return .hangUp
        }
        let id = request.id
        var epoch = request.epoch ?? 0  // present whenever the command needs it (IncomingRequest checks)
        if unsafeIgnoreEpoch, epoch < drive.highestEpoch {
            // Fencing switched off: treat a stale sender as the current holder.
            logger.debug("stale epoch let through (--unsafe-ignore-epoch)", metadata: ["epoch": "\(epoch)", "highest": "\(drive.highestEpoch)"])
            epoch = drive.highestEpoch
        }
        switch request.command {
        case .status:
            return answer(id, drive.status)
        case .register(let registration):
            var next = drive
            do {
                try next.register(registration)
            } catch {
                return refuse(id, error)
            }
            guard await commit(next, []) else { return .hangUp }
            logger.info("registered", metadata: ["inn": "\(registration.inn)"])
            return answer(id, drive.status)
        case .hello:
            var next = drive
            do {
                try next.observe(epoch: epoch)
            } catch {
                return refuse(id, error)
            }
            guard await commit(next, []) else { return .hangUp }
            return answer(id, drive.status)
        case .openShift:
            return await shiftCommand(id) { drive, now throws(KassaWireError) in
                try drive.openShift(epoch: epoch, now: now)
            }
        case .closeShift:
            return await shiftCommand(id) { drive, now throws(KassaWireError) in
                try drive.closeShift(epoch: epoch, now: now)
            }
        case .sell(let receipt):
            return await sell(receipt, id: id, epoch: epoch)
        case .archive(let request):
            return await archive(request, id: id)
        }
    }

    private func shiftCommand(
        _ id: Int64, _ rule: (inout FiscalDrive, Date) throws(KassaWireError) -> FiscalDocument?
    ) async -> ModuleReply {
        var next = drive
        let document: FiscalDocument?
        do {
            document = try rule(&next, clock.now())
        } catch {
            guard await commitEpoch(of: next) else { return .hangUp }
            return refuse(id, error)
        }
        guard await commit(next, document.map { [$0] } ?? []) else { return .hangUp }
        return answer(id, drive.status)
    }

    private func sell(_ receipt: SellRequest, id: Int64, epoch: Int64) async -> ModuleReply {
        // Refusals are answered at once, without the service time.
        var fenced = drive
        do {
            try fenced.observe(epoch: epoch)
            try fenced.checkSell(receipt, now: clock.now())
        } catch {
            guard await commitEpoch(of: fenced) else { return .hangUp }
            logger.debug("sell refused", metadata: ["job": "\(receipt.jobID)", "error": "\(error)"])
            return refuse(id, error)
        }
        guard await commitEpoch(of: fenced) else { return .hangUp }
        // The emulated FN at work. Cancelled (the fleet is stopping) means nothing was made.
        do {
            try await Task.sleep(for: serviceTime)
        } catch {
            return .hangUp
        }
        var next = drive
        let documents: [FiscalDocument]
        do {
            documents = try next.sell(receipt, epoch: epoch, now: clock.now())
        } catch {
            return refuse(id, error)
        }
        guard await commit(next, documents), let document = documents.last else { return .hangUp }
        logger.trace("fiscalized", metadata: ["job": "\(receipt.jobID)", "fd": "\(document.fiscalDocumentNumber)"])
        switch faults.fault {
        case .dropAnswerAfterFiscalizing:
            let spent = faults.spendSell()
            logger.notice("fault: answer dropped after fiscalizing", metadata: ["fd": "\(document.fiscalDocumentNumber)"])
            if spent { logger.notice("fault count spent; the module is normal again") }
            return .hangUp
        case .hangAfterFiscalizing:
            // Every later command now waits in `respond`; this one holds its answer (and the
            // FN) until the fault is lifted, then hangs up: the client never learns the outcome.
            faults.set(.hang, count: nil)
            logger.notice("fault: fiscalized, now hanging", metadata: ["fd": "\(document.fiscalDocumentNumber)"])
            await waitForFault { $0 != .hang }
            return .hangUp
        default:
            return answer(id, document)
        }
    }

    private func archive(_ request: ArchiveRequest, id: Int64) async -> ModuleReply {
        let store = self.store
        let index = self.index
        // Keep the answer line within the 1 MiB a request line may have.
        let budget = LineFrameDecoder.requestLineLimit - 256
        let page: (json: [UInt8], count: Int)
        do {
            page = try await Self.offload(threadPool, directory: store.directory) { () throws(StorageError) in
                try store.readPage(after: request.after, limit: request.limit, byteBudget: budget, index: index)
            }
        } catch {
            logger.error("cannot read the archive", metadata: ["error": "\(error)"])
            return .hangUp
        }
        // The archive lines go out as they are on disk.
        var buffer = ByteBuffer()
        buffer.reserveCapacity(page.json.count + 128)
        buffer.writeString("{\"id\":\(id),\"ok\":true,\"result\":{\"documents\":[")
        buffer.writeBytes(page.json)
        buffer.writeString("],\"last_document_number\":\(index.lastNumber)}}\n")
        return .answer(buffer)
    }

    // MARK: Persistence

    /// Makes `next` the FN state: archives `documents` first (the archive is the truth), then
    /// saves the state file if `next` changed something the archive cannot tell, or the file
    /// is `stateSaveInterval` documents behind. False (and the module stops answering) if the
    /// disk failed.
    private func commit(_ next: FiscalDrive, _ documents: [FiscalDocument]) async -> Bool {
        guard next != drive || !documents.isEmpty else { return true }
        let mustSave =
            next.registration != drive.registration || next.highestEpoch != drive.highestEpoch
            || next.shift.isOpen != drive.shift.isOpen
            || next.lastDocumentNumber - savedDocumentNumber >= Self.stateSaveInterval
        let store = self.store
        do throws(StorageError) {
            if !documents.isEmpty {
                let index = self.index
                self.index = try await Self.offload(threadPool, directory: store.directory) {
                    () throws(StorageError) in
                    try store.append(documents, to: index)
                }
            }
            drive = next
            if mustSave { try await save(next) }
            requestDelivery()
            return true
        } catch {
            // The archive may or may not hold the documents; only a restart (which reads the
            // files) can say. Until then, answer nothing.
            drive = next
            stopAnswering(error)
            return false
        }
    }

    /// Writes the state file and notes what it holds.
    private func save(_ state: FiscalDrive) async throws(StorageError) {
        let store = self.store
        try await Self.offload(threadPool, directory: store.directory) { () throws(StorageError) in
            try store.save(state)
        }
        savedDocumentNumber = state.lastDocumentNumber
        savedDeliveredThrough = state.ofdDeliveredThrough
    }

    /// After a failed write: answer nothing (and deliver nothing) until restarted.
    private func stopAnswering(_ error: StorageError) {
        storageFailure = error
        logger.critical("storage failed; the module stops answering", metadata: ["error": "\(error)"])
    }

    /// Saves the state file if its counters or OFD queue lag (when the fleet stops).
    public func flush() async {
        await gate.acquire()
        defer { gate.release() }
        guard storageFailure == nil,
            savedDocumentNumber != drive.lastDocumentNumber || savedDeliveredThrough != drive.ofdDeliveredThrough
        else { return }
        do {
            try await save(drive)
        } catch {
            logger.error("cannot save the state", metadata: ["error": "\(error)"])
        }
    }

    /// Persists a raised epoch, even when the command is refused: the fence must survive a restart.
    private func commitEpoch(of fenced: FiscalDrive) async -> Bool {
        guard fenced.highestEpoch != drive.highestEpoch else { return true }
        var next = drive
        try? next.observe(epoch: fenced.highestEpoch)
        return await commit(next, [])
    }

    /// Runs blocking file work on the thread pool. Not cancellable: a write the FN has begun is
    /// finished (and its outcome known) even when the fleet is stopping.
    private static func offload<T: Sendable>(
        _ pool: NIOThreadPool, directory: String, _ body: @escaping @Sendable () throws(StorageError) -> T
    ) async throws(StorageError) -> T {
        let work = Task { try await pool.runIfActive { try body() } }
        do {
            return try await work.value
        } catch let error as StorageError {
            throw error
        } catch {
            throw StorageError(path: directory, message: "the I/O thread pool is not running: \(error)")
        }
    }

    // MARK: Answers

    private func answer<Result: Codable & Sendable>(_ id: Int64, _ result: Result) -> ModuleReply {
        do {
            return .answer(try WireJSON.line(WireResponse.success(id: id, result)))
        } catch {
            logger.error("cannot encode an answer", metadata: ["error": "\(error)"])
            return .hangUp
        }
    }

    private nonisolated func refuse(_ id: Int64?, _ error: KassaWireError) -> ModuleReply {
        do {
            return .answer(try WireJSON.line(WireFailure.failure(id: id, error)))
        } catch {
            return .hangUp
        }
    }
}
