import Hummingbird
import KassaModel
import KassaWire
import Logging
import NIOCore
import ServiceLifecycle

/// The emulator's fault control plane: an HTTP API, on loopback only, that sets and lifts
/// faults on a running fleet's modules. Chaos drills and SREs (with curl) use it; see
/// docs/KASSA-PROTOCOL.md, "Control plane (faults)".
///
/// - `GET /livez` → 200 `{"status": "alive"}`
/// - `GET /modules` → `{"modules": [{name, fn_serial, port, site, rack, assembly, fault, ofd_link,
///   undelivered_documents, last_document_number}]}`
/// - `POST /faults` `{"fault": ..., "target": {one key}, "count": n}` → `{"fault", "count", "modules": [{name, fn_serial, port}]}`;
///   400 naming the bad field, 404 when the target matches no module. `ofd_down` / `ofd_up`
///   set the OFD link only; every other fault replaces the module's fault (`none` also brings
///   the OFD link up).
/// - `DELETE /faults` → every module back to normal (fault `none`, OFD link up);
///   `{"fault": "none", "modules": [...]}` lists those that had a fault or their OFD link down
/// - `POST /fn` `{"target": {one key}, "documents_left": n, "expires_in_s": s}` → the FNs'
///   new counters (`{"documents_left", "expires_in_s", "modules": [{name, fn_serial, port,
///   fn_capacity, documents_used, fn_expires_at}]}`); 400/404 as for faults; 409 listing
///   `not_changed` modules whose FN a hung command holds
public struct FaultControl: Sendable {
    public let fleet: Fleet
    public let logger: Logger
    /// How long `POST /fn` waits for a module's FN, which a command may hold (forever, if it is
    /// hung by `hang_after_fiscalizing`), before it reports the module as not changed.
    public var fnWait: Duration = .seconds(5)

    /// Bodies are a few dozen bytes; anything much larger is not a fault request.
    static let bodyLimit = 64 * 1024
    /// Modules changed at once by `POST /fn` (each change is a state file written).
    static let fnChangeParallelism = 32

    public init(fleet: Fleet, logger: Logger) {
        self.fleet = fleet
        self.logger = logger
    }

    /// Serves on 127.0.0.1:`port` (0: a free port) until the task is cancelled; `onListening`
    /// gets the port actually bound. Installs no signal handlers; cancelling the task shuts the
    /// server down gracefully (requests in flight are answered).
    public func run(port: Int, onListening: @escaping @Sendable (Int) async -> Void = { _ in }) async throws {
        let logger = self.logger
        let app = Application(
            router: router(),
            configuration: .init(address: .hostname("127.0.0.1", port: port), serverName: "kassa-emulator-control"),
            onServerRunning: { channel in
                let bound = channel.localAddress?.port ?? port
                logger.info("fault control plane listening", metadata: ["url": "http://127.0.0.1:\(bound)"])
                await onListening(bound)
            },
            logger: logger)
        // Stopped by a graceful shutdown rather than by cancellation, which would cut NIO's
        // loop over accepted connections short (see `ModuleServer`): the server runs in a task
        // of its own that the caller's cancellation does not reach.
        let services = ServiceGroup(configuration: .init(services: [app], logger: logger))
        let serving = Task { try await services.run() }
        try await withTaskCancellationHandler {
            try await serving.value
        } onCancel: {
            Task { await services.triggerGracefulShutdown() }
        }
    }

    // MARK: Acting on the fleet

    /// Sets the request's fault on every module its target matches; returns those modules
    /// (none: the target matched nothing and nothing changed).
    public func apply(_ request: FaultRequest) async -> [ModuleSlot] {
        let chosen = fleet.members.filter { request.target.matches($0.slot) }
        guard !chosen.isEmpty else { return [] }
        for member in chosen {
            switch request.fault {
            case .module(let fault):
                await member.module.setFault(fault, count: request.count)
                // `none` means "works normally", which includes reaching the OFD.
                if fault == .none { await member.module.setOFDLink(.up) }
            case .ofdLink(let link):
                await member.module.setOFDLink(link)
            }
        }
        logger.notice(
            "fault set",
            metadata: [
                "fault": "\(request.fault.name)", "count": "\(request.count.map(String.init) ?? "until cleared")",
                "target": "\(request.target)", "modules": "\(chosen.map(\.slot.name).joined(separator: ","))",
            ])
        return chosen.map(\.slot)
    }

