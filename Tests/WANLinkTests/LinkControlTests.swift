import AsyncHTTPClient
import Logging
import NIOCore
import NIOHTTP1
import NIOPosix
import Testing

@testable import WANLink

/// The control plane over real HTTP, acting on links over real TCP.
@Suite("WAN link control plane", .serialized, .timeLimit(.minutes(2)))
struct LinkControlTests {
    /// Two links in front of one echo server.
    func withTwoLinks(_ body: (Harness) async throws -> Void) async throws {
        try await withEventLoops { group in
            let echo = try await EchoServer.start(group: group)
            let configuration = WANConfiguration(links: [
                .init(name: "A->B", latencyMs: 5, routes: [.init(listen: "127.0.0.1:0", target: "127.0.0.1:\(echo.port)")]),
                .init(name: "B->A", state: "blackhole", routes: [.init(listen: "127.0.0.1:0", target: "127.0.0.1:\(echo.port)")]),
            ])
            try await withProxy(configuration, group: group, body)
            await echo.close()
        }
    }

    static func links(_ json: ControlJSON) -> [ControlJSON] {
        guard case .array(let links)? = json["links"] else { return [] }
        return links
    }

    @Test func livezAndLinksShowEveryLink() async throws {
        try await withTwoLinks { h in
            let livez = try await h.call(.GET, "/livez")
            #expect(livez.status == 200 && livez.json == .object(["status": "alive"]))
            let client = try await h.connect()
            #expect(try await client.echo("12345") == "12345")

            let (status, json) = try await h.call(.GET, "/links")
            #expect(status == 200)
            let links = Self.links(json)
            #expect(links.count == 2)
            let port = h.proxy.links[0].mappings[0].listen.port
            let target = h.proxy.links[0].mappings[0].target
            #expect(links.first == .object([
                "name": "A->B", "state": "up", "latency_ms": 5, "jitter_ms": 0,
                "routes": .array([.object(["listen": .string("127.0.0.1:\(port)"), "target": .string("\(target)")])]),
                "open_connections": 1, "bytes_to_target": 5, "bytes_to_client": 5,
            ]))
            #expect(links.last?["name"] == "B->A")
            #expect(links.last?["state"] == "blackhole")
            await client.close()
        }
    }

    @Test func postChangesOneLinkAndAnswersWithIt() async throws {
        try await withTwoLinks { h in
            let (status, json) = try await h.call(.POST, "/links/A-%3EB", #"{"latency_ms": 50, "jitter_ms": 5}"#)
            #expect(status == 200)
            let link = try #require(Self.links(json).first)
            #expect(link["latency_ms"] == 50 && link["jitter_ms"] == 5 && link["state"] == "up")
            #expect(h.proxy.links[0].snapshot.conditions == LinkConditions(state: .up, latencyMs: 50, jitterMs: 5))
            // The other link is as it was.
            #expect(h.proxy.links[1].snapshot.conditions == LinkConditions(state: .blackhole, latencyMs: 0, jitterMs: 0))
            // Only the fields given change.
            _ = try await h.call(.POST, "/links/A-%3EB", #"{"state": "reset"}"#)
            #expect(h.proxy.links[0].snapshot.conditions == LinkConditions(state: .reset, latencyMs: 50, jitterMs: 5))
            #expect(Self.links(try await h.call(.GET, "/links/A-%3EB").json).first?["state"] == "reset")
        }
    }

    @Test func postAllChangesEveryLink() async throws {
        try await withTwoLinks { h in
            let (status, json) = try await h.call(.POST, "/links", #"{"all": true, "state": "up", "latency_ms": 30}"#)
            #expect(status == 200)
            #expect(Self.links(json).compactMap { $0["name"] } == ["A->B", "B->A"])
            for link in h.proxy.links {
                #expect(link.snapshot.conditions == LinkConditions(state: .up, latencyMs: 30, jitterMs: 0))
            }
            // B->A was a blackhole; now it forwards.
            let client = try await h.connect(h.proxy.links[1].mappings[0].listen.port)
            #expect(try await client.echo("both") == "both")
            await client.close()
        }
    }

    @Test(arguments: [
        ("/links/A-%3EB", "{\"state\": \"up\",", 400, "body"),
        ("/links/A-%3EB", "[1, 2]", 400, "body"),
        ("/links/A-%3EB", "{}", 400, "body"),
        ("/links/A-%3EB", #"{"state": "down"}"#, 400, "state"),
        ("/links/A-%3EB", #"{"state": 1}"#, 400, "state"),
        ("/links/A-%3EB", #"{"latency_ms": -1}"#, 400, "latency_ms"),
        ("/links/A-%3EB", #"{"latency_ms": 60001}"#, 400, "latency_ms"),
        ("/links/A-%3EB", #"{"latency_ms": "50"}"#, 400, "latency_ms"),
        ("/links/A-%3EB", #"{"latency_ms": 2.5}"#, 400, "latency_ms"),
        ("/links/A-%3EB", #"{"latency_ms": null}"#, 400, "latency_ms"),
        ("/links/A-%3EB", #"{"state": "up", "jitter_ms": true}"#, 400, "jitter_ms"),
        ("/links/A-%3EB", #"{"jitter_ms": 100000}"#, 400, "jitter_ms"),
        ("/links/A-%3EB", #"{"latency": 50}"#, 400, "latency"),
        ("/links/A-%3EB", #"{"all": true, "state": "up"}"#, 400, "all"),
        ("/links", #"{"state": "up"}"#, 400, "all"),
        ("/links", #"{"all": false, "state": "up"}"#, 400, "all"),
        ("/links", #"{"all": true}"#, 400, "body"),
        ("/links", #"{"all": true, "state": "cut"}"#, 400, "state"),
        ("/links/C-%3ED", #"{"state": "up"}"#, 404, "link"),
    ])
    func badRequestsAreRefusedNamingTheField(path: String, body: String, status: Int, field: String) async throws {
        try await withTwoLinks { h in
            let before = h.proxy.snapshots.map(\.conditions)
            let answer = try await h.call(.POST, path, body)
            #expect(answer.status == status)
            #expect(answer.json["field"] == .string(field))
            guard case .string(let message)? = answer.json["error"] else {
                Issue.record("no error text in \(answer.json.serialized())")
                return
            }
            #expect(message.hasPrefix(field + ":"), "\(message)")
            if status == 400 { #expect(answer.json["expected"] != nil) }
            // A refused request changes nothing.
            #expect(h.proxy.snapshots.map(\.conditions) == before)
        }
    }

    @Test func runWANLinkServesTheControlPlaneAndStopsOnCancel() async throws {
        try await withEventLoops { group in
            let echo = try await EchoServer.start(group: group)
            let configuration = WANConfiguration(links: [
                .init(name: "A->B", routes: [.init(listen: "127.0.0.1:0", target: "127.0.0.1:\(echo.port)")])
            ])
            let (ports, portSink) = AsyncStream.makeStream(of: Int.self)
            var logger = Logger(label: "test.run-wan-link")
            logger.logLevel = .warning
            let running = Task { try await runWANLink(configuration, controlPort: 0, logger: logger) { portSink.yield($0) } }
            var listening = ports.makeAsyncIterator()
            let port = try #require(await listening.next())
            let (status, json) = try await controlCall("http://127.0.0.1:\(port)", .GET, "/links")
            #expect(status == 200 && Self.links(json).count == 1)

            running.cancel()
            try await running.value
            // Nothing listens on the control port any more.
            await #expect(throws: (any Error).self) { _ = try await TestClient.connect(port: port, group: group) }
            await echo.close()
        }
    }
}
