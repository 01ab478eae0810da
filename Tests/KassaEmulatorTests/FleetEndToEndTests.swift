import Foundation
import KassaModel
import KassaWire
import NIOPosix
import Testing

@testable import KassaEmulator

@Suite("Fleet end to end", .serialized)
struct FleetEndToEndTests {
    static let topology = Topology(sites: [
        .init(name: "T", racks: [.init(name: "T1", assemblies: [.init(name: "T1-1", basePort: 1, modules: 2)])])
    ])

    /// Starts a 2-module fleet at speed 100 on free loopback ports, runs `body`, stops the fleet.
    func withFleet(dataDirectory: String = Fixture.temporaryDirectory(),
                   _ body: (Fleet, MultiThreadedEventLoopGroup) async throws -> Void) async throws {
        let group = MultiThreadedEventLoopGroup(numberOfThreads: 2)
        let configuration = FleetConfiguration(
            topology: Self.topology, dataDirectory: dataDirectory, speed: 100, ephemeralPorts: true)
        let fleet = try await Fleet.start(configuration, eventLoopGroup: group)
        let running = Task { await fleet.run() }
        do {
            try await body(fleet, group)
        } catch {
            running.cancel()
            await running.value
            try await group.shutdownGracefully()
            throw error
        }
        running.cancel()
        await running.value
        try await group.shutdownGracefully()
    }

    func connect(_ fleet: Fleet, _ group: MultiThreadedEventLoopGroup, module: Int = 0) async throws -> KassaClient {
        let slot = fleet.members[module].slot
        return try await KassaClient.connect(host: slot.host, port: slot.port, eventLoopGroup: group)
    }

    func refusal(_ body: () async throws -> Void) async -> KassaClientError? {
        do {
            try await body()
            return nil
        } catch let error as KassaClientError {
            return error
        } catch {
            Issue.record("unexpected error \(error)")
            return nil
        }
    }

    @Test func sellArchiveAndFencing() async throws {
        let data = Fixture.temporaryDirectory()
        try await withFleet(dataDirectory: data) { fleet, group in
            #expect(fleet.members.count == 2)
            #expect(fleet.members.allSatisfy { $0.slot.port > 0 })
            let client = try await connect(fleet, group)

            let fresh = try await client.status()
            #expect(fresh.inn == nil && fresh.lastDocumentNumber == 0 && fresh.fnCapacity == 250_000)
            #expect(fresh.fnSerial == fleet.members[0].slot.fnSerial)

            let registered = try await client.register(Fixture.registration)
            #expect(registered.inn == Fixture.inn && registered.sno == ["osn", "usn_income"])
            #expect(try await client.hello(epoch: 2).highestEpoch == 2)

            let job = UUID()
            let receipt = SellRequest(
                job: job, inn: Fixture.inn, paymentAddress: Fixture.address, sno: "osn",
                items: [WireItem(name: "Tea", price: 15000, quantity: 2000, sum: 30000, vat: "vat20")],
                payments: [WirePayment(type: 1, sum: 30000)], total: 30000)
            let document = try await client.sell(receipt, epoch: 2)
            #expect(document.kind == .receipt)
            #expect(document.jobID == job.uuidString.lowercased())
            #expect(document.fiscalDocumentNumber == 2 && document.fiscalReceiptNumber == 1)
            #expect(document.fnSerial == fresh.fnSerial && document.registrationNumber == "0000000001012345")

            let page = try await client.archive(after: 0)
            #expect(page.documents.map(\.kind) == [.openShift, .receipt])
            #expect(page.lastDocumentNumber == 2)
            #expect(page.documents.last == document)
            #expect(try await client.archive(after: 1).documents == [document])
            #expect(try await client.archive(after: 2).documents.isEmpty)

            // A tenant's mistake is refused, not in doubt, and makes nothing.
            var wrong = receipt
            wrong.inn = "7700000000"
            let mismatch = await refusal { _ = try await client.sell(wrong, epoch: 2) }
            #expect(mismatch == .refused(KassaWireError(.innMismatch, "receipt INN 7700000000 does not match the FN's INN 7707083893")))
            #expect(mismatch?.isInDoubt == false)

            // A newer lease holder fences the old one.
            let other = try await connect(fleet, group)
            _ = try await other.hello(epoch: 3)
            let stale = await refusal { _ = try await client.sell(receipt, epoch: 2) }
            guard case .refused(let error) = stale else {
                Issue.record("expected a refusal, got \(String(describing: stale))")
                return
            }
            #expect(error.code == .staleEpoch && !error.fiscalized)
            #expect(try await client.status().lastDocumentNumber == 2)
            await other.close()

            // The other module is its own FN.
            let second = try await connect(fleet, group, module: 1)
            #expect(try await second.status().lastDocumentNumber == 0)
            await second.close()
            await client.close()
        }
        // A restarted fleet finds its FNs as they were.
        try await withFleet(dataDirectory: data) { fleet, group in
            let client = try await connect(fleet, group)
            let status = try await client.status()
            #expect(status.lastDocumentNumber == 2 && status.highestEpoch == 3 && status.shiftOpen)
            #expect(status.receiptsInShift == 1 && status.inn == Fixture.inn)
            let closed = try await client.closeShift(epoch: 3)
            #expect(!closed.shiftOpen && closed.lastDocumentNumber == 3)
            await client.close()
        }
    }

