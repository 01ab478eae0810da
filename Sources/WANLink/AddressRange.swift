/// One TCP address: a host (name, IPv4 or IPv6 literal) and a port.
public struct Endpoint: Sendable, Hashable, CustomStringConvertible {
    public var host: String
    public var port: Int

    public init(host: String, port: Int) {
        self.host = host
        self.port = port
    }

    /// `host:port`, with an IPv6 literal in brackets (`[::1]:31000`).
    public var description: String { "\(AddressRange.bracketed(host)):\(port)" }
}

/// A host and a run of consecutive ports, written `host:port` or `host:first-last`
/// (`127.0.0.1:31000-31095`, `[::1]:31000`). A route maps one range onto another of the same
/// length, port for port.
public struct AddressRange: Sendable, Hashable, CustomStringConvertible {
    public var host: String
    public var ports: ClosedRange<Int>

    public init(host: String, ports: ClosedRange<Int>) {
        self.host = host
        self.ports = ports
    }

    /// How many ports the range holds.
    public var count: Int { ports.count }

    /// The `index`th address of the range (0-based).
    public func endpoint(_ index: Int) -> Endpoint {
        Endpoint(host: host, port: ports.lowerBound + index)
    }

    /// The form the text must have, for error messages.
    public static let expectedForm = "host:port or host:port-port"

    public var description: String {
        let host = Self.bracketed(self.host)
        return ports.count == 1 ? "\(host):\(ports.lowerBound)" : "\(host):\(ports.lowerBound)-\(ports.upperBound)"
    }

    static func bracketed(_ host: String) -> String {
        host.contains(":") ? "[\(host)]" : host
    }

    /// Reads `host:port` or `host:first-last`. Only the form is checked here (ports 0-65535,
    /// first not above last); which ports a listen or a target may use is the configuration's
    /// rule. The error says what is wrong, without the field path (the caller knows it).
    public static func parse(_ text: String) throws(AddressRangeError) -> AddressRange {
        let formError = AddressRangeError("expected \(expectedForm), found \"\(text)\"")
        let host: Substring
        let portText: Substring
        if text.hasPrefix("[") {
            // An IPv6 literal must be bracketed: its own colons would hide the port's.
            guard let close = text.firstIndex(of: "]") else { throw formError }
            host = text[text.index(after: text.startIndex)..<close]
            let rest = text[text.index(after: close)...]
            guard rest.first == ":" else { throw formError }
            portText = rest.dropFirst()
        } else {
            guard let colon = text.lastIndex(of: ":") else { throw formError }
            host = text[..<colon]
            portText = text[text.index(after: colon)...]
            if host.contains(":") {
                throw AddressRangeError("expected an IPv6 address in brackets ([::1]:port), found \"\(text)\"")
            }
        }
        guard !host.isEmpty, !host.contains(where: \.isWhitespace) else { throw formError }
        let bounds = portText.split(separator: "-", maxSplits: 1, omittingEmptySubsequences: false)
        guard let first = bounds.first, let low = port(first) else { throw formError }
        var high = low
        if bounds.count == 2 {
            guard let value = port(bounds[1]) else { throw formError }
            high = value
        }
        guard low <= high else {
            throw AddressRangeError("expected the first port not above the last, found \(low)-\(high)")
        }
        return AddressRange(host: String(host), ports: low...high)
    }

    /// Digits only (no sign, no spaces), at most 65535.
    private static func port(_ text: Substring) -> Int? {
        guard !text.isEmpty, text.count <= 5, text.allSatisfy({ $0.isASCII && $0.isNumber }),
              let value = Int(text), value <= 65535 else { return nil }
        return value
    }
}

/// Why a `host:port` text cannot be read; the message names the expected form.
public struct AddressRangeError: Error, Sendable, Equatable, CustomStringConvertible {
    public var message: String

    public init(_ message: String) {
        self.message = message
    }

    public var description: String { message }
}
