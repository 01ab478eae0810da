/// One line of a drill's fault schedule: what, where, when, for how long, how often.
public struct FaultSpec: Sendable, Codable, Equatable {
    public enum Kind: String, Sendable, Codable, CaseIterable {
        /// `kill -9` a process; it is started again after `restart_after_s` (default 1 s).
        case kill
        /// SIGSTOP a process, SIGCONT it after `for_s`.
        case pause
        /// An emulated kassa fault on `kassas` random kassas of the load's tenants (or one
        /// named by `fn_serial`), lifted after `for_s` or never (until the drill is over).
        case kassa
        /// Kill -9 and start again at once (the emulator: archives are kept on disk).
        case restart
        /// Stop the dispatchers and start them in a fresh consumer group, which reads the whole
        /// job topic from offset 0.
        case replay
        /// Lose a whole site (`target: A`): kill -9 its dispatchers, ingress and emulator and its
        /// registry node; they come back after `restart_after_s` (default: after the load).
        case site
        /// Change the WAN between the sites: `latency_ms` and/or `state` (`blackhole`, `reset`)
        /// on `link` (`A->B`; default: every link), back to normal after `for_s`.
        case wan
        /// kill -9 the registry's primary (Patroni and PostgreSQL); Patroni fails over to the
        /// other site. The report gives the time until writes succeed again. The old primary
        /// rejoins as a replica after `restart_after_s` (default 5).
        case registry
    }

    public var kind: Kind
    /// kill, pause, restart: a process of the cluster by name (`dispatcher-a1`, `ingress`,
    /// `emulator`), or `dispatcher` for a dispatcher picked at random each time.
    public var target: String?
    /// Seconds after the load starts.
    public var atS: Double
    /// How many times (default 1).
    public var times: Int?
    /// Seconds between repeats: `[n]` exactly, or `[min, max]` drawn at random.
    public var everyS: [Double]?
    /// pause: how long stopped; kassa: how long the fault lasts (absent: until the drill ends).
    public var forS: Double?
    /// kill: seconds until the process is started again (default 1; negative: never).
    public var restartAfterS: Double?
    /// kassa: `hang`, `hang_after_fiscalizing`, `drop_answer_after_fiscalizing` or `down`.
    public var fault: String?
    /// kassa: how many kassas (default 1), picked at random among the load tenants' kassas.
    public var kassas: Int?
    /// kassa: a specific kassa instead.
    public var fnSerial: String?
    /// kassa: pick only among these tenants' kassas (group codes; default: the load's tenants).
    public var tenants: [String]?
    /// kassa: answers the fault applies to, per kassa (see the emulator's control plane).
    public var count: Int?
    /// kassa: hit a whole failure domain instead of single kassas: `assembly`, `rack` or `site`
    /// (one holding the load tenants' kassas, at random, or the one named by `name`).
    public var domain: String?
    /// kassa with `domain`: which one (e.g. `A1-3`).
    public var name: String?
    /// wan: the link (`A->B`, `B->A`); absent: every link.
    public var link: String?
    /// wan: added one-way latency.
    public var latencyMs: Int?
    /// wan: `up`, `blackhole` or `reset`.
    public var state: String?

    static let kassaFaults = ["hang", "hang_after_fiscalizing", "drop_answer_after_fiscalizing", "down", "ofd_down"]
    static let domains = ["assembly", "rack", "site"]
    static let linkStates = ["up", "blackhole", "reset"]