    @Test func malformedLinesAreAnsweredAndTheConnectionLives() async throws {
        try await withFleet { fleet, group in
            let client = try await connect(fleet, group)
            let answer = try await client.exchangeRaw("this is not json")
            #expect(answer.contains("\"code\":\"bad_request\"") && answer.contains("\"id\":null"))
            let missing = try await client.exchangeRaw(#"{"id": 5, "cmd": "sell", "args": {}}"#)
            #expect(missing.contains("\"id\":5") && missing.contains("epoch: required for sell"))
            let long = try await client.exchangeRaw(String(repeating: "x", count: (1 << 20) + 10))
            #expect(long.contains("bad_request") && long.contains("longer than 1048576 bytes"))
            #expect(try await client.status().lastDocumentNumber == 0)

            // Callers that overlap are queued, one command on the wire at a time.
            async let a = client.status()
            async let b = client.archive(after: 0)
            async let c = client.status()
            let (sa, pb, sc) = try await (a, b, c)
            #expect(sa == sc && pb.documents.isEmpty)
            await client.close()
            #expect(await refusal { _ = try await client.status() } == .closed)
        }
    }

    @Test func faultsLeaveTheClientInDoubt() async throws {
        try await withFleet { fleet, group in
            let module = fleet.members[0].module
            let setup = try await connect(fleet, group)
            _ = try await setup.register(Fixture.registration)
            await setup.close()

            // The document is made, the answer is lost: reconcile from the archive.
            await module.setFault(.dropAnswerAfterFiscalizing)
            let client = try await connect(fleet, group)
            let lost = await refusal { _ = try await client.sell(Fixture.receipt(job: "lost-answer"), epoch: 1) }
            #expect(lost == .connectionLost)
            #expect(lost?.isInDoubt == true)
            await module.setFault(.none)
            let checker = try await connect(fleet, group)
            let page = try await checker.archive(after: 0)
            #expect(page.documents.contains { $0.jobID == "lost-answer" })

            // A hung module times out; the client closes rather than risk a late answer.
            await module.setFault(.hang)
            let timedOut = await refusal { _ = try await checker.status(timeout: .milliseconds(200)) }
            #expect(timedOut == .timeout)
            #expect(timedOut?.isInDoubt == true)
            #expect(await refusal { _ = try await checker.status() } == .closed)
            await module.setFault(.none)
            let after = try await connect(fleet, group)
            #expect(try await after.status().lastDocumentNumber == 2)
            await after.close()
            await checker.close()
            await client.close()
        }
    }

    @Test func connectingToNothingIsNotInDoubt() async throws {
        let group = MultiThreadedEventLoopGroup(numberOfThreads: 1)
        // Bind and release a port so that nothing listens on it.
        let probe = try await ServerBootstrap(group: group).bind(host: "127.0.0.1", port: 0).get()
        let port = probe.localAddress?.port ?? 1
        try await probe.close()
        do {
            _ = try await KassaClient.connect(host: "127.0.0.1", port: port, eventLoopGroup: group)
            Issue.record("connected")
        } catch {
            guard case .connect = error else {
                Issue.record("expected .connect, got \(error)")
                return
            }
            #expect(!error.isInDoubt)
        }
        try await group.shutdownGracefully()
    }
}
