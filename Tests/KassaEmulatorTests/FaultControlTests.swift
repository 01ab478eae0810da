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

/// The fault control plane over real HTTP, acting on a real fleet over real TCP (loopback,
/// ephemeral ports): two assemblies of two modules at speed 100.
@Suite("Fault control plane", .serialized)
struct FaultControlTests {
    static let topology = Topology(sites: [
        .init(name: "T", racks: [
            .init(name: "T1", assemblies: [
                .init(name: "T1-1", basePort: 1, modules: 2), .init(name: "T1-2", basePort: 3, modules: 2),
            ])
        ])
    ])

    /// A running fleet with its control plane.
    struct Harness {
        let fleet: Fleet
        let group: MultiThreadedEventLoopGroup
        let dataDirectory: String
        let controlURL: String

        func slot(_ index: Int) -> ModuleSlot { fleet.members[index].slot }

        func connect(_ index: Int, commandTimeout: Duration = KassaClient.defaultTimeout) async throws -> KassaClient {
            try await KassaClient.connect(
                host: slot(index).host, port: slot(index).port, eventLoopGroup: group, connectTimeout: .seconds(1),
                commandTimeout: commandTimeout)
        }

        /// Registers the module's FN and opens lease epoch 1.
        func prepare(_ index: Int) async throws {
            let client = try await connect(index)
            _ = try await client.register(Fixture.registration)
            _ = try await client.hello(epoch: 1)
            await client.close()
        }

        /// An HTTP call to the control plane: the status and the JSON answer.
        func call(_ method: HTTPMethod, _ path: String, _ body: String? = nil) async throws -> (status: Int, json: JSONValue) {
            var request = HTTPClientRequest(url: controlURL + path)
            request.method = method
            if let body {
                request.headers.add(name: "Content-Type", value: "application/json")
                request.body = .bytes(ByteBuffer(string: body))
            }
            let response = try await HTTPClient.shared.execute(request, timeout: .seconds(10))
            let answer = try await response.body.collect(upTo: 1 << 20)
            return (Int(response.status.code), try JSONValue.parse(answer.readableBytesView))
        }

        /// `GET /modules` as fn_serial → fault.
        func faults() async throws -> [String: String] {
            let (status, json) = try await call(.GET, "/modules")
            #expect(status == 200)
            guard case .array(let modules)? = json["modules"] else { return [:] }
            var faults: [String: String] = [:]
            for module in modules {
                if case .string(let serial)? = module["fn_serial"], case .string(let fault)? = module["fault"] {
                    faults[serial] = fault
                }
            }
            return faults
        }

        /// The `fn_serial`s of the modules a control plane answer lists.
        static func serials(_ json: JSONValue) -> [String] {
            guard case .array(let modules)? = json["modules"] else { return [] }
            return modules.compactMap { module in
                if case .string(let serial)? = module["fn_serial"] { serial } else { nil }
            }
        }
    }

    /// Starts the fleet and its control plane (both on free ports), runs `body`, stops both.
    /// `dataDirectory` (default: a new one) lets a test start a fleet again on the same FNs;
    /// `fnWait` is how long `POST /fn` waits for a busy FN.
    func withControlledFleet(
        unsafeIgnoreEpoch: Bool = false, dataDirectory: String? = nil, fnWait: Duration? = nil,
        _ body: (Harness) async throws -> Void
    ) async throws {
        let group = MultiThreadedEventLoopGroup(numberOfThreads: 2)
        let data = dataDirectory ?? Fixture.temporaryDirectory()
        let configuration = FleetConfiguration(
            topology: Self.topology, dataDirectory: data, speed: 100, ephemeralPorts: true,
            unsafeIgnoreEpoch: unsafeIgnoreEpoch)
        let fleet = try await Fleet.start(configuration, eventLoopGroup: group)
        let fleetRun = Task { await fleet.run() }
        let (ports, portSink) = AsyncStream.makeStream(of: Int.self)
        var faultControl = FaultControl(fleet: fleet, logger: Logger(label: "test.control"))
        if let fnWait { faultControl.fnWait = fnWait }
        let control = Task { [faultControl] in try await faultControl.run(port: 0) { portSink.yield($0) } }
        func stop() async throws {
            control.cancel()
            _ = await control.result
            fleetRun.cancel()
            await fleetRun.value
            try await group.shutdownGracefully()
        }
        do {
            var listening = ports.makeAsyncIterator()
            guard let port = await listening.next() else { throw ControlPlaneDidNotStart() }
            try await body(Harness(fleet: fleet, group: group, dataDirectory: data, controlURL: "http://127.0.0.1:\(port)"))
        } catch {
            try await stop()
            throw error
        }
        try await stop()
    }