    func validate(field: String, loadDuration: Double, source: String) throws(DrillError) {
        func bad(_ key: String, _ reason: String) -> DrillError { .invalid(path: source, field: "\(field).\(key)", reason: reason) }
        if atS < 0 { throw bad("at_s", "expected seconds >= 0") }
        if let times, times < 1 { throw bad("times", "expected at least 1") }
        if let everyS {
            guard everyS.count == 1 || everyS.count == 2, everyS.allSatisfy({ $0 > 0 }), (everyS.first ?? 0) <= (everyS.last ?? 0) else {
                throw bad("every_s", "expected [seconds] or [min, max] with 0 < min <= max")
            }
        } else if (times ?? 1) > 1 {
            throw bad("every_s", "is required when times > 1")
        }
        if let forS, forS <= 0 { throw bad("for_s", "expected seconds > 0") }
        switch kind {
        case .kill, .pause, .restart:
            guard let target, !target.isEmpty else { throw bad("target", "expected a process name such as dispatcher, dispatcher-a1, ingress or emulator") }
            if kind == .pause, forS == nil { throw bad("for_s", "a pause needs its length") }
        case .kassa:
            guard let fault, Self.kassaFaults.contains(fault) else {
                throw bad("fault", "expected one of \(Self.kassaFaults.joined(separator: ", "))")
            }
            if let kassas, kassas < 1 { throw bad("kassas", "expected at least 1") }
            if let count, count < 1 { throw bad("count", "expected at least 1") }
            if let domain, !Self.domains.contains(domain) { throw bad("domain", "expected one of \(Self.domains.joined(separator: ", "))") }
            if name != nil, domain == nil { throw bad("name", "goes with domain (assembly, rack or site)") }
        case .replay:
            break
        case .site:
            guard let target, !target.isEmpty else { throw bad("target", "expected a site name such as A") }
        case .wan:
            if latencyMs == nil, state == nil { throw bad("latency_ms", "a wan fault needs latency_ms and/or state") }
            if let latencyMs, !(0...60_000).contains(latencyMs) { throw bad("latency_ms", "expected 0...60000") }
            if let state, !Self.linkStates.contains(state) { throw bad("state", "expected one of \(Self.linkStates.joined(separator: ", "))") }
        case .registry:
            break
        }
    }

    enum CodingKeys: String, CodingKey {
        case kind, target, times, fault, kassas, count, tenants, domain, name, link, state
        case latencyMs = "latency_ms"
        case atS = "at_s"
        case everyS = "every_s"
        case forS = "for_s"
        case restartAfterS = "restart_after_s"
        case fnSerial = "fn_serial"
    }
}

/// One fault, at one moment: a fault spec expanded by the drill's seed.
struct ScheduledFault: Sendable {
    var spec: FaultSpec
    /// Seconds after the load starts.
    var at: Double
    /// Which repeat of the spec (0-based).
    var occurrence: Int
}

extension Drill {
    /// Every fault occurrence in time order; random intervals come from `seed`, so a drill
    /// with the same seed brings the same faults at the same moments.
    func schedule(seed: UInt64) -> [ScheduledFault] {
        var random = ChaosRandom(seed: seed)
        var all: [ScheduledFault] = []
        for spec in faults {
            var at = spec.atS
            for occurrence in 0..<(spec.times ?? 1) {
                all.append(ScheduledFault(spec: spec, at: at, occurrence: occurrence))
                if let every = spec.everyS, let low = every.first, let high = every.last {
                    at += low + (high - low) * random.unit()
                }
            }
        }
        return all.sorted { $0.at < $1.at }
    }
}

/// A small seeded generator (SplitMix64): drills are reproducible with `--seed`.
struct ChaosRandom: Sendable {
    private var state: UInt64

    init(seed: UInt64) {
        state = seed
    }

    mutating func next() -> UInt64 {
        state &+= 0x9E37_79B9_7F4A_7C15
        var z = state
        z = (z ^ (z >> 30)) &* 0xBF58_476D_1CE4_E5B9
        z = (z ^ (z >> 27)) &* 0x94D0_49BB_1331_11EB
        return z ^ (z >> 31)
    }

    /// Uniform in [0, 1).
    mutating func unit() -> Double {
        Double(next() >> 11) / Double(1 << 53)
    }

    mutating func pick<T>(_ items: [T]) -> T? {
        items.isEmpty ? nil : items[Int(next() % UInt64(items.count))]
    }

    /// `k` distinct items at random.
    mutating func sample<T>(_ items: [T], count k: Int) -> [T] {
        var pool = items
        var chosen: [T] = []
        while chosen.count < k, !pool.isEmpty {
            chosen.append(pool.remove(at: Int(next() % UInt64(pool.count))))
        }
        return chosen
    }
}
