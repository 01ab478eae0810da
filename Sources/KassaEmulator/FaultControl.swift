import Hummingbird
import KassaModel
import Logging
import NIOCore
import ServiceLifecycle

/// The emulator's fault control plane: an HTTP API, on loopback only, that sets and lifts
/// faults on a running fleet's modules. Chaos drills and SREs (with curl) use it; see
/// docs/KASSA-PROTOCOL.md, "Control plane (faults)".
///
/// - `GET /livez` → 200 `{"status": "alive"}`
/// - `GET /modules` → `{"modules": [{name, fn_serial, port, site, rack, assembly, fault, last_document_number}]}`
/// - `POST /faults` `{"fault": ..., "target": {one key}, "count": n}` → `{"fault", "count", "modules": [{name, fn_serial, port}]}`;
///   400 naming the bad field, 404 when the target matches no module
/// - `DELETE /faults` → every module back to normal; `{"fault": "none", "modules": [...]}` lists those that had a fault
public struct FaultControl: Sendable {
    public let fleet: Fleet
    public let logger: Logger

    /// Bodies are a few dozen bytes; anything much larger is not a fault request.
    static let bodyLimit = 64 * 1024

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
            await member.module.setFault(request.fault, count: request.count)
        }
        logger.notice(
            "fault set",
            metadata: [
                "fault": "\(request.fault.rawValue)", "count": "\(request.count.map(String.init) ?? "until cleared")",
                "target": "\(request.target)", "modules": "\(chosen.map(\.slot.name).joined(separator: ","))",
            ])
        return chosen.map(\.slot)
    }

    /// Clears every module's fault; returns the modules that had one.
    public func clearAll() async -> [ModuleSlot] {
        var cleared: [(slot: ModuleSlot, had: ModuleFault)] = []
        for member in fleet.members {
            let had = await member.module.currentFault
            guard had != .none else { continue }
            await member.module.setFault(.none)
            cleared.append((member.slot, had))
        }
        let names = cleared.map { "\($0.slot.name) (\($0.had.rawValue))" }.joined(separator: ",")
        logger.notice("faults cleared", metadata: ["fault": "none", "modules": "\(cleared.isEmpty ? "none had one" : names)"])
        return cleared.map(\.slot)
    }

    // MARK: HTTP

    func router() -> Router<BasicRequestContext> {
        let router = Router()
        router.get("/livez") { _, _ in Self.json(.ok, ["status": "alive"]) }
        router.get("/modules") { _, _ in await modules() }
        router.post("/faults") { request, _ in
            let body: ByteBuffer
            do {
                body = try await request.body.collect(upTo: Self.bodyLimit)
            } catch {
                return Self.refusal(
                    .contentTooLarge,
                    FaultRequestError(field: "body", expected: "at most \(Self.bodyLimit) bytes", found: "more"))
            }
            let parsed: FaultRequest
            do throws(FaultRequestError) {
                parsed = try FaultRequest(body: body.readableBytesView)
            } catch {
                return Self.refusal(.badRequest, error)
            }
            let chosen = await apply(parsed)
            guard !chosen.isEmpty else {
                return Self.json(.notFound, [
                    "error": .string("target: no module matches \(parsed.target)"), "field": "target",
                ])
            }
            var answer: [String: JSONValue] = [
                "fault": .string(parsed.fault.rawValue), "modules": .array(chosen.map(Self.brief)),
            ]
            if let count = parsed.count { answer["count"] = .number(Double(count)) }
            return Self.json(.ok, answer)
        }
        router.delete("/faults") { _, _ in
            let cleared = await clearAll()
            return Self.json(.ok, ["fault": "none", "modules": .array(cleared.map(Self.brief))])
        }
        return router
    }

    private func modules() async -> Response {
        var modules: [JSONValue] = []
        for member in fleet.members {
            let slot = member.slot
            modules.append(.object([
                "name": .string(slot.name), "fn_serial": .string(slot.fnSerial), "port": .number(Double(slot.port)),
                "site": .string(slot.site), "rack": .string(slot.rack), "assembly": .string(slot.assembly),
                "fault": .string(await member.module.currentFault.rawValue),
                "last_document_number": .number(Double(await member.module.lastDocumentNumber)),
            ]))
        }
        return Self.json(.ok, ["modules": .array(modules)])
    }

    /// How a response names a module.
    static func brief(_ slot: ModuleSlot) -> JSONValue {
        .object(["name": .string(slot.name), "fn_serial": .string(slot.fnSerial), "port": .number(Double(slot.port))])
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
