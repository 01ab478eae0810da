import Foundation
import Yams

/// The WAN links' configuration file:
///
/// ```yaml
/// links:
///   - name: "A->B"
///     latency_ms: 0          # optional, default 0
///     jitter_ms: 0           # optional, default 0
///     state: up              # optional: up (default), blackhole or reset
///     routes:
///       - {listen: "127.0.0.1:31000-31095", target: "127.0.0.1:21000-21095"}
/// ```
///
/// A listen or target is `host:port` or `host:first-last`; a route's two ranges hold the same
/// number of ports and map port for port. Listen port 0 (alone) binds any free port. Link
/// names are unique and contain no `/` (they are a URL path segment of the control plane);
/// no two routes listen on the same port. Unknown keys are refused, so a typo cannot quietly
/// leave a link without its latency.
public struct WANConfiguration: Sendable, Equatable, Codable {
    /// One link as written in the file (checked by `definitions()`).
    public struct Link: Sendable, Equatable, Codable {
        public var name: String
        public var latencyMs: Int
        public var jitterMs: Int
        /// `up`, `blackhole` or `reset` (checked by `definitions()`).
        public var state: String
        public var routes: [Route]

        public init(name: String, latencyMs: Int = 0, jitterMs: Int = 0, state: String = "up", routes: [Route]) {
            self.name = name
            self.latencyMs = latencyMs
            self.jitterMs = jitterMs
            self.state = state
            self.routes = routes
        }

        enum CodingKeys: String, CodingKey, CaseIterable {
            case name
            case latencyMs = "latency_ms"
            case jitterMs = "jitter_ms"
            case state, routes
        }

        public init(from decoder: any Decoder) throws {
            try refuseUnknownKeys(decoder, known: CodingKeys.allCases.map(\.rawValue))
            let container = try decoder.container(keyedBy: CodingKeys.self)
            name = try container.decode(String.self, forKey: .name)
            latencyMs = try container.decodeIfPresent(Int.self, forKey: .latencyMs) ?? 0
            jitterMs = try container.decodeIfPresent(Int.self, forKey: .jitterMs) ?? 0
            state = try container.decodeIfPresent(String.self, forKey: .state) ?? LinkState.up.rawValue
            routes = try container.decode([Route].self, forKey: .routes)
        }
    }

    /// One route as written: `listen` and `target` are `host:port` or `host:first-last`.
    public struct Route: Sendable, Equatable, Codable {
        public var listen: String
        public var target: String

        public init(listen: String, target: String) {
            self.listen = listen
            self.target = target
        }

        enum CodingKeys: String, CodingKey, CaseIterable {
            case listen, target
        }

        public init(from decoder: any Decoder) throws {
            try refuseUnknownKeys(decoder, known: CodingKeys.allCases.map(\.rawValue))
            let container = try decoder.container(keyedBy: CodingKeys.self)
            listen = try container.decode(String.self, forKey: .listen)
            target = try container.decode(String.self, forKey: .target)
        }
    }

    public var links: [Link]

    public init(links: [Link]) {
        self.links = links
    }

    enum CodingKeys: String, CodingKey, CaseIterable {
        case links
    }

    public init(from decoder: any Decoder) throws {
        try refuseUnknownKeys(decoder, known: CodingKeys.allCases.map(\.rawValue))
        let container = try decoder.container(keyedBy: CodingKeys.self)
        links = try container.decode([Link].self, forKey: .links)
    }

    /// Reads and checks a configuration file.
    public static func load(path: String) throws(WANConfigurationError) -> WANConfiguration {
        let file = (path as NSString).lastPathComponent
        let text: String
        do {
            text = try String(contentsOfFile: path, encoding: .utf8)
        } catch {
            throw WANConfigurationError(file: file, path: "", message: "cannot read \(path): \(error.localizedDescription)")
        }
        return try parse(yaml: text, file: file)
    }

