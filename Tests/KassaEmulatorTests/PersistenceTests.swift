import Foundation
import KassaWire
import Testing

@testable import KassaEmulator

@Suite("FN persistence")
struct PersistenceTests {
    let now = Fixture.start

    /// Sells `count` receipts on `drive`, archiving and saving like the module does.
    func sell(_ count: Int, on drive: inout FiscalDrive, index: inout ArchiveIndex, store: DriveStore,
              saveState: Bool = true, from first: Int = 0) throws {
        for i in first..<(first + count) {
            let documents = try drive.sell(Fixture.receipt(job: "job-\(i)"), epoch: 1, now: now + Double(i))
            index = try store.append(documents, to: index)
            if saveState { try store.save(drive) }
        }
    }

    func archiveLines(_ store: DriveStore) throws -> [FiscalDocument] {
        let text = try String(contentsOfFile: store.archivePath, encoding: .utf8)
        return try text.split(separator: "\n").map { try JSONDecoder().decode(FiscalDocument.self, from: Data($0.utf8)) }
    }

    func page(_ store: DriveStore, _ index: ArchiveIndex, after: Int64, limit: Int = 1000,
              budget: Int = 1 << 20) throws -> [FiscalDocument] {
        let page = try store.readPage(after: after, limit: limit, byteBudget: budget, index: index)
        let json = Data("[".utf8) + Data(page.json) + Data("]".utf8)
        let documents = try JSONDecoder().decode([FiscalDocument].self, from: json)
        #expect(documents.count == page.count)
        return documents
    }

    @Test func reloadContinuesTheCounters() throws {
        let store = DriveStore(dataDirectory: Fixture.temporaryDirectory(), serial: "9999010010010001")
        var loaded = try store.load { Fixture.drive() }
        #expect(loaded.created)
        try sell(3, on: &loaded.drive, index: &loaded.index, store: store)
        #expect(loaded.drive.lastDocumentNumber == 4)  // open shift + 3 receipts

        var again = try store.load { Issue.record("must not create again"); return Fixture.drive() }
        #expect(!again.created)
        #expect(again.drive == loaded.drive)
        #expect(again.index == loaded.index)
        try sell(1, on: &again.drive, index: &again.index, store: store, from: 3)
        let documents = try archiveLines(store)
        #expect(documents.map(\.fiscalDocumentNumber) == [1, 2, 3, 4, 5])
        #expect(documents.last?.fiscalReceiptNumber == 4)
        #expect(documents.last?.jobID == "job-3")
        // The state file carries the key, so a checker can verify every sign.
        let state = try JSONDecoder().decode(FiscalDrive.self, from: Data(contentsOf: URL(fileURLWithPath: store.statePath)))
        #expect(state.secretKey == loaded.drive.secretKey)
        for document in documents {
            #expect(document.fiscalDocumentAttribute == FiscalSign.compute(key: state.secretKey, document: document))
        }
    }

