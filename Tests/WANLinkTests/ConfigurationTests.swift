import Testing

@testable import WANLink

/// The links file: its shape, the route table it gives, and errors that name the field path.
@Suite("WAN link configuration")
struct ConfigurationTests {
    static let twoSites = """
        links:
          - name: "A->B"
            latency_ms: 20
            jitter_ms: 2
            routes:
              - {listen: "127.0.0.1:31000-31095", target: "127.0.0.1:21000-21095"}
              - {listen: "127.0.0.1:31100", target: "127.0.0.1:18080"}
          - name: "B->A"
            state: blackhole
            routes:
              - {listen: "[::1]:32000-32001", target: "127.0.0.2:21100-21101"}
        """

    @Test func aFileWithTwoLinksParses() throws {
        let configuration = try WANConfiguration.parse(yaml: Self.twoSites)
        let links = try configuration.definitions()
        #expect(links.map(\.name) == ["A->B", "B->A"])
        #expect(links[0].conditions == LinkConditions(state: .up, latencyMs: 20, jitterMs: 2))
        #expect(links[1].conditions == LinkConditions(state: .blackhole, latencyMs: 0, jitterMs: 0))
        #expect(links[0].routes.routes.map(\.listen.description) == ["127.0.0.1:31000-31095", "127.0.0.1:31100"])
        #expect(links[1].routes.routes[0].listen == AddressRange(host: "::1", ports: 32000...32001))
        #expect(links[1].routes.routes[0].listen.description == "[::1]:32000-32001")
    }

    @Test func aRangeMapsPortForPort() throws {
        let links = try WANConfiguration.parse(yaml: Self.twoSites).definitions()
        let mappings = links[0].routes.mappings
        #expect(mappings.count == 97)
        #expect(mappings[0] == PortMapping(listen: .init(host: "127.0.0.1", port: 31000), target: .init(host: "127.0.0.1", port: 21000)))
        #expect(mappings[95] == PortMapping(listen: .init(host: "127.0.0.1", port: 31095), target: .init(host: "127.0.0.1", port: 21095)))
        #expect(mappings[96].target == Endpoint(host: "127.0.0.1", port: 18080))
        #expect(links[0].routes.target(for: .init(host: "127.0.0.1", port: 31042)) == Endpoint(host: "127.0.0.1", port: 21042))
        #expect(links[0].routes.target(for: .init(host: "127.0.0.1", port: 31096)) == nil)
    }

    static func link(_ fields: String, routes: String = "[{listen: \"127.0.0.1:31000\", target: \"127.0.0.1:21000\"}]") -> String {
        "links:\n  - {name: \"A->B\", \(fields.isEmpty ? "" : fields + ", ")routes: \(routes)}\n"
    }

    @Test(arguments: [
        ("links: []", "links", "at least one link"),
        ("lnks: []", "lnks", "unknown key"),
        ("links: {name: x}", "links", "expected a list of links"),
        (link("", routes: "{listen: x}"), "links[0].routes", "expected a list of routes"),
        ("links: [x]", "links[0]", "expected a mapping"),
        (link("latency: 5"), "links[0].latency", "unknown key"),
        (link("latency_ms: fast"), "links[0].latency_ms", "expected"),
        (link("latency_ms: -1"), "links[0].latency_ms", "0-60000"),
        (link("latency_ms: 60001"), "links[0].latency_ms", "0-60000"),
        (link("jitter_ms: 70000"), "links[0].jitter_ms", "0-60000"),
        (link("state: down"), "links[0].state", "one of up, blackhole, reset"),
        (link("", routes: "[]"), "links[0].routes", "at least one route"),
        ("links:\n  - {routes: []}\n", "links[0].name", "missing"),
        ("links:\n  - {name: \"A/B\", routes: []}\n", "links[0].name", "without \"/\""),
        (link("", routes: "[{listen: \"127.0.0.1:31000\"}]"), "links[0].routes[0].target", "missing"),
        (link("", routes: "[{listen: \"127.0.0.1:31000\", target: \"127.0.0.1:21000\", via: x}]"), "links[0].routes[0].via", "unknown key"),
        (link("", routes: "[{listen: \"127.0.0.1:31000\", target: \"127.0.0.1:21000\"}, {listen: \"31001\", target: \"127.0.0.1:21001\"}]"),
         "links[0].routes[1].listen", "expected host:port or host:port-port"),
        (link("", routes: "[{listen: \"127.0.0.1:31000-\", target: \"127.0.0.1:21000\"}]"), "links[0].routes[0].listen", "host:port-port"),
        (link("", routes: "[{listen: \"127.0.0.1:70000\", target: \"127.0.0.1:21000\"}]"), "links[0].routes[0].listen", "host:port-port"),
        (link("", routes: "[{listen: \"::1:31000\", target: \"127.0.0.1:21000\"}]"), "links[0].routes[0].listen", "in brackets"),
        (link("", routes: "[{listen: \"127.0.0.1:31005-31000\", target: \"127.0.0.1:21000-21005\"}]"), "links[0].routes[0].listen", "not above"),
        (link("", routes: "[{listen: \"127.0.0.1:31000\", target: \"127.0.0.1:0\"}]"), "links[0].routes[0].target", "1-65535"),
        (link("", routes: "[{listen: \"127.0.0.1:0-3\", target: \"127.0.0.1:21000-21003\"}]"), "links[0].routes[0].listen", "only alone"),
        (link("", routes: "[{listen: \"127.0.0.1:31000-31095\", target: \"127.0.0.1:21000-21094\"}]"), "links[0].routes[0].target", "expected 96 ports"),
        (link("", routes: "[{listen: \"127.0.0.1:31000-31010\", target: \"127.0.0.1:21000-21010\"}, {listen: \"0.0.0.0:31010\", target: \"127.0.0.1:22000\"}]"),
         "links[0].routes[1].listen", "port 31010 is also listened on by links[0].routes[0]"),
        ("""
        links:
          - {name: "A->B", routes: [{listen: "127.0.0.1:31000-31095", target: "127.0.0.1:21000-21095"}]}
          - {name: "B->A", routes: [{listen: "127.0.0.1:31090-31099", target: "127.0.0.1:22000-22009"}]}
        """, "links[1].routes[0].listen", "port 31090 is also listened on by links[0].routes[0]"),
        ("""
        links:
          - {name: "A->B", routes: [{listen: "127.0.0.1:31000", target: "127.0.0.1:21000"}]}
          - {name: "A->B", routes: [{listen: "127.0.0.1:31001", target: "127.0.0.1:21001"}]}
        """, "links[1].name", "already used by links[0]"),
    ])
    func errorsNameTheFieldPath(yaml: String, path: String, message: String) {
        #expect {
            _ = try WANConfiguration.parse(yaml: yaml, file: "wan.yaml")
        } throws: { error in
            guard let error = error as? WANConfigurationError else { return false }
            #expect(error.path == path, "\(error)")
            #expect(error.message.contains(message), "\(error)")
            #expect(error.description.hasPrefix("wan.yaml: \(path): "), "\(error)")
            return error.path == path
        }
    }

    @Test func theFieldPathComesFirstInTheMessage() {
        let yaml = Self.link("", routes: "[{listen: \"127.0.0.1:31000\", target: \"127.0.0.1:21000\"}, {listen: \"nowhere\", target: \"127.0.0.1:21001\"}]")
        #expect(throws: WANConfigurationError(
            file: "wan-link.yaml", path: "links[0].routes[1].listen",
            message: "expected host:port or host:port-port, found \"nowhere\"")) {
            _ = try WANConfiguration.parse(yaml: yaml)
        }
    }
}
