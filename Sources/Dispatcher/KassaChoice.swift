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
        let pool = failedOn.isEmpty ? free : away(from: failedOn, among: free)
        return pool.min { ($0.used, $0.id) < ($1.used, $1.id) }
    }

    /// The candidates that did not fail the receipt, narrowed to those outside the failed
    /// kassas' assembly, then rack, then site, as long as some remain.
    private static func away(from failedOn: [KassaCandidate], among free: [KassaCandidate]) -> [KassaCandidate] {
        let failedIDs = Set(failedOn.map(\.id))
        var pool = free.filter { !failedIDs.contains($0.id) }
        let domains: [(KassaCandidate) -> String] = [\.assembly, \.rack, \.site]
        for domain in domains {
            let bad = Set(failedOn.map(domain))
            let away = pool.filter { !bad.contains(domain($0)) }
            if away.isEmpty { break }
            pool = away
        }
        return pool
    }
}
