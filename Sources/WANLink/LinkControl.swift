import Foundation
import Hummingbird
import Logging
import NIOCore
import ServiceLifecycle

/// The WAN links' control plane: an HTTP API on loopback only, for chaos drills and SREs
/// (with curl) to cut or slow a link while the cluster runs.
///
/// - `GET /livez` → 200 `{"status": "alive"}`
/// - `GET /links` → `{"links": [{name, state, latency_ms, jitter_ms, routes: [{listen, target}],
///   open_connections, bytes_to_target, bytes_to_client}]}`
/// - `GET /links/{name}` → `{"links": [that link]}`; 404 for an unknown link
/// - `POST /links/{name}` `{"state": "blackhole"}` and/or `{"latency_ms": 50, "jitter_ms": 5}`
///   → `{"links": [the link afterwards]}`; 400 `{"error", "field", "expected"}` naming the bad
///   field; 404 for an unknown link (`{"error", "field": "link"}`)
/// - `POST /links` `{"all": true, ...the same keys}` → every link changed, `{"links": [...]}`
///
/// The name in the path may be percent-encoded (`A-%3EB` for `A->B`).
public struct LinkControl: Sendable {
    public let proxy: WANProxy
    public let logger: Logger

    /// Bodies are a few dozen bytes; anything much larger is not a change request.
    static let bodyLimit = 64 * 1024

    public init(proxy: WANProxy, logger: Logger) {
        self.proxy = proxy
        self.logger = logger
    }

    /// Serves on 127.0.0.1:`port` (0: a free port) until the task is cancelled; `onListening`
    /// gets the port actually bound. Installs no signal handlers; cancelling the task shuts the
    /// server down gracefully (requests in flight are answered).
    public func run(port: Int, onListening: @escaping @Sendable (Int) async -> Void = { _ in }) async throws {
        let logger = self.logger
        let app = Application(
            router: router(),
            configuration: .init(address: .hostname("127.0.0.1", port: port), serverName: "kassa-wan-link-control"),
            onServerRunning: { channel in
                let bound = channel.localAddress?.port ?? port
                logger.info("wan link control plane listening", metadata: ["url": "http://127.0.0.1:\(bound)"])
                await onListening(bound)
            },
            logger: logger)
        // Stopped by a graceful shutdown rather than by cancellation, which would cut NIO's
        // loop over accepted connections short: the server runs in a task of its own that the
        // caller's cancellation does not reach.
        let services = ServiceGroup(configuration: .init(services: [app], logger: logger))
        let serving = Task { try await services.run() }
        try await withTaskCancellationHandler {
            try await serving.value
        } onCancel: {
            Task { await services.triggerGracefulShutdown() }
        }
    }

    // MARK: HTTP

    func router() -> Router<BasicRequestContext> {
        let router = Router()
        router.get("/livez") { _, _ in Self.json(.ok, ["status": "alive"]) }
        router.get("/links") { _, _ in Self.links(proxy.snapshots) }
        router.get("/links/{name}") { _, context in
            switch named(context) {
            case .success(let link): return Self.links([link.snapshot])
            case .failure(let refusal): return refusal.response
            }
        }
        router.post("/links/{name}") { request, context in
            let link: Link
            switch named(context) {
            case .success(let found): link = found
            case .failure(let refusal): return refusal.response
            }
            let parsed: LinkChangeRequest
            switch await read(request, scope: .oneLink) {
            case .success(let request): parsed = request
            case .failure(let refusal): return refusal.response
            }
            return Self.links([await link.change(parsed.change)])
        }
        router.post("/links") { request, _ in
            let parsed: LinkChangeRequest
            switch await read(request, scope: .allLinks) {
            case .success(let request): parsed = request
            case .failure(let refusal): return refusal.response
            }
            var changed: [LinkSnapshot] = []
            for link in proxy.links {
                changed.append(await link.change(parsed.change))
            }
            return Self.links(changed)
        }
        return router
    }

    /// A refused request, as its response (an `Error` only to travel in a `Result`).
    struct Refusal: Error {
        let response: Response
    }

    private func named(_ context: BasicRequestContext) -> Result<Link, Refusal> {
        let raw = context.parameters.get("name") ?? ""
        let name = raw.removingPercentEncoding ?? raw
        guard let link = proxy.link(named: name) else {
            let known = proxy.links.map(\.name).joined(separator: ", ")
            return .failure(Refusal(response: Self.json(.notFound, [
                "error": .string("link: no link named \"\(name)\" (links: \(known))"), "field": "link",
            ])))
        }
        return .success(link)
    }

    private func read(_ request: Request, scope: LinkChangeRequest.Scope) async -> Result<LinkChangeRequest, Refusal> {
        let body: ByteBuffer
        do {
            body = try await request.body.collect(upTo: Self.bodyLimit)
        } catch {
            return .failure(Refusal(response: Self.refusal(
                .contentTooLarge, LinkRequestError(field: "body", expected: "at most \(Self.bodyLimit) bytes", found: "more"))))
        }
        do throws(LinkRequestError) {
            return .success(try LinkChangeRequest(body: body.readableBytesView, scope: scope))
        } catch {
            return .failure(Refusal(response: Self.refusal(.badRequest, error)))
        }
    }

    /// How the control plane shows a link.
    static func json(_ link: LinkSnapshot) -> ControlJSON {
        .object([
            "name": .string(link.name),
            "state": .string(link.conditions.state.rawValue),
            "latency_ms": .number(Double(link.conditions.latencyMs)),
            "jitter_ms": .number(Double(link.conditions.jitterMs)),
            "routes": .array(link.routes.routes.map {
                .object(["listen": .string($0.listen.description), "target": .string($0.target.description)])
            }),
            "open_connections": .number(Double(link.openConnections)),
            "bytes_to_target": .number(Double(link.bytesToTarget)),
            "bytes_to_client": .number(Double(link.bytesToClient)),
        ])
    }

    static func links(_ links: [LinkSnapshot]) -> Response {
        json(.ok, ["links": .array(links.map(json))])
    }

    static func refusal(_ status: HTTPResponse.Status, _ error: LinkRequestError) -> Response {
        json(status, [
            "error": .string(error.description), "field": .string(error.field), "expected": .string(error.expected),
        ])
    }

    static func json(_ status: HTTPResponse.Status, _ body: [String: ControlJSON]) -> Response {
        Response(
            status: status, headers: [.contentType: "application/json"],
            body: .init(byteBuffer: ByteBuffer(string: ControlJSON.object(body).serialized() + "\n")))
    }
}
