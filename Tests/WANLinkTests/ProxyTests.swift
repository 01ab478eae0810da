import Foundation
import NIOCore
import NIOPosix
import Testing

@testable import WANLink

/// Traffic through a link over real loopback TCP, to echo servers the tests start.
@Suite("WAN link traffic", .serialized, .timeLimit(.minutes(2)))
struct ProxyTests {
    /// Bytes that are not all alike, so a reordered or corrupted chunk shows.
    static func payload(_ size: Int) -> [UInt8] {
        var state: UInt64 = 0x9E37_79B9_7F4A_7C15
        return (0..<size).map { _ in
            state = state &* 6_364_136_223_846_793_005 &+ 1_442_695_040_888_963_407
            return UInt8(truncatingIfNeeded: state >> 33)
        }
    }

    /// FNV-1a, enough to tell two 4 MB payloads apart.
    static func checksum(_ bytes: [UInt8]) -> UInt64 {
        bytes.reduce(0xcbf2_9ce4_8422_2325) { ($0 ^ UInt64($1)) &* 0x100_0000_01b3 }
    }

    @Test func fourMegabytesPassUnchangedBothWays() async throws {
        try await withEchoLink { h, _ in
            let payload = Self.payload(4 << 20)
            let client = try await h.connect()
            // Sent in one go: the proxy's pipes (1 MiB each way) must hold back, not drop.
            try await client.send(payload)
            let echoed = try #require(await client.receive(payload.count, within: .seconds(60)))
            #expect(Self.checksum(echoed) == Self.checksum(payload))
            #expect(echoed == payload)
            let snapshot = h.link.snapshot
            #expect(snapshot.bytesToTarget == UInt64(payload.count))
            #expect(snapshot.bytesToClient == UInt64(payload.count))
            #expect(snapshot.openConnections == 1)
            await client.close()
        }
    }

    @Test func aPortRangeMapsPortForPort() async throws {
        try await withEventLoops { group in
            // Four echo servers on consecutive ports, each greeting with its own port.
            let echoes = try await withConsecutivePorts(4) { base in
                var started: [EchoServer] = []
                do {
                    for port in base..<base + 4 {
                        started.append(try await EchoServer.start(port: port, greeting: true, group: group))
                    }
                } catch {
                    for echo in started { await echo.close() }
                    throw error
                }
                return started
            }
            let targets = "127.0.0.1:\(echoes[0].port)-\(echoes[3].port)"
            try await withConsecutivePorts(4) { base in
                let configuration = WANConfiguration(links: [
                    .init(name: "A->B", routes: [.init(listen: "127.0.0.1:\(base)-\(base + 3)", target: targets)])
                ])
                try await withProxy(configuration, group: group) { h in
                    #expect(h.link.mappings.map(\.listen.port) == Array(base..<base + 4))
                    // Connected in reverse order, so a mapping by arrival would show.
                    for index in (0..<4).reversed() {
                        let client = try await h.connect(base + index)
                        #expect(await client.line() == "\(echoes[index].port)")
                        #expect(try await client.echo("hello \(index)") == "hello \(index)")
                        await client.close()
                    }
                }
            }
            for echo in echoes { await echo.close() }
        }
    }

