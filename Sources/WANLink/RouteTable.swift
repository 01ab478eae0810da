/// A link's routes: each listen range forwards to a target range of the same length, port for
/// port (`127.0.0.1:31000-31095` → `127.0.0.1:21000-21095`: 31000 → 21000, ..., 31095 → 21095).
public struct RouteTable: Sendable, Equatable {
    /// One configured route.
    public struct Route: Sendable, Hashable {
        public var listen: AddressRange
        public var target: AddressRange

        /// `listen` and `target` must hold the same number of ports (the configuration checks it).
        public init(listen: AddressRange, target: AddressRange) {
            self.listen = listen
            self.target = target
        }
    }

    public var routes: [Route]

    public init(routes: [Route]) {
        self.routes = routes
    }

    /// Every listen address with its target, route by route and port by port: one listening
    /// socket each.
    public var mappings: [PortMapping] {
        routes.flatMap { route in
            (0..<min(route.listen.count, route.target.count)).map { index in
                PortMapping(listen: route.listen.endpoint(index), target: route.target.endpoint(index))
            }
        }
    }

    /// The target for a listen address (nil: not one of the table's).
    public func target(for listen: Endpoint) -> Endpoint? {
        for route in routes where route.listen.host == listen.host && route.listen.ports.contains(listen.port) {
            let index = listen.port - route.listen.ports.lowerBound
            guard index < route.target.count else { return nil }
            return route.target.endpoint(index)
        }
        return nil
    }

    /// The same table with the listen ports actually bound, in `mappings` order (they differ
    /// from the configured ones only where the configuration said port 0: any free port).
    func bound(to listening: [Endpoint]) -> RouteTable {
        var routes = self.routes
        var offset = 0
        for r in routes.indices {
            if routes[r].listen.ports == 0...0, offset < listening.count {
                let port = listening[offset].port
                routes[r].listen.ports = port...port
            }
            offset += min(routes[r].listen.count, routes[r].target.count)
        }
        return RouteTable(routes: routes)
    }
}

/// One listening address and where its connections go.
public struct PortMapping: Sendable, Hashable, CustomStringConvertible {
    public var listen: Endpoint
    public var target: Endpoint

    public init(listen: Endpoint, target: Endpoint) {
        self.listen = listen
        self.target = target
    }

    public var description: String { "\(listen) → \(target)" }
}
