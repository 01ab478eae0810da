import AsyncHTTPClient
import Foundation
import KassaModel
import KassaWire
import Logging
import NIOConcurrencyHelpers
import NIOCore
import NIOHTTP1
import NIOPosix
import Testing

@testable import KassaEmulator

/// The OFD link (`ofd_down`, delivery, the queue across a restart) and FN wear (`POST /fn`),
/// through the same real fleet and control plane as the other fault tests. At speed 100 a
/// module delivers its queue every 10 ms while its link is up.
extension FaultControlTests {
    /// The module's entry in `GET /modules`.
    func listing(_ h: Harness, _ index: Int) async throws -> JSONValue? {
        let (status, json) = try await h.call(.GET, "/modules")
        #expect(status == 200)
        guard case .array(let modules)? = json["modules"] else { return nil }
        return modules.first { $0["fn_serial"] == .string(h.slot(index).fnSerial) }
    }

    /// The refusal code of a command that was answered `ok: false`, or nil.
    func refusalCode(_ body: () async throws -> Void) async -> KassaErrorCode? {
        guard case .refused(let error)? = await clientError(body) else { return nil }
        return error.code
    }

    /// Polls `status` until the module's OFD queue is empty.
    func drained(_ client: KassaClient) async throws -> Bool {
        try await eventually {
            let status = try await client.status()
            return status.undeliveredDocuments == 0 && status.oldestUndeliveredAt == nil
        }
    }

    /// When a document was made, from its printed `datetime`.
    static func madeAt(_ document: FiscalDocument) throws -> Date {
        try #require(WireTime.parseDocumentDateTime(document.datetime))
    }

    // MARK: The OFD link

    @Test func documentsAreDeliveredWhileTheLinkIsUp() async throws {
        try await withControlledFleet { h in
            try await h.prepare(0)
            let client = try await h.connect(0)
            for _ in 0..<3 {
                _ = try await client.sell(Fixture.receipt(job: Self.job()), epoch: 1)
            }
            // Open shift and three receipts were each queued, then delivered in the background.
            #expect(try await drained(client), "the queue never drained with the link up")
            let status = try await client.status()
            #expect(status.lastDocumentNumber == 4)
            let listed = try await listing(h, 0)
            #expect(listed?["ofd_link"] == "up")
            #expect(listed?["undelivered_documents"] == 0)
            await client.close()
        }
    }

