/// Settings of one dispatcher process.
public struct DispatcherConfiguration: Sendable {
    /// This dispatcher's name; it owns leases under this name. Unique per process.
    public var name: String
    public var site: String
    public var bootstrapServers: String
    public var topic: String = "receipt-jobs"
    public var groupID: String = "kassa-dispatchers"
    /// A lease not renewed within this time may be taken over by another dispatcher.
    public var leaseTTL: Duration = .seconds(10)
    /// All held leases are renewed in one statement this often.
    public var leaseRenewInterval: Duration = .seconds(3)
    /// How long the registry may stay silent before this dispatcher leaves the consumer group.
    /// A dispatcher that cannot reach the registry can fiscalize nothing (every intent and commit
    /// goes through it); if others can (a partition), they should get its partitions. Longer
    /// than the lease time plus a registry failover (~10 s), so a failover, which silences the
    /// registry for everyone, does not empty the group.
    public var registryLossBeforeLeaving: Duration = .seconds(20)
    /// How often durable offsets are committed to Kafka.
    public var commitInterval: Duration = .milliseconds(250)
    /// How long a kassa may take to answer a sale before the job is in doubt.
    public var sellTimeout: Duration = .seconds(10)
    public var connectTimeout: Duration = .seconds(2)
    /// How long a kassa that failed (could not connect, refused for a reason of its own) rests.
    public var kassaRestInterval: Duration = .seconds(5)
    /// How many of a receipt's last failed kassas its next try avoids (with their assemblies,
    /// racks and sites). Older failures are forgotten, so a receipt outlives an outage of every
    /// kassa (an emulator restart) by waiting instead of failing.
    public var rememberedFailures: Int = 3
    /// DEBUG ONLY: treat a receipt in doubt as never made and send it elsewhere at once, without
    /// reading the FN archive. This breaks exactly-once on purpose; it exists so a drill can show
    /// that the ground-truth checker catches the duplicates.
    public var unsafeSkipReconcile = false
    /// How to reach kassas of other sites: through the WAN between the sites (on one machine,
    /// the `kassa wan-link` proxy), by site. Kassas of this dispatcher's own site and of sites
    /// without a route are reached at their registered address.
    public var siteRoutes: [String: SiteRoute] = [:]
    /// How often each idle kassa's `status` is read to see whether it must be drained.
    public var healthCheckInterval: Duration = .seconds(30)
    /// When a kassa is drained (FN nearly full or expiring, OFD backlog).
    public var drainRules = DrainRules()
    /// How many queued receipts a tenant's desk holds in memory per kassa of the tenant; past
    /// that, queued receipts wait in the registry and are read back as the queue drains, so a
    /// long overload does not grow the dispatcher's memory with its backlog.
    public var queueWindowPerKassa: Int = 4
    /// More librdkafka properties for the consumer, applied after the built-in ones.
    public var kafkaProperties: [String: String] = [:]

    public init(name: String, site: String, bootstrapServers: String) {
        self.name = name
        self.site = site
        self.bootstrapServers = bootstrapServers
    }
}

extension DispatcherConfiguration {
    /// The address to dial for a kassa of `site` registered at `address` ("host:port").
    public func dialAddress(site: String, address: String) -> String {
        guard site != self.site, let route = siteRoutes[site] else { return address }
        return route.address(for: address)
    }
}

/// The way to another site: its kassa ports as forwarded by the WAN link, at `host`, each port
/// shifted by `portShift`. Written `SITE=HOST:+SHIFT`, e.g. `B=127.0.0.1:+10000`.
public struct SiteRoute: Sendable, Equatable {
    public var host: String
    public var portShift: Int

    public init(host: String, portShift: Int) {
        self.host = host
        self.portShift = portShift
    }

    /// `registered` ("host:port") as reached through this route.
    public func address(for registered: String) -> String {
        guard let colon = registered.lastIndex(of: ":"), let port = Int(registered[registered.index(after: colon)...]) else {
            return registered
        }
        return "\(host):\(port + portShift)"
    }

    /// Parses `SITE=HOST:+SHIFT` (or `-SHIFT`); the error says what is wrong.
    public static func parse(_ text: String) throws(SiteRouteError) -> (site: String, route: SiteRoute) {
        let expected = "expected SITE=HOST:+SHIFT, e.g. B=127.0.0.1:+10000"
        let parts = text.split(separator: "=", maxSplits: 1).map(String.init)
        guard parts.count == 2, !parts[0].isEmpty, let colon = parts[1].lastIndex(of: ":") else {
            throw SiteRouteError("\(text): \(expected)")
        }
        let host = String(parts[1][..<colon])
        let shiftText = parts[1][parts[1].index(after: colon)...]
        guard !host.isEmpty, let sign = shiftText.first, sign == "+" || sign == "-", let shift = Int(shiftText) else {
            throw SiteRouteError("\(text): \(expected)")
        }
        return (parts[0], SiteRoute(host: host, portShift: shift))
    }
}

public struct SiteRouteError: Error, Sendable, Equatable, CustomStringConvertible {
    public var description: String
    init(_ description: String) { self.description = description }
}