    /// Clears every module's fault and brings every OFD link up; returns the modules that had a
    /// fault or their link down.
    public func clearAll() async -> [ModuleSlot] {
        var cleared: [(slot: ModuleSlot, had: [String])] = []
        for member in fleet.members {
            let condition = await member.module.condition
            var had: [String] = []
            if condition.fault != .none {
                await member.module.setFault(.none)
                had.append(condition.fault.rawValue)
            }
            if condition.ofdLink != .up {
                await member.module.setOFDLink(.up)
                had.append(FaultKind.ofdLink(condition.ofdLink).name)
            }
            if !had.isEmpty { cleared.append((member.slot, had)) }
        }
        let names = cleared.map { "\($0.slot.name) (\($0.had.joined(separator: "+")))" }.joined(separator: ",")
        logger.notice("faults cleared", metadata: ["fault": "none", "modules": "\(cleared.isEmpty ? "none had one" : names)"])
        return cleared.map(\.slot)
    }

    /// How `changeFNs` went for one module.
    public struct FNChangeOutcome: Sendable {
        public var slot: ModuleSlot
        public var change: KassaModule.FNChange
    }

    /// Applies `request` to every module its target matches, a few dozen at a time, in topology
    /// order; nil when the target matches nothing. Refuses (changing nothing) a `documents_left`
    /// beyond a matched FN's capacity.
    public func changeFNs(_ request: FNChangeRequest) async throws(FaultRequestError) -> [FNChangeOutcome]? {
        let chosen = fleet.members.filter { request.target.matches($0.slot) }
        guard !chosen.isEmpty else { return nil }
        if let left = request.documentsLeft {
            for member in chosen {
                let capacity = await member.module.status.fnCapacity
                guard left <= capacity else {
                    throw FaultRequestError(
                        field: "documents_left",
                        expected: "a whole number 0-\(capacity) (the capacity of FN \(member.slot.fnSerial), \(member.slot.name))",
                        found: "\(left)")
                }
            }
        }
        let wait = fnWait
        let outcomes = await withTaskGroup(of: (Int, KassaModule.FNChange).self) { group in
            var outcomes = [KassaModule.FNChange?](repeating: nil, count: chosen.count)
            var next = 0
            func changeOne(_ i: Int) {
                let module = chosen[i].module
                group.addTask {
                    (i, await module.changeFN(documentsLeft: request.documentsLeft, expiresIn: request.expiresIn, wait: wait))
                }
            }
            while next < min(Self.fnChangeParallelism, chosen.count) {
                changeOne(next)
                next += 1
            }
            while let (i, change) = await group.next() {
                outcomes[i] = change
                if next < chosen.count {
                    changeOne(next)
                    next += 1
                }
            }
            return outcomes
        }
        let result = zip(chosen, outcomes).map { member, change in
            FNChangeOutcome(slot: member.slot, change: change ?? .failed("not attempted"))
        }
        let changed = result.filter { if case .changed = $0.change { true } else { false } }.map(\.slot.name)
        let notChanged = result.filter { if case .changed = $0.change { false } else { true } }.map(\.slot.name)
        logger.notice(
            "fn changed",
            metadata: [
                "documents_left": "\(request.documentsLeft.map(String.init) ?? "unchanged")",
                "expires_in_s": "\(request.expiresIn.map(String.init) ?? "unchanged")",
                "target": "\(request.target)", "modules": "\(changed.joined(separator: ","))",
                "not_changed": "\(notChanged.isEmpty ? "none" : notChanged.joined(separator: ","))",
            ])
        return result
    }

    // MARK: HTTP

    func router() -> Router<BasicRequestContext> {
        let router = Router()
        router.get("/livez") { _, _ in Self.json(.ok, ["status": "alive"]) }
        router.get("/modules") { _, _ in await modules() }
        router.post("/faults") { request, _ in
            let body: ByteBuffer
            switch await Self.collectBody(request) {
            case .success(let collected): body = collected
            case .failure(let refusal): return refusal.response
            }
            let parsed: FaultRequest
            do throws(FaultRequestError) {
                parsed = try FaultRequest(body: body.readableBytesView)
            } catch {
                return Self.refusal(.badRequest, error)
            }
            let chosen = await apply(parsed)
            guard !chosen.isEmpty else {
                return Self.noModuleMatches(parsed.target)
            }
            var answer: [String: JSONValue] = [
                "fault": .string(parsed.fault.name), "modules": .array(chosen.map(Self.brief)),
            ]
            if let count = parsed.count { answer["count"] = .number(Double(count)) }
            return Self.json(.ok, answer)
        }
        router.delete("/faults") { _, _ in
            let cleared = await clearAll()
            return Self.json(.ok, ["fault": "none", "modules": .array(cleared.map(Self.brief))])
        }
        router.post("/fn") { request, _ in
            let body: ByteBuffer
            switch await Self.collectBody(request) {
            case .success(let collected): body = collected
            case .failure(let refusal): return refusal.response
            }
            let parsed: FNChangeRequest
            let outcomes: [FNChangeOutcome]?
            do throws(FaultRequestError) {
                parsed = try FNChangeRequest(body: body.readableBytesView)
                outcomes = try await changeFNs(parsed)
            } catch {
                return Self.refusal(.badRequest, error)
            }
            guard let outcomes else {
                return Self.noModuleMatches(parsed.target)
            }
            return Self.fnAnswer(parsed, outcomes)
        }
        return router
    }

