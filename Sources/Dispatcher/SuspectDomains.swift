/// A failure domain above the single kassa: one assembly (a box of up to 48 modules on one
/// power supply and switch) or one rack.
public enum FailureDomain: Hashable, Sendable, CustomStringConvertible {
    case assembly(String)
    case rack(String)

    public var description: String {
        switch self {
        case .assembly(let name): "assembly \(name)"
        case .rack(let name): "rack \(name)"
        }
    }
}

/// Kassa failures by assembly and rack over a short window. Several failures in one domain make
/// the whole domain suspect: its kassas take no receipts (while the tenant has others) until a
/// probe of one of them passes. Without this, a dead assembly would cost each of its kassas one
/// failed attempt and a connect timeout before the receipts learned to avoid it.
///
/// Pure bookkeeping; the desk feeds it failures and probe results and asks what is suspect.
public struct SuspectDomains: Sendable {
    public struct Rules: Sendable {
        /// Failures older than this are forgotten.
        public var window: Duration = .seconds(10)
        /// An assembly is suspect after this many failures on at least two of its kassas.
        public var assemblyFailures = 3
        /// A rack is suspect after failures in at least this many of its assemblies...
        public var rackAssemblies = 2
        /// ...adding up to at least this many (two kassas dying on their own is not a rack).
        public var rackFailures = 4

        public init() {}
    }

    private struct Failure {
        var kassaID: Int64
        var assembly: String
        var rack: String
        var at: ContinuousClock.Instant
    }

    public let rules: Rules
    private var failures: [Failure] = []
    public private(set) var suspects: Set<FailureDomain> = []

    public init(rules: Rules = Rules()) {
        self.rules = rules
    }

    /// Notes a failure of `kassa` (could not connect, no answer, refused for a reason of its
    /// own). Returns the domains that became suspect by it.
    public mutating func recordFailure(of kassa: KassaCandidate, at now: ContinuousClock.Instant) -> [FailureDomain] {
        failures.removeAll { now - $0.at > rules.window }
        failures.append(Failure(kassaID: kassa.id, assembly: kassa.assembly, rack: kassa.rack, at: now))
        var fresh: [FailureDomain] = []
        let inAssembly = failures.filter { $0.assembly == kassa.assembly }
        if inAssembly.count >= rules.assemblyFailures, Set(inAssembly.map(\.kassaID)).count >= 2,
           suspects.insert(.assembly(kassa.assembly)).inserted {
            fresh.append(.assembly(kassa.assembly))
        }
        let inRack = failures.filter { $0.rack == kassa.rack }
        if inRack.count >= rules.rackFailures, Set(inRack.map(\.assembly)).count >= rules.rackAssemblies, suspects.insert(.rack(kassa.rack)).inserted {
            fresh.append(.rack(kassa.rack))
        }
        return fresh
    }

    /// A probe of `kassa` passed: its assembly and rack are trusted again, and their past
    /// failures forgotten (the next ones count afresh). Returns the domains cleared.
    public mutating func probePassed(on kassa: KassaCandidate) -> [FailureDomain] {
        let cleared = [FailureDomain.assembly(kassa.assembly), .rack(kassa.rack)].filter { suspects.remove($0) != nil }
        if !cleared.isEmpty {
            failures.removeAll { $0.assembly == kassa.assembly || $0.rack == kassa.rack }
        }
        return cleared
    }

    /// True when the kassa's assembly or rack is suspect.
    public func isSuspect(_ kassa: KassaCandidate) -> Bool {
        suspects.contains(.assembly(kassa.assembly)) || suspects.contains(.rack(kassa.rack))
    }

    /// The domain a probe of `kassa` would clear, if any (its assembly first).
    public func suspectDomain(of kassa: KassaCandidate) -> FailureDomain? {
        if suspects.contains(.assembly(kassa.assembly)) { return .assembly(kassa.assembly) }
        if suspects.contains(.rack(kassa.rack)) { return .rack(kassa.rack) }
        return nil
    }
}