    struct ControlPlaneDidNotStart: Error {}

    /// Polls `condition` until it holds or `deadline` passes; false on timeout.
    func eventually(within deadline: Duration = .seconds(10), _ condition: () async throws -> Bool) async rethrows -> Bool {
        let end = ContinuousClock.now + deadline
        while ContinuousClock.now < end {
            if try await condition() { return true }
            try? await Task.sleep(for: .milliseconds(20))
        }
        return try await condition()
    }

    func clientError(_ body: () async throws -> Void) async -> KassaClientError? {
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

    static func job() -> String { UUID().uuidString.lowercased() }

    // MARK: Faults

    @Test func livezAndModules() async throws {
        try await withControlledFleet { h in
            #expect(try await h.call(.GET, "/livez").status == 200)
            let (status, json) = try await h.call(.GET, "/modules")
            #expect(status == 200)
            guard case .array(let modules)? = json["modules"], let first = modules.first else {
                Issue.record("no modules in \(json.serialized())")
                return
            }
            #expect(modules.count == 4)
            let slot = h.slot(0)
            #expect(first == .object([
                "name": .string(slot.name), "fn_serial": .string(slot.fnSerial), "port": .number(Double(slot.port)),
                "site": "T", "rack": "T1", "assembly": "T1-1", "fault": "none", "ofd_link": "up",
                "undelivered_documents": 0, "last_document_number": 0,
            ]))
        }
    }

    @Test func hangAfterFiscalizingWritesTheDocumentAndNeverAnswers() async throws {
        try await withControlledFleet { h in
            try await h.prepare(0)
            let serial = h.slot(0).fnSerial
            let set = try await h.call(.POST, "/faults", #"{"fault": "hang_after_fiscalizing", "target": {"fn_serial": "\#(serial)"}}"#)
            #expect(set.status == 200 && Harness.serials(set.json) == [serial])
            #expect(set.json["fault"] == "hang_after_fiscalizing")

            let job = Self.job()
            let seller = try await h.connect(0, commandTimeout: .seconds(60))
            let answered = NIOLockedValueBox(false)
            let sale = Task {
                defer { answered.withLockedValue { $0 = true } }
                return await clientError { _ = try await seller.sell(Fixture.receipt(job: job), epoch: 1) }
            }

            // The document reaches the archive on disk, then the module shows itself hung.
            let archive = "\(h.dataDirectory)/\(serial)/archive.jsonl"
            let written = await eventually {
                ((try? String(contentsOfFile: archive, encoding: .utf8)) ?? "").contains(job)
            }
            #expect(written, "the sell's document never reached \(archive)")
            #expect(try await eventually { try await h.faults()[serial] == "hang" })

            // Every later command, on any connection, hangs too; the sale is still unanswered.
            let other = try await h.connect(0)
            #expect(await clientError { _ = try await other.status(timeout: .milliseconds(300)) } == .timeout)
            #expect(!answered.withLockedValue { $0 })

            // Clearing closes the held connection without the answer: the client is in doubt.
            let cleared = try await h.call(.DELETE, "/faults")
            #expect(cleared.status == 200 && Harness.serials(cleared.json) == [serial])
            let outcome = await sale.value
            #expect(outcome == .connectionLost)
            #expect(outcome?.isInDoubt == true)

            // The module serves again, and its archive holds the document the client never saw.
            let after = try await h.connect(0)
            let page = try await after.archive(after: 0)
            #expect(page.documents.filter { $0.jobID == job }.count == 1)
            let next = try await after.sell(Fixture.receipt(job: Self.job()), epoch: 1)
            #expect(next.fiscalDocumentNumber == page.lastDocumentNumber + 1)
            #expect(try await h.faults()[serial] == "none")
            await after.close()
            await other.close()
            await seller.close()
        }
    }

    @Test func dropWithACountDropsThatManyAnswersThenAnswers() async throws {
        try await withControlledFleet { h in
            try await h.prepare(1)
            let slot = h.slot(1)
            let set = try await h.call(
                .POST, "/faults", #"{"fault": "drop_answer_after_fiscalizing", "target": {"name": "\#(slot.name)"}, "count": 2}"#)
            #expect(set.status == 200 && Harness.serials(set.json) == [slot.fnSerial] && set.json["count"] == 2)

            let jobs = (0..<3).map { _ in Self.job() }
            var outcomes: [KassaClientError?] = []
            for job in jobs {
                let client = try await h.connect(1)
                // A status first: other commands are answered normally under this fault.
                #expect(try await client.status().fnSerial == slot.fnSerial)
                outcomes.append(await clientError { _ = try await client.sell(Fixture.receipt(job: job), epoch: 1) })
                await client.close()
            }
            #expect(outcomes == [.connectionLost, .connectionLost, nil])
            #expect(try await h.faults()[slot.fnSerial] == "none")

            // All three were fiscalized, dropped answers or not.
            let checker = try await h.connect(1)
            let receipts = try await checker.archive(after: 0).documents.filter { $0.kind == .receipt }
            #expect(receipts.compactMap(\.jobID) == jobs)
            await checker.close()
        }
    }

    @Test func dropWithoutACountDropsEverySellUntilCleared() async throws {
        try await withControlledFleet { h in
            try await h.prepare(0)
            let set = try await h.call(.POST, "/faults", #"{"fault": "drop_answer_after_fiscalizing", "target": {"port": \#(h.slot(0).port)}}"#)
            #expect(set.status == 200 && Harness.serials(set.json) == [h.slot(0).fnSerial])
            for _ in 0..<3 {
                let client = try await h.connect(0)
                #expect(await clientError { _ = try await client.sell(Fixture.receipt(job: Self.job()), epoch: 1) } == .connectionLost)
                await client.close()
            }
            _ = try await h.call(.DELETE, "/faults")
            let client = try await h.connect(0)
            #expect(try await client.sell(Fixture.receipt(job: Self.job()), epoch: 1).kind == .receipt)
            await client.close()
        }
    }

    @Test func downRefusesConnectionsAndClearBringsThePortBack() async throws {
        try await withControlledFleet { h in
            try await h.prepare(2)
            let slot = h.slot(2)
            let open = try await h.connect(2)
            #expect(try await open.status().lastDocumentNumber == 0)

            let set = try await h.call(.POST, "/faults", #"{"fault": "down", "target": {"port": \#(slot.port)}}"#)
            #expect(set.status == 200 && Harness.serials(set.json) == [slot.fnSerial])

            // The open connection is closed by the module.
            let lost = await clientError { _ = try await open.status(timeout: .seconds(5)) }
            #expect(lost == .connectionLost || lost == .closed)
            // New connections are refused: nothing listens on the port.
            let refused = await eventually {
                do {
                    let client = try await h.connect(2)
                    await client.close()
                    return false
                } catch let error as KassaClientError {
                    if case .connect = error { return true }
                    return false
                } catch {
                    return false
                }
            }
            #expect(refused, "port \(slot.port) still accepts connections while down")
            #expect(try await h.faults()[slot.fnSerial] == "down")
            // The other modules are unaffected.
            let neighbour = try await h.connect(3)
            #expect(try await neighbour.status().fnSerial == h.slot(3).fnSerial)
            await neighbour.close()

            // Cleared: the same port listens again and the module serves.
            let cleared = try await h.call(.DELETE, "/faults")
            #expect(Harness.serials(cleared.json) == [slot.fnSerial])
            let back = await eventually {
                guard let client = try? await h.connect(2) else { return false }
                await client.close()
                return true
            }
            #expect(back, "port \(slot.port) did not come back")
            let client = try await h.connect(2)
            #expect(try await client.sell(Fixture.receipt(job: Self.job()), epoch: 1).fnSerial == slot.fnSerial)
            await client.close()
        }
    }

    @Test(.timeLimit(.minutes(1)))
    func theFleetStopsWhileModulesAreFaulty() async throws {
        // Stopping must not wait for any fault to be lifted: a held sell, hung commands, a
        // closed port and a drop are all left as they are.
        var outcomes: [Task<KassaClientError?, Never>] = []
        try await withControlledFleet { h in
            try await h.prepare(0)
            for (fault, index) in [("hang_after_fiscalizing", 0), ("hang", 1), ("down", 2), ("drop_answer_after_fiscalizing", 3)] {
                let set = try await h.call(.POST, "/faults", #"{"fault": "\#(fault)", "target": {"name": "\#(h.slot(index).name)"}}"#)
                #expect(set.status == 200)
            }
            let held = try await h.connect(0, commandTimeout: .seconds(60))
            outcomes.append(Task { await clientError { _ = try await held.sell(Fixture.receipt(job: Self.job()), epoch: 1) } })
            #expect(try await eventually { try await h.faults()[h.slot(0).fnSerial] == "hang" })
            let hung = try await h.connect(1, commandTimeout: .seconds(60))
            outcomes.append(Task { await clientError { _ = try await hung.status() } })
            // Stop only once the module holds the command: stopping earlier would find it unsent.
            let module = h.fleet.members[1].module
            #expect(await eventually { await module.commandsHeld == 1 })
        }
        // The fleet has stopped; both commands lost their connections unanswered.
        for outcome in outcomes {
            #expect(await outcome.value == .connectionLost)
        }
    }

    @Test(.timeLimit(.minutes(1)))
    func connectionsRacingDownAndStopDoNotCrashTheEmulator() async throws {
        // Connections arriving while the socket closes (down, or the fleet stopping) must be
        // closed, not dropped: NIO ends the process when an accepted connection is dropped.
        var dialing: Task<Int, Never>?
        try await withControlledFleet { h in
            let module = h.fleet.members[0].module
            let slot = h.slot(0)
            // Its own event loops: it keeps dialing while the fleet's are shut down.
            dialing = Task {
                var connected = 0
                while !Task.isCancelled {
                    if let client = try? await KassaClient.connect(host: slot.host, port: slot.port) {
                        connected += 1
                        await client.close()
                    }
                }
                return connected
            }
            for _ in 0..<20 {
                await module.setFault(.down)
                await module.setFault(.none)
            }
            // Up at the end: the port answers again.
            let back = await eventually {
                guard let client = try? await h.connect(0) else { return false }
                let status = try? await client.status()
                await client.close()
                return status?.fnSerial == slot.fnSerial
            }
            #expect(back)
        }
        // The fleet stopped with connections still arriving, and the process is still here.
        dialing?.cancel()
        #expect((await dialing?.value ?? 0) > 0)
    }

    @Test func aTargetByAssemblyAffectsExactlyThatAssembly() async throws {
        try await withControlledFleet { h in
            let inAssembly = h.fleet.members.filter { $0.slot.assembly == "T1-2" }.map(\.slot.fnSerial)
            #expect(inAssembly.count == 2)
            let set = try await h.call(.POST, "/faults", #"{"fault": "hang", "target": {"assembly": "T1-2"}}"#)
            #expect(set.status == 200 && Harness.serials(set.json) == inAssembly)

            let faults = try await h.faults()
            for member in h.fleet.members {
                #expect(faults[member.slot.fnSerial] == (member.slot.assembly == "T1-2" ? "hang" : "none"))
            }
            // A module of the other assembly answers; one of T1-2 does not.
            let healthy = try await h.connect(0)
            #expect(try await healthy.status().fnSerial == h.slot(0).fnSerial)
            let hung = try await h.connect(2)
            #expect(await clientError { _ = try await hung.status(timeout: .milliseconds(200)) } == .timeout)

            let cleared = try await h.call(.DELETE, "/faults")
            #expect(Set(Harness.serials(cleared.json)) == Set(inAssembly))
            #expect(Set(try await h.faults().values) == ["none"])
            // Nothing left to clear.
            #expect(Harness.serials(try await h.call(.DELETE, "/faults").json).isEmpty)
            await healthy.close()
            await hung.close()
        }
    }

    @Test(arguments: [
        ("{\"fault\": \"hang\",", 400, "body"),
        ("[1, 2]", 400, "body"),
        (#"{"fault": "melt", "target": {"all": true}}"#, 400, "fault"),
        (#"{"target": {"all": true}}"#, 400, "fault"),
        (#"{"fault": "hang"}"#, 400, "target"),
        (#"{"fault": "hang", "target": {"name": "T1-1/01", "port": 1}}"#, 400, "target"),
        (#"{"fault": "hang", "target": {"shelf": "x"}}"#, 400, "target"),
        (#"{"fault": "hang", "target": {"all": false}}"#, 400, "target.all"),
        (#"{"fault": "hang", "target": {"port": "21000"}}"#, 400, "target.port"),
        (#"{"fault": "hang", "target": {"all": true}, "count": 2}"#, 400, "count"),
        (#"{"fault": "ofd_down", "target": {"all": true}, "count": 2}"#, 400, "count"),
        (#"{"fault": "drop_answer_after_fiscalizing", "target": {"all": true}, "count": 0}"#, 400, "count"),
        (#"{"fault": "hang_after_fiscalizing", "target": {"all": true}, "count": 3}"#, 400, "count"),
        (#"{"fault": "hang", "target": {"all": true}, "targets": {}}"#, 400, "targets"),
        (#"{"fault": "hang", "target": {"site": "nowhere"}}"#, 404, "target"),
    ])
    func badRequestsAreRefusedNamingTheField(body: String, status: Int, field: String) async throws {
        try await withControlledFleet { h in
            let answer = try await h.call(.POST, "/faults", body)
            #expect(answer.status == status)
            #expect(answer.json["field"] == .string(field))
            guard case .string(let message)? = answer.json["error"] else {
                Issue.record("no error text in \(answer.json.serialized())")
                return
            }
            #expect(message.hasPrefix(field + ":"), "\(message)")
            if status == 400 { #expect(answer.json["expected"] != nil) }
            // A refused request changes nothing.
            #expect(Set(try await h.faults().values) == ["none"])
        }
    }

    @Test(.timeLimit(.minutes(1)))
    func runFleetServesTheControlPlaneAndStopsItWithTheFleet() async throws {
        // A port nobody listens on (bound and released).
        let probe = try await ServerBootstrap(group: MultiThreadedEventLoopGroup.singleton).bind(host: "127.0.0.1", port: 0).get()
        let port = try #require(probe.localAddress?.port)
        try await probe.close()
        let configuration = FleetConfiguration(
            topology: Self.topology, dataDirectory: Fixture.temporaryDirectory(), speed: 100, ephemeralPorts: true)
        let running = Task { try await runFleet(configuration, controlPort: port) }
        let url = "http://127.0.0.1:\(port)"
        func get(_ path: String) async -> JSONValue? {
            guard let response = try? await HTTPClient.shared.execute(HTTPClientRequest(url: url + path), timeout: .seconds(5)),
                  response.status == .ok, let body = try? await response.body.collect(upTo: 1 << 20) else { return nil }
            return try? JSONValue.parse(body.readableBytesView)
        }
        #expect(await eventually { await get("/livez") != nil }, "the control plane never answered on \(url)")
        guard case .array(let modules)? = await get("/modules")?["modules"] else {
            Issue.record("no modules from \(url)")
            running.cancel()
            return
        }
        #expect(modules.count == 4)

        // Ending the emulator's task ends the control plane with the fleet.
        running.cancel()
        try await running.value
        // Nothing listens on the control port any more (a raw connect: the HTTP client would
        // first try its pooled connection).
        let after = try? await ClientBootstrap(group: MultiThreadedEventLoopGroup.singleton)
            .connect(host: "127.0.0.1", port: port).get()
        #expect(after == nil, "the control plane still listens on \(url)")
        try? await after?.close()
    }

    // MARK: --unsafe-ignore-epoch

    @Test(arguments: [false, true])
    func staleEpochsAreRefusedUnlessFencingIsOff(unsafeIgnoreEpoch: Bool) async throws {
        try await withControlledFleet(unsafeIgnoreEpoch: unsafeIgnoreEpoch) { h in
            let newer = try await h.connect(0)
            _ = try await newer.register(Fixture.registration)
            #expect(try await newer.hello(epoch: 5).highestEpoch == 5)

            let older = try await h.connect(0)
            let hello = await clientError { _ = try await older.hello(epoch: 2) }
            let sale = await clientError { _ = try await older.sell(Fixture.receipt(job: Self.job()), epoch: 2) }
            if unsafeIgnoreEpoch {
                #expect(hello == nil && sale == nil)
            } else {
                for refusal in [hello, sale] {
                    guard case .refused(let error)? = refusal else {
                        Issue.record("expected stale_epoch, got \(String(describing: refusal))")
                        continue
                    }
                    #expect(error.code == .staleEpoch)
                }
            }
            // Either way the highest epoch seen stays 5, and only the unsafe module made a document.
            let status = try await newer.status()
            #expect(status.highestEpoch == 5)
            #expect(status.lastDocumentNumber == (unsafeIgnoreEpoch ? 2 : 0))
            await older.close()
            await newer.close()
        }
    }
}
