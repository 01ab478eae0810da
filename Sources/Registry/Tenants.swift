import Crypto
import Foundation

/// A tenant's choices for receipts that take too long (issue #3).
public struct TenantPolicy: Sendable, Equatable {
    /// What to do with a job in doubt (its kassa's answer was lost) that stays unresolved.
    public enum InDoubtPolicy: Sendable, Equatable {
        /// Wait for the kassa until its FN archive says whether the document exists (the default:
        /// never risks a second document).
        case wait
        /// After `resendAfter` in doubt, fiscalize the receipt on another kassa; if the first
        /// kassa later shows it fiscalized too, annul the duplicate with a refund receipt.
        case resendAndAnnul(resendAfter: Duration)

        /// The stored text: `wait` or `resend-and-annul`.
        public var name: String {
            switch self {
            case .wait: "wait"
            case .resendAndAnnul: "resend-and-annul"
            }
        }
    }

    /// What to do with a job still queued (status `wait`) past the tenant's deadline.
    public enum DeadlineAction: String, Sendable, Equatable, CaseIterable {
        /// Mark the job late (`late_at`) and keep trying; its report carries a warning.
        case flag
        /// Fail the job (ATOL's queue timeout).
        case fail
    }

    public var inDoubt: InDoubtPolicy
    /// How long a job may stay queued, counted from its acceptance (or its last resend).
    public var deadline: Duration
    public var deadlineAction: DeadlineAction

    /// How long a job waits in doubt before `resendAndAnnul` acts when the stored policy names
    /// no other value (the column default).
    public static let defaultResendAfter: Duration = .milliseconds(30_000)

    /// Wait in doubt; flag a job still queued after 300 s (ATOL's queue timeout).
    public static let `default` = TenantPolicy(inDoubt: .wait, deadline: .milliseconds(300_000), deadlineAction: .flag)

    public init(inDoubt: InDoubtPolicy, deadline: Duration, deadlineAction: DeadlineAction) {
        self.inDoubt = inDoubt
        self.deadline = deadline
        self.deadlineAction = deadlineAction
    }

    /// Whole milliseconds of a positive duration that fits the `integer` columns, else nil.
    static func storedMilliseconds(_ duration: Duration) -> Int32? {
        let (seconds, attoseconds) = duration.components
        guard seconds >= 0, attoseconds >= 0, seconds < Int64(Int32.max) / 1000 + 1 else { return nil }
        let milliseconds = seconds * 1000 + attoseconds / 1_000_000_000_000_000
        guard milliseconds > 0, milliseconds <= Int64(Int32.max) else { return nil }
        return Int32(milliseconds)
    }

    /// The four column values, validated: `(in_doubt_policy, in_doubt_resend_after_ms,
    /// deadline_ms, deadline_action)`. Throws `.invalidArgument` naming the bad value.
    func columnValues() throws -> [String] {
        let resendAfter: Duration
        switch inDoubt {
        case .wait: resendAfter = Self.defaultResendAfter
        case .resendAndAnnul(let after): resendAfter = after
        }
        guard let resendAfterMilliseconds = Self.storedMilliseconds(resendAfter) else {
            throw RegistryError.invalidArgument("in-doubt resend delay must be between 1 ms and \(Int32.max) ms, got \(resendAfter)")
        }
        guard let deadlineMilliseconds = Self.storedMilliseconds(deadline) else {
            throw RegistryError.invalidArgument("deadline must be between 1 ms and \(Int32.max) ms, got \(deadline)")
        }
        return [inDoubt.name, String(resendAfterMilliseconds), String(deadlineMilliseconds), deadlineAction.rawValue]
    }

    init(row: PostgresRow) throws {
        let policyText = try row.string("in_doubt_policy")
        let resendAfter = Duration.milliseconds(try row.int("in_doubt_resend_after_ms"))
        switch policyText {
        case "wait": inDoubt = .wait
        case "resend-and-annul": inDoubt = .resendAndAnnul(resendAfter: resendAfter)
        default: throw RegistryError.decoding("column 'in_doubt_policy': unknown policy '\(policyText)'")
        }
        deadline = .milliseconds(try row.int("deadline_ms"))
        let actionText = try row.string("deadline_action")
        guard let action = DeadlineAction(rawValue: actionText) else {
            throw RegistryError.decoding("column 'deadline_action': unknown action '\(actionText)'")
        }
        deadlineAction = action
    }
}