    @Test func tornLastLineIsIgnoredAndCutOff() throws {
        let store = DriveStore(dataDirectory: Fixture.temporaryDirectory(), serial: "9999010010010001")
        var loaded = try store.load { Fixture.drive() }
        try sell(2, on: &loaded.drive, index: &loaded.index, store: store)
        let handle = try #require(FileHandle(forWritingAtPath: store.archivePath))
        handle.seekToEndOfFile()
        handle.write(Data(#"{"kind":"receipt","fiscal_document_num"#.utf8))
        handle.closeFile()

        var again = try store.load { Fixture.drive() }
        #expect(again.tornBytesDropped > 0)
        #expect(again.drive.lastDocumentNumber == 3)
        try sell(1, on: &again.drive, index: &again.index, store: store, from: 2)
        #expect(try archiveLines(store).map(\.fiscalDocumentNumber) == [1, 2, 3, 4])
    }

    @Test func unreadableLastLineCountsAsTorn() throws {
        let store = DriveStore(dataDirectory: Fixture.temporaryDirectory(), serial: "9999010010010001")
        var loaded = try store.load { Fixture.drive() }
        try sell(1, on: &loaded.drive, index: &loaded.index, store: store)
        let handle = try #require(FileHandle(forWritingAtPath: store.archivePath))
        handle.seekToEndOfFile()
        handle.write(Data([0, 0, 0, 10]))
        handle.closeFile()
        let again = try store.load { Fixture.drive() }
        #expect(again.tornBytesDropped == 4)
        #expect(again.index.lastNumber == 2)
    }

    @Test func stateThatLagsTheArchiveIsReplayed() throws {
        let store = DriveStore(dataDirectory: Fixture.temporaryDirectory(), serial: "9999010010010001")
        var loaded = try store.load { Fixture.drive() }
        try sell(2, on: &loaded.drive, index: &loaded.index, store: store)
        // The state file is saved now and then; the archive always. Here it lags by 301.
        try sell(300, on: &loaded.drive, index: &loaded.index, store: store, saveState: false, from: 2)
        var drive = loaded.drive
        let z = try #require(try drive.closeShift(epoch: 1, now: now + 1000))
        let index = try store.append([z], to: loaded.index)

        let again = try store.load { Fixture.drive() }
        #expect(again.documentsReplayed == 301)
        #expect(again.drive == drive)
        #expect(again.drive.lastDocumentNumber == 304)
        #expect(!again.drive.shift.isOpen)
        #expect(again.drive.shift.number == 1)
        #expect(again.index == index)
        // Replay saved the state: nothing left to replay.
        #expect(try store.load { Fixture.drive() }.documentsReplayed == 0)
    }

    @Test func theOFDQueueIsKeptAndReplayedAfterACrash() throws {
        let store = DriveStore(dataDirectory: Fixture.temporaryDirectory(), serial: "9999010010010001")
        var loaded = try store.load { Fixture.drive() }
        try sell(2, on: &loaded.drive, index: &loaded.index, store: store)
        loaded.drive.deliverAllToOFD()
        try sell(1, on: &loaded.drive, index: &loaded.index, store: store, from: 2)
        // Saved with one queued document; two more reach the archive but not the state file,
        // as after a crash between saves.
        try sell(2, on: &loaded.drive, index: &loaded.index, store: store, saveState: false, from: 3)

        let again = try store.load { Fixture.drive() }
        #expect(again.documentsReplayed == 2)
        #expect(again.drive.undeliveredDocuments == 3)
        #expect(again.drive.oldestUndeliveredAt == now + 2)
        #expect(again.drive == loaded.drive)
        let text = try String(contentsOfFile: store.statePath, encoding: .utf8)
        #expect(text.contains("\"undelivered_documents\" : 3"))
        #expect(text.contains("\"oldest_undelivered_at\" : \"2026-11-18T"))
    }

    @Test func aStateFileFromBeforeTheOFDQueueLoadsWithNothingQueued() throws {
        let store = DriveStore(dataDirectory: Fixture.temporaryDirectory(), serial: "9999010010010001")
        var loaded = try store.load { Fixture.drive() }
        try sell(1, on: &loaded.drive, index: &loaded.index, store: store)
        loaded.drive.deliverAllToOFD()
        try store.save(loaded.drive)
        // The older build wrote the count (always 0) and no time.
        var text = try String(contentsOfFile: store.statePath, encoding: .utf8)
        text = text.replacingOccurrences(of: "\"oldest_undelivered_at\" : null,", with: "")
        #expect(!text.contains("oldest_undelivered_at"))
        try Data(text.utf8).write(to: URL(fileURLWithPath: store.statePath))
        let again = try store.load { Fixture.drive() }
        #expect(again.drive.undeliveredDocuments == 0 && again.drive.oldestUndeliveredAt == nil)
    }

    @Test func archivePagesFollowTheIndex() throws {
        let store = DriveStore(dataDirectory: Fixture.temporaryDirectory(), serial: "9999010010010001", syncToDisk: false)
        var loaded = try store.load { Fixture.drive() }
        try sell(600, on: &loaded.drive, index: &loaded.index, store: store, saveState: false)
        let index = loaded.index
        #expect(index.lastNumber == 601)
        #expect(index.checkpoints.count == 3)

        #expect(try page(store, index, after: 0, limit: 3).map(\.fiscalDocumentNumber) == [1, 2, 3])
        #expect(try page(store, index, after: 300, limit: 2).map(\.fiscalDocumentNumber) == [301, 302])
        #expect(try page(store, index, after: 511, limit: 3).map(\.fiscalDocumentNumber) == [512, 513, 514])
        #expect(try page(store, index, after: 599).map(\.fiscalDocumentNumber) == [600, 601])
        #expect(try page(store, index, after: 601).isEmpty)
        #expect(try page(store, index, after: 255, limit: 1).first?.jobID == "job-254")
        // A small byte budget cuts the page short, but never below one document.
        let short = try page(store, index, after: 0, budget: 1000)
        #expect(short.count >= 1 && short.count < 5)
        #expect(try page(store, index, after: 0, budget: 1).count == 1)
        // The index rebuilt from the file equals the one kept while writing.
        try store.save(loaded.drive)
        #expect(try store.load { Fixture.drive() }.index == index)
    }

    @Test func missingStateWithAnArchiveIsAnError() throws {
        let store = DriveStore(dataDirectory: Fixture.temporaryDirectory(), serial: "9999010010010001")
        var loaded = try store.load { Fixture.drive() }
        try sell(1, on: &loaded.drive, index: &loaded.index, store: store)
        try FileManager.default.removeItem(atPath: store.statePath)
        #expect(throws: StorageError.self) { try store.load { Fixture.drive() } }
    }
}
