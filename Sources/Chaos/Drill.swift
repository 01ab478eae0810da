import Foundation
import Yams

/// A chaos drill as written in `chaos/drills/NAME.yaml`: the load, the faults and when they
/// come, the steady state expected before, during and after them, when to give up, and the
/// outcome that counts as a pass.
public struct Drill: Sendable, Codable, Equatable {
    public var name: String
    /// What the drill shows, in a sentence or two (goes into the report).
    public var summary: String
    public var load: LoadPlan
    public var faults: [FaultSpec]
    public var hypothesis: SteadyStateHypothesis
    public var abort: AbortConditions
    public var expect: ExpectedOutcome
    /// Extra flags the drill restarts components with for its duration (debug flags that break
    /// the protocol on purpose); they are restarted without them afterwards.
    public var setup: ClusterSetup?

    public struct ClusterSetup: Sendable, Codable, Equatable {
        public var emulatorFlags: String?
        public var dispatcherFlags: String?
        /// Two sites: the site whose registry node must be the primary when the load starts (a
        /// switchover first, if it is not), e.g. so that losing site A loses the primary too.
        public var registryPrimary: String?

        enum CodingKeys: String, CodingKey {
            case emulatorFlags = "emulator_flags"
            case dispatcherFlags = "dispatcher_flags"
            case registryPrimary = "registry_primary"
        }
    }

    /// The load posted through the ingress while faults come and go.
    public struct LoadPlan: Sendable, Codable, Equatable {
        /// Receipts per second offered (open loop).
        public var rate: Double
        /// How long to send.
        public var durationS: Double
        /// How many of the cluster's tenants to post as (default: all).
        public var tenants: Int?
        /// Fraction of posts that repeat an earlier external_id on purpose.
        public var duplicateRatio: Double?
        /// After sending, how long to keep polling reports for receipts still waiting.
        public var drainTimeoutS: Double?
        /// Which site's ingress to post to (two sites; default A). A drill that loses site A
        /// posts to B, as a load balancer would after its health checks.
        public var ingress: String?
    }

    /// The steady state: throughput as a share of the offered fresh rate, and the p99 latency
    /// (acceptance to done) of any one second, in each phase.
    public struct SteadyStateHypothesis: Sendable, Codable, Equatable {
        public var before: SteadyState
        public var during: SteadyState
        public var after: SteadyState
    }

    public struct SteadyState: Sendable, Codable, Equatable {
        /// Mean receipts done per second over the phase ÷ fresh receipts offered per second.
        public var minThroughputRatio: Double?
        /// The worst one-second p99 in the phase, milliseconds.
        public var maxP99Ms: Int?
    }

    /// When to stop the drill early (faults are lifted and the report says why).
    public struct AbortConditions: Sendable, Codable, Equatable {
        /// The last five seconds' p99 above this...
        public var maxP99Ms: Int?
        /// ...for this many seconds in a row.
        public var forS: Int?
        /// No receipt done for this many seconds while receipts wait.
        public var stallS: Int?
    }

    /// What must hold at the end, judged by the ground-truth checker.
    public struct ExpectedOutcome: Sendable, Codable, Equatable {
        public var lost: Int
        public var duplicated: Int
        /// Receipts allowed to be still waiting at the end (e.g. behind a kassa that never comes back).
        public var maxInFlight: Int?
        /// Receipts allowed to end failed (with a reason); 0 by default: faults of ours must not
        /// fail a shop's receipt.
        public var maxFailed: Int?
        /// Duplicate documents allowed to have been annulled by refunds (resend-and-annul); 0 by
        /// default: under `wait` a second document is a protocol failure even when annulled.
        public var maxAnnulled: Int?
        /// Throughput back to 90% of the steady state within this many seconds of each fault's end.
        public var recoverWithinS: Double?
        /// Set on a drill that breaks the protocol on purpose: the checker must find violations.
        public var checkerMustFail: Bool?
        /// Every registry failover (kill of the primary until a write succeeds) within this many seconds.
        public var registryFailoverWithinS: Double?
        /// At least this many kassas must have been drained before they failed (drain drills).
        public var minKassasDrained: Int?
        /// At least this many drained kassas must have taken receipts again (drain drills whose
        /// cause clears, e.g. an OFD link that comes back).
        public var minKassasReturned: Int?
        /// At least this many times a tenant's queue must have grown past a dispatcher's window
        /// (backlog drills: what waited in the registry must still be fiscalized once).
        public var minQueuesSpilled: Int?
    }

    /// Reads and validates a drill file.
    public static func load(path: String) throws(DrillError) -> Drill {
        guard let data = FileManager.default.contents(atPath: path) else {
            throw .unreadable(path: path, reason: "cannot read the file")
        }
        return try parse(String(decoding: data, as: UTF8.self), source: path)
    }