/// A tenant (one legal entity, one INN) as stored.
public struct TenantRecord: Sendable, Equatable {
    public var id: Int64
    public var groupCode: String
    public var inn: String
    public var paymentAddress: String
    /// Taxation systems (СНО) the tenant's kassas are registered with, e.g. `osn`, `usn_income`.
    public var sno: [String]
    public var login: String
    public var passwordSalt: String
    /// See `Registry.passwordHash(salt:password:)`.
    public var passwordHash: String
    public var callbackURL: String?
    public var callbackSecret: String?
    public var blocked: Bool
    public var createdAt: Date
    /// In-doubt and deadline policy.
    public var policy: TenantPolicy
    /// How many kassas the tenant rents: placement tops its active kassas up to this.
    public var kassasWanted: Int

    init(row: PostgresRow) throws {
        id = try row.int64("id")
        groupCode = try row.string("group_code")
        inn = try row.string("inn")
        paymentAddress = try row.string("payment_address")
        sno = try row.stringArray("sno")
        login = try row.string("login")
        passwordSalt = try row.string("password_salt")
        passwordHash = try row.string("password_hash")
        callbackURL = try row.optionalString("callback_url")
        callbackSecret = try row.optionalString("callback_secret")
        blocked = try row.bool("blocked")
        createdAt = try row.date("created_at")
        policy = try TenantPolicy(row: row)
        kassasWanted = try row.int("kassas_wanted")
    }

    static let columns = """
        id, group_code, inn, payment_address, sno, login, password_salt, password_hash,
        callback_url, callback_secret, blocked, created_at,
        in_doubt_policy, in_doubt_resend_after_ms, deadline_ms, deadline_action, kassas_wanted
        """
}

extension Registry {
    /// Rounds of SHA-256 in `passwordHash(salt:password:)`.
    public static let passwordHashRounds = 10_000

    /// The stored password hash: lowercase hex of SHA-256 applied `passwordHashRounds` times,
    /// first over UTF-8(salt) || UTF-8(password), then over the previous digest || salt ||
    /// password (mixing the secret into every round, as PBKDF-style schemes do).
    public static func passwordHash(salt: String, password: String) -> String {
        let secret = Array(salt.utf8) + Array(password.utf8)
        var digest = Array(SHA256.hash(data: secret))
        for _ in 1..<passwordHashRounds {
            var hasher = SHA256()
            hasher.update(data: digest)
            hasher.update(data: secret)
            digest = Array(hasher.finalize())
        }
        return digest.map { byte in
            let hex = String(byte, radix: 16)
            return byte < 16 ? "0" + hex : hex
        }.joined()
    }

    /// A fresh salt: 16 random bytes from the system CSPRNG, hex encoded.
    static func makeSalt() -> String {
        var generator = SystemRandomNumberGenerator()
        return (0..<16).map { _ in
            let byte = UInt8.random(in: .min ... .max, using: &generator)
            let hex = String(byte, radix: 16)
            return byte < 16 ? "0" + hex : hex
        }.joined()
    }