    @Test func ofdDownPilesDocumentsUpAndClearingDrainsThem() async throws {
        try await withControlledFleet { h in
            try await h.prepare(1)
            let client = try await h.connect(1)
            // The shift is opened (a document of its own) before the link goes down.
            _ = try await client.sell(Fixture.receipt(job: Self.job()), epoch: 1)
            #expect(try await drained(client))

            let set = try await h.call(.POST, "/faults", #"{"fault": "ofd_down", "target": {"name": "\#(h.slot(1).name)"}}"#)
            #expect(set.status == 200 && Harness.serials(set.json) == [h.slot(1).fnSerial])
            #expect(set.json["fault"] == "ofd_down")

            // The module works normally; each sale adds one document to the queue, and the
            // oldest stays the first one queued.
            var first: Date?
            for sale in 1...3 {
                let document = try await client.sell(Fixture.receipt(job: Self.job()), epoch: 1)
                if first == nil { first = try Self.madeAt(document) }
                let status = try await client.status()
                #expect(status.undeliveredDocuments == Int64(sale))
                #expect(status.oldestUndeliveredAt == first)
            }
            let listed = try await listing(h, 1)
            #expect(listed?["fault"] == "none")
            #expect(listed?["ofd_link"] == "down")
            #expect(listed?["undelivered_documents"] == 3)
            // Other modules' links are untouched.
            #expect(try await listing(h, 0)?["ofd_link"] == "up")

            // Clearing lists the module and lets the backlog drain.
            let cleared = try await h.call(.DELETE, "/faults")
            #expect(Harness.serials(cleared.json) == [h.slot(1).fnSerial])
            #expect(try await drained(client), "the backlog never drained after the link came back")
            #expect(try await listing(h, 1)?["ofd_link"] == "up")
            await client.close()
        }
    }

    @Test func theOFDLinkAndAModuleFaultAreIndependent() async throws {
        try await withControlledFleet { h in
            try await h.prepare(3)
            let name = h.slot(3).name
            #expect(try await h.call(.POST, "/faults", #"{"fault": "ofd_down", "target": {"name": "\#(name)"}}"#).status == 200)
            let client = try await h.connect(3)
            _ = try await client.sell(Fixture.receipt(job: Self.job()), epoch: 1)
            #expect(try await client.status().undeliveredDocuments == 2)  // open shift + receipt

            // A hang on top keeps the link down; bringing the link up keeps the hang.
            #expect(try await h.call(.POST, "/faults", #"{"fault": "hang", "target": {"name": "\#(name)"}}"#).status == 200)
            var listed = try await listing(h, 3)
            #expect(listed?["fault"] == "hang" && listed?["ofd_link"] == "down")
            #expect(try await h.call(.POST, "/faults", #"{"fault": "ofd_up", "target": {"name": "\#(name)"}}"#).status == 200)
            listed = try await listing(h, 3)
            #expect(listed?["fault"] == "hang" && listed?["ofd_link"] == "up")

            // `none` makes the module normal: no hang, link up, backlog delivered.
            #expect(try await h.call(.POST, "/faults", #"{"fault": "none", "target": {"name": "\#(name)"}}"#).status == 200)
            let fresh = try await h.connect(3)
            #expect(try await drained(fresh))
            listed = try await listing(h, 3)
            #expect(listed?["fault"] == "none" && listed?["ofd_link"] == "up")
            await fresh.close()
            await client.close()
        }
    }

    @Test(.timeLimit(.minutes(1)))
    func theUndeliveredQueueSurvivesARestart() async throws {
        let data = Fixture.temporaryDirectory()
        var serial = ""
        var expected: (count: Int64, oldest: Date?) = (0, nil)
        try await withControlledFleet(dataDirectory: data) { h in
            serial = h.slot(0).fnSerial
            try await h.prepare(0)
            let client = try await h.connect(0)
            _ = try await client.sell(Fixture.receipt(job: Self.job()), epoch: 1)
            #expect(try await drained(client))
            #expect(try await h.call(.POST, "/faults", #"{"fault": "ofd_down", "target": {"fn_serial": "\#(serial)"}}"#).status == 200)
            let document = try await client.sell(Fixture.receipt(job: Self.job()), epoch: 1)
            _ = try await client.sell(Fixture.receipt(job: Self.job()), epoch: 1)
            let status = try await client.status()
            expected = (status.undeliveredDocuments, status.oldestUndeliveredAt)
            let madeAt = try Self.madeAt(document)
            #expect(expected.count == 2 && expected.oldest == madeAt)
            await client.close()
        }
        // The stopped fleet left the queue in the FN's state file.
        let state = try JSONDecoder().decode(
            FiscalDrive.self, from: Data(contentsOf: URL(fileURLWithPath: "\(data)/\(serial)/state.json")))
        #expect(state.undeliveredDocuments == expected.count && state.oldestUndeliveredAt == expected.oldest)

        // Started again on the same FNs: a fleet that is not yet running delivers nothing, so
        // the queue reads exactly as it was left. Faults are not kept, so once running it drains.
        let group = MultiThreadedEventLoopGroup(numberOfThreads: 2)
        let fleet = try await Fleet.start(
            FleetConfiguration(topology: Self.topology, dataDirectory: data, speed: 100, ephemeralPorts: true),
            eventLoopGroup: group)
        let slot = try #require(fleet.members.first { $0.slot.fnSerial == serial }?.slot)
        let client = try await KassaClient.connect(host: slot.host, port: slot.port, eventLoopGroup: group)
        let status = try await client.status()
        #expect(status.undeliveredDocuments == expected.count)
        #expect(status.oldestUndeliveredAt == expected.oldest)
        let running = Task { await fleet.run() }
        let wasDrained = try await drained(client)
        #expect(wasDrained, "the restored backlog never drained")
        await client.close()
        running.cancel()
        await running.value
        try await group.shutdownGracefully()
        // ... and the delivery is on disk too.
        let after = try JSONDecoder().decode(
            FiscalDrive.self, from: Data(contentsOf: URL(fileURLWithPath: "\(data)/\(serial)/state.json")))
        #expect(after.undeliveredDocuments == 0 && after.oldestUndeliveredAt == nil)
    }

    // MARK: FN wear

    @Test func documentsLeftFillsTheFNAfterThatMany() async throws {
        try await withControlledFleet { h in
            try await h.prepare(2)
            let serial = h.slot(2).fnSerial
            let client = try await h.connect(2)
            _ = try await client.sell(Fixture.receipt(job: Self.job()), epoch: 1)  // opens the shift

            let set = try await h.call(.POST, "/fn", #"{"target": {"fn_serial": "\#(serial)"}, "documents_left": 4}"#)
            #expect(set.status == 200)
            #expect(set.json["documents_left"] == 4)
            let capacity = FiscalDrive.standardCapacity
            guard case .array(let modules)? = set.json["modules"], let module = modules.first else {
                Issue.record("no modules in \(set.json.serialized())")
                return
            }
            #expect(modules.count == 1 && module["fn_serial"] == .string(serial))
            #expect(module["documents_used"] == .number(Double(capacity - 4)))
            #expect(module["fn_capacity"] == .number(Double(capacity)))
            let status = try await client.status()
            #expect(status.fnCapacity - status.documentsUsed == 4)
            // Saved at once: the archive cannot tell it.
            let state = try JSONDecoder().decode(
                FiscalDrive.self, from: Data(contentsOf: URL(fileURLWithPath: "\(h.dataDirectory)/\(serial)/state.json")))
            #expect(state.documentsUsed == capacity - 4)

            // Four documents fit: three receipts, and the Z-report the FN always keeps room for.
            for _ in 0..<3 {
                _ = try await client.sell(Fixture.receipt(job: Self.job()), epoch: 1)
            }
            #expect(await refusalCode { _ = try await client.sell(Fixture.receipt(job: Self.job()), epoch: 1) } == .fnFull)
            #expect(await refusalCode { _ = try await client.sell(Fixture.receipt(job: Self.job()), epoch: 1) } == .fnFull)
            let closed = try await client.closeShift(epoch: 1)
            #expect(closed.documentsUsed == capacity)
            await client.close()
        }
    }

    @Test func expiresInMovesTheExpiry() async throws {
        try await withControlledFleet { h in
            try await h.prepare(0)
            let client = try await h.connect(0)
            let before = Date()
            let set = try await h.call(.POST, "/fn", #"{"target": {"name": "\#(h.slot(0).name)"}, "expires_in_s": 3600}"#)
            let after = Date()
            #expect(set.status == 200 && set.json["expires_in_s"] == 3600)
            let expiry = try await client.status().fnExpiresAt
            #expect(expiry >= before.addingTimeInterval(3599) && expiry <= after.addingTimeInterval(3600))
            guard case .array(let modules)? = set.json["modules"] else {
                Issue.record("no modules in \(set.json.serialized())")
                return
            }
            #expect(modules.first?["fn_expires_at"] == .string(WireTime.iso8601(expiry)))
            // The FN still sells until then; expiring it now makes the FN's rule refuse.
            _ = try await client.sell(Fixture.receipt(job: Self.job()), epoch: 1)
            #expect(try await h.call(.POST, "/fn", #"{"target": {"name": "\#(h.slot(0).name)"}, "expires_in_s": 0}"#).status == 200)
            #expect(await refusalCode { _ = try await client.sell(Fixture.receipt(job: Self.job()), epoch: 1) } == .fnExpired)
            // Both at once, on a whole assembly.
            let both = try await h.call(.POST, "/fn", #"{"target": {"assembly": "T1-2"}, "documents_left": 100, "expires_in_s": 86400}"#)
            #expect(both.status == 200 && Set(Harness.serials(both.json)) == [h.slot(2).fnSerial, h.slot(3).fnSerial])
            await client.close()
        }
    }

    @Test(.timeLimit(.minutes(1)))
    func anFNHeldByAHungCommandIsReportedNotChanged() async throws {
        try await withControlledFleet(fnWait: .milliseconds(200)) { h in
            try await h.prepare(0)
            #expect(try await h.call(.POST, "/faults", #"{"fault": "hang_after_fiscalizing", "target": {"name": "\#(h.slot(0).name)"}}"#).status == 200)
            let held = try await h.connect(0, commandTimeout: .seconds(60))
            let sale = Task { await clientError { _ = try await held.sell(Fixture.receipt(job: Self.job()), epoch: 1) } }
            #expect(try await eventually { try await h.faults()[h.slot(0).fnSerial] == "hang" })

            // The control plane answers anyway: the other module of the assembly changed, the
            // hung one did not.
            let answer = try await h.call(.POST, "/fn", #"{"target": {"assembly": "T1-1"}, "documents_left": 10}"#)
            #expect(answer.status == 409)
            #expect(answer.json["field"] == "target")
            #expect(Harness.serials(answer.json) == [h.slot(1).fnSerial])
            guard case .array(let notChanged)? = answer.json["not_changed"] else {
                Issue.record("no not_changed in \(answer.json.serialized())")
                return
            }
            #expect(notChanged.map { $0["fn_serial"] } == [.string(h.slot(0).fnSerial)])

            _ = try await h.call(.DELETE, "/faults")
            #expect(await sale.value == .connectionLost)
            await held.close()
        }
    }

    @Test(arguments: [
        (#"{"target": {"all": true}"#, 400, "body"),
        ("[1]", 400, "body"),
        (#"{"target": {"all": true}}"#, 400, "body"),
        (#"{"documents_left": 5}"#, 400, "target"),
        (#"{"target": {"port": 0}, "documents_left": 5}"#, 400, "target.port"),
        (#"{"target": {"all": true}, "documents_left": -1}"#, 400, "documents_left"),
        (#"{"target": {"all": true}, "documents_left": 2.5}"#, 400, "documents_left"),
        (#"{"target": {"all": true}, "documents_left": "50"}"#, 400, "documents_left"),
        (#"{"target": {"all": true}, "documents_left": null}"#, 400, "documents_left"),
        (#"{"target": {"all": true}, "documents_left": 250001}"#, 400, "documents_left"),
        (#"{"target": {"all": true}, "expires_in_s": -60}"#, 400, "expires_in_s"),
        (#"{"target": {"all": true}, "expires_in_s": "1h"}"#, 400, "expires_in_s"),
        (#"{"target": {"all": true}, "expires_in_s": 1e12}"#, 400, "expires_in_s"),
        (#"{"target": {"all": true}, "documents_left": 5, "expires": 3600}"#, 400, "expires"),
        (#"{"target": {"site": "nowhere"}, "documents_left": 5}"#, 404, "target"),
    ])
    func badFNChangesAreRefusedNamingTheField(body: String, status: Int, field: String) async throws {
        try await withControlledFleet { h in
            var before: [KassaStatus] = []
            for member in h.fleet.members { before.append(await member.module.status) }
            let answer = try await h.call(.POST, "/fn", body)
            #expect(answer.status == status)
            #expect(answer.json["field"] == .string(field))
            guard case .string(let message)? = answer.json["error"] else {
                Issue.record("no error text in \(answer.json.serialized())")
                return
            }
            #expect(message.hasPrefix(field + ":"), "\(message)")
            if status == 400 { #expect(answer.json["expected"] != nil) }
            // A refused request changes no FN.
            var after: [KassaStatus] = []
            for member in h.fleet.members { after.append(await member.module.status) }
            #expect(after == before)
        }
    }
}