    /// 200 with every module's new counters, or 409 when some module was not changed.
    static func fnAnswer(_ request: FNChangeRequest, _ outcomes: [FNChangeOutcome]) -> Response {
        var changed: [JSONValue] = []
        var notChanged: [JSONValue] = []
        for outcome in outcomes {
            guard case .object(var fields) = brief(outcome.slot) else { continue }
            switch outcome.change {
            case .changed(let status):
                fields["fn_capacity"] = .number(Double(status.fnCapacity))
                fields["documents_used"] = .number(Double(status.documentsUsed))
                fields["fn_expires_at"] = .string(WireTime.iso8601(status.fnExpiresAt))
                changed.append(.object(fields))
            case .busy:
                fields["reason"] = "its FN is held by a hung command; clear the module's fault first"
                notChanged.append(.object(fields))
            case .failed(let reason):
                fields["reason"] = .string(reason)
                notChanged.append(.object(fields))
            }
        }
        var answer: [String: JSONValue] = ["modules": .array(changed)]
        if let left = request.documentsLeft { answer["documents_left"] = .number(Double(left)) }
        if let seconds = request.expiresIn { answer["expires_in_s"] = .number(Double(seconds)) }
        guard notChanged.isEmpty else {
            answer["not_changed"] = .array(notChanged)
            answer["error"] = .string("target: \(notChanged.count) of \(outcomes.count) modules were not changed (see not_changed)")
            answer["field"] = "target"
            return json(.conflict, answer)
        }
        return json(.ok, answer)
    }

    private func modules() async -> Response {
        var modules: [JSONValue] = []
        for member in fleet.members {
            let slot = member.slot
            let condition = await member.module.condition
            modules.append(.object([
                "name": .string(slot.name), "fn_serial": .string(slot.fnSerial), "port": .number(Double(slot.port)),
                "site": .string(slot.site), "rack": .string(slot.rack), "assembly": .string(slot.assembly),
                "fault": .string(condition.fault.rawValue), "ofd_link": .string(condition.ofdLink.rawValue),
                "undelivered_documents": .number(Double(condition.undeliveredDocuments)),
                "last_document_number": .number(Double(condition.lastDocumentNumber)),
            ]))
        }
        return Self.json(.ok, ["modules": .array(modules)])
    }

    /// How a response names a module.
    static func brief(_ slot: ModuleSlot) -> JSONValue {
        .object(["name": .string(slot.name), "fn_serial": .string(slot.fnSerial), "port": .number(Double(slot.port))])
    }

    /// A refused request, carried through `Result` (a `Response` is not an `Error`).
    struct Refusal: Error {
        let response: Response
    }

    /// The request's JSON body, or the refusal of one over `bodyLimit`.
    static func collectBody(_ request: Request) async -> Result<ByteBuffer, Refusal> {
        do {
            return .success(try await request.body.collect(upTo: bodyLimit))
        } catch {
            return .failure(Refusal(response: refusal(
                .contentTooLarge, FaultRequestError(field: "body", expected: "at most \(bodyLimit) bytes", found: "more"))))
        }
    }

    static func noModuleMatches(_ target: FaultTarget) -> Response {
        json(.notFound, ["error": .string("target: no module matches \(target)"), "field": "target"])
    }

    static func refusal(_ status: HTTPResponse.Status, _ error: FaultRequestError) -> Response {
        json(status, [
            "error": .string(error.description), "field": .string(error.field), "expected": .string(error.expected),
        ])
    }

    static func json(_ status: HTTPResponse.Status, _ body: [String: JSONValue]) -> Response {
        Response(
            status: status, headers: [.contentType: "application/json"],
            body: .init(byteBuffer: ByteBuffer(string: JSONValue.object(body).serialized() + "\n")))
    }
}
