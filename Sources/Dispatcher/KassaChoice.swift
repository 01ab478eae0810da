/// A kassa as the scheduler sees it when choosing where a receipt goes.
public struct KassaCandidate: Sendable, Equatable {
    public var id: Int64
    public var site: String
    public var rack: String
    public var assembly: String
    /// Receipts this kassa fiscalized for us lately: the least-used free kassa goes first, which
    /// spreads FN wear evenly.
    public var used: Int

    public init(id: Int64, site: String, rack: String, assembly: String, used: Int) {
        self.id = id
        self.site = site
        self.rack = rack
        self.assembly = assembly
        self.used = used
    }
}

/// Picks the kassa for a receipt among the free, healthy ones.
public enum KassaChoice {
    /// The least-used candidate, avoiding kassas that already failed this receipt and, where a
    /// choice exists, their assembly, then rack, then site.
    public static func pick(from free: [KassaCandidate], failedOn: [KassaCandidate]) -> KassaCandidate? {
        // Most receipts have failed nowhere: no domain to avoid, no sets to build.
        if failedOn.isEmpty { return free.min { ($0.used, $0.id) < ($1.used, $1.id) } }
        let failedIDs = Set(failedOn.map(\.id))
        let eligible = free.filter { !failedIDs.contains($0.id) }
        guard !eligible.isEmpty else { return nil }
        let domains: [(KassaCandidate) -> String] = [\.assembly, \.rack, \.site]
        var pool = eligible
        for domain in domains {
            let bad = Set(failedOn.map(domain))
            let away = pool.filter { !bad.contains(domain($0)) }
            if away.isEmpty { break }
            pool = away
        }
        return pool.min { ($0.used, $0.id) < ($1.used, $1.id) }
    }
}