    /// Parses and checks configuration YAML; `file` names the source in error messages.
    public static func parse(yaml: String, file: String = "wan-link.yaml") throws(WANConfigurationError) -> WANConfiguration {
        let configuration: WANConfiguration
        do {
            configuration = try YAMLDecoder().decode(WANConfiguration.self, from: yaml)
        } catch let error as DecodingError {
            throw WANConfigurationError(file: file, decoding: error)
        } catch {
            throw WANConfigurationError(file: file, path: "", message: "not valid YAML: \(error)")
        }
        _ = try configuration.definitions(file: file)
        return configuration
    }

    /// The links, checked: the error names the field path and the form it needs, e.g.
    /// `links[0].routes[1].listen: expected host:port or host:port-port, found "31000"`.
    public func definitions(file: String = "wan-link.yaml") throws(WANConfigurationError) -> [LinkDefinition] {
        func fail(_ path: String, _ message: String) -> WANConfigurationError {
            WANConfigurationError(file: file, path: path, message: message)
        }
        if links.isEmpty { throw fail("links", "expected at least one link") }
        var names: [String: String] = [:]  // name → path of the link that has it
        var listening: [(host: String, ports: ClosedRange<Int>, path: String)] = []
        var definitions: [LinkDefinition] = []
        let delays = "0-\(LinkConditions.maxDelayMs)"
        for (l, link) in links.enumerated() {
            let path = "links[\(l)]"
            let name = link.name
            if name.trimmingCharacters(in: .whitespaces).isEmpty { throw fail(path + ".name", "expected a non-empty name") }
            if name.contains("/") { throw fail(path + ".name", "expected a name without \"/\" (it is part of a URL), found \"\(name)\"") }
            if let other = names[name] { throw fail(path + ".name", "name \"\(name)\" is already used by \(other)") }
            names[name] = path
            guard (0...LinkConditions.maxDelayMs).contains(link.latencyMs) else {
                throw fail(path + ".latency_ms", "expected milliseconds \(delays), found \(link.latencyMs)")
            }
            guard (0...LinkConditions.maxDelayMs).contains(link.jitterMs) else {
                throw fail(path + ".jitter_ms", "expected milliseconds \(delays), found \(link.jitterMs)")
            }
            guard let state = LinkState(rawValue: link.state) else {
                throw fail(path + ".state", "expected one of \(LinkState.list), found \"\(link.state)\"")
            }
            if link.routes.isEmpty { throw fail(path + ".routes", "expected at least one route") }
            var routes: [RouteTable.Route] = []
            for (r, route) in link.routes.enumerated() {
                let routePath = "\(path).routes[\(r)]"
                let listen: AddressRange
                let target: AddressRange
                do {
                    listen = try AddressRange.parse(route.listen)
                } catch {
                    throw fail(routePath + ".listen", error.message)
                }
                do {
                    target = try AddressRange.parse(route.target)
                } catch {
                    throw fail(routePath + ".target", error.message)
                }
                if listen.ports.contains(0), listen.count > 1 {
                    throw fail(routePath + ".listen", "expected ports 1-65535 in a range (port 0, any free port, only alone), found \(listen)")
                }
                if target.ports.contains(0) {
                    throw fail(routePath + ".target", "expected ports 1-65535, found \(target)")
                }
                if listen.count != target.count {
                    throw fail(
                        routePath + ".target",
                        "expected \(listen.count) port\(listen.count == 1 ? "" : "s") like listen \(listen), found \(target.count) (\(target))")
                }
                for other in listening where other.ports != 0...0 && listen.ports != 0...0
                    && Self.sameAddress(other.host, listen.host) && other.ports.overlaps(listen.ports)
                {
                    let shared = max(other.ports.lowerBound, listen.ports.lowerBound)
                    throw fail(routePath + ".listen", "port \(shared) is also listened on by \(other.path)")
                }
                listening.append((listen.host, listen.ports, routePath))
                routes.append(RouteTable.Route(listen: listen, target: target))
            }
            definitions.append(LinkDefinition(
                name: name, conditions: LinkConditions(state: state, latencyMs: link.latencyMs, jitterMs: link.jitterMs),
                routes: RouteTable(routes: routes)))
        }
        return definitions
    }