    /// Parses a drill from YAML text; `source` names it in errors.
    public static func parse(_ yaml: String, source: String) throws(DrillError) -> Drill {
        let decoder = YAMLDecoder()
        let drill: Drill
        do {
            drill = try decoder.decode(Drill.self, from: yaml, userInfo: [:])
        } catch let error as DecodingError {
            throw .invalid(path: source, field: Self.fieldPath(error), reason: Self.reason(error))
        } catch {
            throw .invalid(path: source, field: "", reason: "\(error)")
        }
        try drill.validate(source: source)
        return drill
    }

    func validate(source: String) throws(DrillError) {
        func bad(_ field: String, _ reason: String) -> DrillError { .invalid(path: source, field: field, reason: reason) }
        if name.isEmpty { throw bad("name", "expected a non-empty name") }
        if !(load.rate > 0) { throw bad("load.rate", "expected receipts per second > 0") }
        if !(load.durationS > 0) { throw bad("load.duration_s", "expected seconds > 0") }
        if let ratio = load.duplicateRatio, !(0...0.5).contains(ratio) { throw bad("load.duplicate_ratio", "expected 0...0.5") }
        if let tenants = load.tenants, tenants < 1 { throw bad("load.tenants", "expected at least 1") }
        for (i, fault) in faults.enumerated() {
            try fault.validate(field: "faults[\(i)]", loadDuration: load.durationS, source: source)
        }
        if expect.lost < 0 || expect.duplicated < 0 { throw bad("expect", "lost and duplicated must not be negative") }
    }

    private static func fieldPath(_ error: DecodingError) -> String {
        let path: [any CodingKey]
        switch error {
        case .keyNotFound(let key, let context): path = context.codingPath + [key]
        case .typeMismatch(_, let context), .valueNotFound(_, let context), .dataCorrupted(let context): path = context.codingPath
        @unknown default: path = []
        }
        return path.map { key in key.intValue.map { "[\($0)]" } ?? ".\(snakeCase(key.stringValue))" }
            .joined().trimmingCharacters(in: CharacterSet(charactersIn: "."))
    }

    private static func reason(_ error: DecodingError) -> String {
        switch error {
        case .keyNotFound: "is required"
        case .typeMismatch(let type, _): "expected \(type)"
        case .valueNotFound(let type, _): "expected \(type), found nothing"
        case .dataCorrupted(let context): context.debugDescription
        @unknown default: "\(error)"
        }
    }

    static func snakeCase(_ name: String) -> String {
        var out = ""
        for character in name {
            if character.isUppercase {
                out += "_" + character.lowercased()
            } else {
                out.append(character)
            }
        }
        return out
    }

    enum CodingKeys: String, CodingKey {
        case name, summary, load, faults, hypothesis, abort, expect, setup
    }
}

extension Drill.LoadPlan {
    enum CodingKeys: String, CodingKey {
        case rate
        case durationS = "duration_s"
        case tenants
        case duplicateRatio = "duplicate_ratio"
        case drainTimeoutS = "drain_timeout_s"
        case ingress
    }
}

extension Drill.SteadyState {
    enum CodingKeys: String, CodingKey {
        case minThroughputRatio = "min_throughput_ratio"
        case maxP99Ms = "max_p99_ms"
    }
}

extension Drill.AbortConditions {
    enum CodingKeys: String, CodingKey {
        case maxP99Ms = "max_p99_ms"
        case forS = "for_s"
        case stallS = "stall_s"
    }
}

extension Drill.ExpectedOutcome {
    enum CodingKeys: String, CodingKey {
        case lost, duplicated
        case maxInFlight = "max_in_flight"
        case maxAnnulled = "max_annulled"
        case maxFailed = "max_failed"
        case recoverWithinS = "recover_within_s"
        case checkerMustFail = "checker_must_fail"
        case registryFailoverWithinS = "registry_failover_within_s"
        case minKassasDrained = "min_kassas_drained"
        case minKassasReturned = "min_kassas_returned"
        case minQueuesSpilled = "min_queues_spilled"
    }
}

/// Why a drill file cannot be used, naming the file and the field.
public enum DrillError: Error, CustomStringConvertible, Sendable {
    case unreadable(path: String, reason: String)
    case invalid(path: String, field: String, reason: String)

    public var description: String {
        switch self {
        case .unreadable(let path, let reason): "\(path): \(reason)"
        case .invalid(let path, let field, let reason): field.isEmpty ? "\(path): \(reason)" : "\(path): \(field): \(reason)"
        }
    }
}