    @Test func latencyAddsToTheRoundTrip() async throws {
        try await withEchoLink { h, _ in
            let client = try await h.connect()
            #expect(try await client.echo("warm") == "warm")
            try await h.set(#"{"latency_ms": 150}"#)
            let start = ContinuousClock.now
            #expect(try await client.echo("ping") == "ping")
            let roundTrip = ContinuousClock.now - start
            // There and back: two one-way delays at least. The upper bound only catches a
            // delay applied far too often, not a busy machine.
            #expect(roundTrip >= .milliseconds(300), "round trip \(roundTrip)")
            #expect(roundTrip < .seconds(10), "round trip \(roundTrip)")

            try await h.set(#"{"latency_ms": 0}"#)
            #expect(try await client.echo("fast") == "fast")
            await client.close()
        }
    }

    @Test func orderIsKeptUnderLatencyAndJitter() async throws {
        try await withEchoLink(latencyMs: 15, jitterMs: 10) { h, _ in
            let client = try await h.connect()
            var expected = ""
            for index in 0..<400 {
                let piece = "\(index),"
                expected += piece
                // One write each: many chunks, each with its own jittered delay.
                try await client.send(piece)
            }
            let echoed = try #require(await client.receive(expected.utf8.count, within: .seconds(60)))
            #expect(String(decoding: echoed, as: UTF8.self) == expected)
            await client.close()
        }
    }

    @Test func blackholeSwallowsTrafficWithoutClosingAndUpClosesWhatItHeld() async throws {
        try await withEchoLink { h, echo in
            let before = try await h.connect()
            #expect(try await before.echo("ping") == "ping")
            try await h.set(#"{"state": "blackhole"}"#)

            // An open connection goes silent, and stays open: the peer sees a timeout.
            #expect(try await before.echo("lost", within: .milliseconds(400)) == nil)
            #expect(!before.isClosed)
            // A new one is accepted and read, but never reaches the target nor hears back.
            let during = try await h.connect()
            #expect(try await during.echo("void", within: .milliseconds(300)) == nil)
            #expect(!during.isClosed && !before.isClosed)
            #expect(echo.counts.value.accepted == 1)
            // Accepted by the proxy (the client's connect returns once the kernel has it).
            #expect(await eventually { h.link.snapshot.openConnections == 2 })
            #expect(h.link.snapshot.conditions.state == .blackhole)

            // Back up: the connections that lived through the blackhole are closed ...
            try await h.set(#"{"state": "up"}"#)
            #expect(await before.closed(within: .seconds(10)))
            #expect(await during.closed(within: .seconds(10)))
            // ... and new ones work.
            let after = try await h.connect()
            #expect(try await after.echo("back") == "back")
            await after.close()
        }
    }

    @Test func resetClosesConnectionsAndRefusesNewOnesUntilUp() async throws {
        try await withEchoLink { h, echo in
            let before = try await h.connect()
            #expect(try await before.echo("ping") == "ping")
            #expect(await echo.counts.wait(within: .seconds(10)) { $0.open == 1 })

            try await h.set(#"{"state": "reset"}"#)
            #expect(await before.closed(within: .seconds(10)))
            // The proxy also hung up on the target.
            #expect(await echo.counts.wait(within: .seconds(10)) { $0.open == 0 })
            // Nothing listens: refused at once.
            await #expect(throws: (any Error).self) { _ = try await h.connect() }
            #expect(h.link.snapshot.openConnections == 0)

            try await h.set(#"{"state": "up"}"#)
            let after = try await h.connect()
            #expect(try await after.echo("back") == "back")
            await after.close()
        }
    }

    @Test func aLinkCanGoFromBlackholeStraightToResetAndBack() async throws {
        try await withEchoLink { h, _ in
            let client = try await h.connect()
            #expect(try await client.echo("ping") == "ping")
            try await h.set(#"{"state": "blackhole"}"#)
            try await h.set(#"{"state": "reset"}"#)
            #expect(await client.closed(within: .seconds(10)))
            await #expect(throws: (any Error).self) { _ = try await h.connect() }
            try await h.set(#"{"state": "blackhole"}"#)
            let silent = try await h.connect()
            #expect(try await silent.echo("void", within: .milliseconds(300)) == nil)
            try await h.set(#"{"state": "up"}"#)
            #expect(await silent.closed(within: .seconds(10)))
            let after = try await h.connect()
            #expect(try await after.echo("back") == "back")
            await after.close()
        }
    }

    @Test func aTargetThatRefusesClosesTheClient() async throws {
        try await withEventLoops { group in
            // A port nobody listens on (bound and released).
            let probe = try await EchoServer.start(group: group)
            let nowhere = probe.port
            await probe.close()
            let configuration = WANConfiguration(links: [
                .init(name: "A->B", routes: [.init(listen: "127.0.0.1:0", target: "127.0.0.1:\(nowhere)")])
            ])
            try await withProxy(configuration, group: group) { h in
                let client = try await h.connect()
                #expect(await client.closed(within: .seconds(10)))
                #expect(h.link.snapshot.bytesToTarget == 0)
            }
        }
    }

    @Test func stoppingClosesConnectionsAndPorts() async throws {
        try await withEventLoops { group in
            let echo = try await EchoServer.start(group: group)
            let proxy = try await WANProxy.start(
                WANConfiguration(links: [.init(name: "A->B", routes: [.init(listen: "127.0.0.1:0", target: "127.0.0.1:\(echo.port)")])]),
                eventLoopGroup: group)
            let port = proxy.links[0].mappings[0].listen.port
            let client = try await TestClient.connect(port: port, group: group)
            #expect(try await client.echo("ping") == "ping")
            let running = Task { await proxy.run() }
            running.cancel()
            await running.value
            #expect(await client.closed(within: .seconds(10)))
            await #expect(throws: (any Error).self) { _ = try await TestClient.connect(port: port, group: group) }
            await echo.close()
        }
    }
}