    /// Whether two listen hosts can clash: the same, or either a wildcard (which takes the
    /// port on every address).
    static func sameAddress(_ a: String, _ b: String) -> Bool {
        let wildcards: Set<String> = ["0.0.0.0", "::", "*"]
        return a == b || wildcards.contains(a) || wildcards.contains(b)
    }
}

/// Keys any name, to list what a YAML mapping holds.
private struct AnyKey: CodingKey {
    var stringValue: String
    var intValue: Int? { nil }
    init(stringValue: String) { self.stringValue = stringValue }
    init?(intValue: Int) { nil }
}

/// Throws for the first key of the mapping being decoded that is not in `known`.
private func refuseUnknownKeys(_ decoder: any Decoder, known: [String]) throws {
    let container = try decoder.container(keyedBy: AnyKey.self)
    let unknown = container.allKeys.map(\.stringValue).filter { !known.contains($0) }.sorted()
    if let key = unknown.first {
        throw DecodingError.dataCorrupted(.init(
            codingPath: decoder.codingPath + [AnyKey(stringValue: key)],
            debugDescription: "unknown key (expected only \(known.joined(separator: ", ")))"))
    }
}

/// A configuration that cannot be used, with where and why:
/// `wan-link.yaml: links[0].routes[1].listen: expected host:port or host:port-port, found "x"`.
public struct WANConfigurationError: Error, Sendable, Equatable, CustomStringConvertible {
    /// The file's name (or another label for the source).
    public var file: String
    /// The field, e.g. `links[0].routes[1].listen`; empty for the whole file.
    public var path: String
    public var message: String

    public init(file: String, path: String, message: String) {
        self.file = file
        self.path = path
        self.message = message
    }

    init(file: String, decoding error: DecodingError) {
        func render(_ codingPath: [any CodingKey]) -> String {
            var text = ""
            for key in codingPath {
                if let index = key.intValue {
                    text += "[\(index)]"
                } else {
                    text += (text.isEmpty ? "" : ".") + key.stringValue
                }
            }
            return text
        }
        func name(_ type: Any.Type, at codingPath: [any CodingKey]) -> String {
            // Yams names YAML's own node kinds (Sequence, Mapping) rather than Swift types.
            switch (type, "\(type)", codingPath.last?.stringValue) {
            case (is Int.Type, _, _): return "an integer"
            case (is String.Type, _, _): return "a string"
            case (_, "Sequence", "links"), (is [WANConfiguration.Link].Type, _, _): return "a list of links"
            case (_, "Sequence", "routes"), (is [WANConfiguration.Route].Type, _, _): return "a list of routes {listen, target}"
            case (_, "Sequence", _): return "a list"
            case (_, "Mapping", _): return "a mapping of keys to values"
            default: return "\(type)"
            }
        }
        switch error {
        case .typeMismatch(let type, let context):
            self.init(file: file, path: render(context.codingPath), message: "expected \(name(type, at: context.codingPath))")
        case .valueNotFound(let type, let context):
            self.init(file: file, path: render(context.codingPath), message: "expected \(name(type, at: context.codingPath)), found nothing")
        case .keyNotFound(let key, let context):
            self.init(file: file, path: render(context.codingPath + [key]), message: "missing")
        case .dataCorrupted(let context):
            self.init(file: file, path: render(context.codingPath), message: context.debugDescription)
        @unknown default:
            self.init(file: file, path: "", message: "\(error)")
        }
    }

    public var description: String {
        path.isEmpty ? "\(file): \(message)" : "\(file): \(path): \(message)"
    }
}