    /// Creates a tenant or, when `groupCode` exists, makes it match these values (with a new
    /// salt and hash, and this `policy`). Blocked flag and creation time are kept.
    /// - Throws: `.conflict` when `login` belongs to another tenant; `.invalidArgument` for a
    ///   policy duration that is not a positive whole number of milliseconds below 2^31.
    @discardableResult
    public func upsertTenant(
        groupCode: String, inn: String, paymentAddress: String, sno: [String],
        login: String, password: String, callbackURL: String?, callbackSecret: String? = nil,
        policy: TenantPolicy = .default
    ) async throws -> TenantRecord {
        let policyValues = try policy.columnValues()
        let salt = Self.makeSalt()
        // Hash off the database threads: it is CPU work (a few ms), not I/O.
        let hash = Self.passwordHash(salt: salt, password: password)
        let params: [String?] = [
            groupCode, inn, paymentAddress, PostgresText.array(sno.map { Optional($0) }),
            login, salt, hash, callbackURL, callbackSecret,
        ] + policyValues.map { Optional($0) }
        return try await withConnection { connection in
            let rows = try mapConstraintErrors {
                try connection.query("""
                    INSERT INTO tenants (group_code, inn, payment_address, sno, login, password_salt,
                                         password_hash, callback_url, callback_secret,
                                         in_doubt_policy, in_doubt_resend_after_ms, deadline_ms, deadline_action)
                    VALUES ($1, $2, $3, $4::text[], $5, $6, $7, $8, $9, $10, $11::integer, $12::integer, $13)
                    ON CONFLICT (group_code) DO UPDATE SET
                        inn = EXCLUDED.inn, payment_address = EXCLUDED.payment_address, sno = EXCLUDED.sno,
                        login = EXCLUDED.login, password_salt = EXCLUDED.password_salt,
                        password_hash = EXCLUDED.password_hash, callback_url = EXCLUDED.callback_url,
                        callback_secret = EXCLUDED.callback_secret,
                        in_doubt_policy = EXCLUDED.in_doubt_policy,
                        in_doubt_resend_after_ms = EXCLUDED.in_doubt_resend_after_ms,
                        deadline_ms = EXCLUDED.deadline_ms, deadline_action = EXCLUDED.deadline_action
                    RETURNING \(TenantRecord.columns)
                    """, params)
            }
            guard let row = rows.first else { throw RegistryError.decoding("upsert of tenant \(groupCode) returned no row") }
            return try TenantRecord(row: row)
        }
    }

    public func tenant(groupCode: String) async throws -> TenantRecord? {
        try await withConnection { connection in
            try connection.query("SELECT \(TenantRecord.columns) FROM tenants WHERE group_code = $1", [groupCode])
                .first.map(TenantRecord.init(row:))
        }
    }

    public func tenant(login: String) async throws -> TenantRecord? {
        try await withConnection { connection in
            try connection.query("SELECT \(TenantRecord.columns) FROM tenants WHERE login = $1", [login])
                .first.map(TenantRecord.init(row:))
        }
    }

    public func tenant(id: Int64) async throws -> TenantRecord? {
        try await withConnection { connection in
            try connection.query("SELECT \(TenantRecord.columns) FROM tenants WHERE id = $1::bigint", [String(id)])
                .first.map(TenantRecord.init(row:))
        }
    }

    /// All tenants, by id.
    public func tenants() async throws -> [TenantRecord] {
        try await withConnection { connection in
            try connection.query("SELECT \(TenantRecord.columns) FROM tenants ORDER BY id").map(TenantRecord.init(row:))
        }
    }

    /// Blocks or unblocks a tenant. Throws `.notFound` for an unknown group code.
    public func setTenantBlocked(groupCode: String, blocked: Bool) async throws {
        let changed = try await withConnection { connection in
            try connection.execute("UPDATE tenants SET blocked = $2::boolean WHERE group_code = $1",
                                   [groupCode, blocked ? "true" : "false"])
        }
        if changed == 0 { throw RegistryError.notFound("tenant with group code \(groupCode)") }
    }

    /// Whether `password` is the tenant's. The comparison takes the same time wherever the
    /// hashes differ, so response timing does not leak how much of a guess was right.
    /// CPU-bound (10,000 SHA-256 rounds, a few ms); call it from a task, not a tight loop.
    public func verifyPassword(_ tenant: TenantRecord, password: String) -> Bool {
        let candidate = Array(Self.passwordHash(salt: tenant.passwordSalt, password: password).utf8)
        let stored = Array(tenant.passwordHash.utf8)
        guard candidate.count == stored.count else { return false }  // the length is not secret
        var difference: UInt8 = 0
        for index in 0..<stored.count { difference |= candidate[index] ^ stored[index] }
        return difference == 0
    }
}

/// Turns unique and foreign-key violations into `.conflict` / `.notFound` with the server's
/// message (which names the constraint and the key).
func mapConstraintErrors<T>(_ body: () throws -> T) throws -> T {
    do {
        return try body()
    } catch RegistryError.statement(let sqlState, let message, let statement) {
        switch sqlState {
        case SQLState.uniqueViolation?: throw RegistryError.conflict(message)
        case SQLState.foreignKeyViolation?: throw RegistryError.notFound(message)
        default: throw RegistryError.statement(sqlState: sqlState, message: message, statement: statement)
        }
    }
}
