/// A control plane body that changes links: `{"state": "blackhole"}`, `{"latency_ms": 50,
/// "jitter_ms": 5}` or any mix of the three, for one link (`POST /links/{name}`); for every
/// link (`POST /links`) the body also says `"all": true`, so a body sent to the wrong path
/// cannot change the whole WAN.
public struct LinkChangeRequest: Sendable, Equatable {
    public var change: LinkChange

    /// Which body a path takes.
    public enum Scope: Sendable {
        case oneLink
        case allLinks
    }

    public init(change: LinkChange) {
        self.change = change
    }

    /// Reads a body; the error names the first bad field and the form it needs.
    public init(body: some Sequence<UInt8>, scope: Scope) throws(LinkRequestError) {
        let keys = scope == .allLinks ? ["all", "state", "latency_ms", "jitter_ms"] : ["state", "latency_ms", "jitter_ms"]
        let shape =
            scope == .allLinks
            ? "a JSON object {\"all\": true, \"state\": ..., \"latency_ms\": n, \"jitter_ms\": n}"
            : "a JSON object {\"state\": ..., \"latency_ms\": n, \"jitter_ms\": n}"
        let json: ControlJSON
        do {
            json = try ControlJSON.parse(body)
        } catch {
            throw LinkRequestError(field: "body", expected: shape, found: "text that is not JSON")
        }
        guard case .object(let fields) = json else {
            throw LinkRequestError(field: "body", expected: shape, found: json.typeName)
        }
        // A misspelt key must not quietly leave a link as it was.
        if let unknown = fields.keys.sorted().first(where: { !keys.contains($0) }) {
            let hint = unknown == "all" ? " (\"all\" only on POST /links)" : ""
            throw LinkRequestError(field: unknown, expected: "only the keys \(keys.joined(separator: ", "))\(hint)", found: "an unknown key")
        }
        if scope == .allLinks, fields["all"] != .bool(true) {
            throw LinkRequestError(
                field: "all", expected: "true (to change every link)", found: fields["all"]?.serialized() ?? "nothing")
        }
        var change = LinkChange()
        if let value = fields["state"] {
            guard case .string(let text) = value, let state = LinkState(rawValue: text) else {
                throw LinkRequestError(field: "state", expected: "one of \(LinkState.list)", found: value.serialized())
            }
            change.state = state
        }
        change.latencyMs = try Self.milliseconds(fields, "latency_ms")
        change.jitterMs = try Self.milliseconds(fields, "jitter_ms")
        if change.isEmpty {
            throw LinkRequestError(field: "body", expected: "at least one of state, latency_ms, jitter_ms", found: "none")
        }
        self.init(change: change)
    }

    private static func milliseconds(_ fields: [String: ControlJSON], _ key: String) throws(LinkRequestError) -> Int? {
        guard let value = fields[key] else { return nil }
        guard case .number(let number) = value, number == number.rounded(),
              (0...Double(LinkConditions.maxDelayMs)).contains(number) else {
            throw LinkRequestError(
                field: key, expected: "whole milliseconds 0-\(LinkConditions.maxDelayMs)", found: value.serialized())
        }
        return Int(number)
    }
}

/// Why a control plane request was refused: the field, the form it needs, what came instead.
public struct LinkRequestError: Error, Sendable, Equatable, CustomStringConvertible {
    /// `body`, `all`, `state`, `latency_ms`, `jitter_ms`, or an unknown key.
    public var field: String
    public var expected: String
    public var found: String

    public init(field: String, expected: String, found: String) {
        self.field = field
        self.expected = expected
        self.found = found
    }

    public var description: String { "\(field): expected \(expected), found \(found)" }
}
