import Foundation

/// A dispatcher's right to use one kassa. `epoch` is the fencing token: every registry write
/// about the kassa names it, and is refused once the kassa's epoch moved on.
public struct Lease: Sendable, Equatable {
    public var kassaID: Int64
    public var owner: String
    public var epoch: Int64
    /// On the database clock. The owner should stop starting new work well before this.
    public var expiresAt: Date

    public init(kassaID: Int64, owner: String, epoch: Int64, expiresAt: Date) {
        self.kassaID = kassaID
        self.owner = owner
        self.epoch = epoch
        self.expiresAt = expiresAt
    }

    init(row: PostgresRow) throws {
        kassaID = try row.int64("id")
        owner = try row.string("lease_owner")
        epoch = try row.int64("lease_epoch")
        expiresAt = try row.date("lease_expires_at")
    }
}

extension Registry {
    /// Takes the kassa's lease for `owner` until the database's `now() + ttl`.
    ///
    /// Succeeds when the kassa is unowned, its lease expired, or `owner` holds it already. A new
    /// lease (including one taken over from an expired holder, `owner` itself included) gets
    /// epoch + 1; re-acquiring one's own unexpired lease extends it and keeps its epoch.
    /// - Returns: the lease, or nil when another owner holds an unexpired lease.
    /// - Throws: `.notFound` for an unknown kassa.
    ///
    /// The row lock taken by the UPDATE serializes racing acquirers: the loser re-checks the
    /// condition against the winner's row and matches nothing.
    public func acquireLease(kassaID: Int64, owner: String, ttl: Duration) async throws -> Lease? {
        let micros = try Self.ttlMicroseconds(ttl)
        let rows = try await withConnection { connection in
            try connection.query("""
                WITH taken AS (
                    UPDATE kassas SET
                        lease_epoch = CASE WHEN lease_owner = $2 AND lease_expires_at > now()
                                           THEN lease_epoch ELSE lease_epoch + 1 END,
                        lease_owner = $2,
                        lease_expires_at = now() + $3::bigint * interval '1 microsecond'
                    WHERE id = $1::bigint
                      AND (lease_owner IS NULL OR lease_expires_at <= now() OR lease_owner = $2)
                    RETURNING id, lease_owner, lease_epoch, lease_expires_at
                )
                SELECT t.id, t.lease_owner, t.lease_epoch, t.lease_expires_at,
                       EXISTS (SELECT 1 FROM kassas WHERE id = $1::bigint) AS known
                FROM (SELECT 1) AS one LEFT JOIN taken t ON true
                """, [String(kassaID), owner, String(micros)])
        }
        guard let row = rows.first else { throw RegistryError.decoding("acquireLease returned no row") }
        if try row.isNull("id") {
            guard try row.bool("known") else { throw RegistryError.notFound("kassa \(kassaID)") }
            return nil
        }
        return try Lease(row: row)
    }

    /// Extends, in ONE statement whatever their number, the leases `owner` still holds at the
    /// given epochs. Returns the kassa ids still held; any id missing was lost (taken over, or
    /// released) and must not be used again before a new `acquireLease`.
    ///
    /// A lease that expired but nobody took over is renewed: the epoch is the fence, and an
    /// unchanged epoch proves no one else has written about the kassa since. That lets leases
    /// survive a registry failover longer than the ttl.
    public func renewLeases(owner: String, leases: [(kassaID: Int64, epoch: Int64)], ttl: Duration) async throws -> Set<Int64> {
        guard !leases.isEmpty else { return [] }
        let micros = try Self.ttlMicroseconds(ttl)
        let ids = PostgresText.array(leases.map(\.kassaID))
        let epochs = PostgresText.array(leases.map(\.epoch))
        let rows = try await withConnection { connection in
            try connection.query(Self.heldKassasLockedInOrder + """
                UPDATE kassas k SET lease_expires_at = now() + $4::bigint * interval '1 microsecond'
                FROM locked WHERE k.id = locked.id
                RETURNING k.id
                """, [owner, ids, epochs, String(micros)])
        }
        return Set(try rows.map { try $0.int64("id") })
    }

    /// The first part of a statement on the kassas `$1` holds at the epochs given (`$2` ids,
    /// `$3` epochs): `locked`, their ids, with the rows locked in ascending id, as the intent and
    /// commit batches lock them (`rowsPerInput(_:inKassaOrder:what:_:)`). An UPDATE ... FROM
    /// locks in join order, and under load that order crossed theirs several times a minute: a
    /// deadlock, found only after deadlock_timeout (1 s), every kassa of the losing batch idle
    /// meanwhile.
    private static let heldKassasLockedInOrder = """
        WITH locked AS (
            SELECT l.id FROM kassas l
            JOIN unnest($2::bigint[], $3::bigint[]) AS held (id, epoch) ON l.id = held.id AND l.lease_epoch = held.epoch
            WHERE l.lease_owner = $1
            ORDER BY l.id
            FOR NO KEY UPDATE OF l
        )

        """

    /// `renewLeases` for callers that keep leases as `Lease` values.
    public func renewLeases(_ leases: [Lease], ttl: Duration) async throws -> Set<Int64> {
        var held = Set<Int64>()
        for (owner, group) in Dictionary(grouping: leases, by: \.owner) {
            held.formUnion(try await renewLeases(owner: owner, leases: group.map { ($0.kassaID, $0.epoch) }, ttl: ttl))
        }
        return held
    }

    /// Gives up `owner`'s leases on these kassas (graceful shutdown, drain). The epoch is kept:
    /// the next acquirer gets epoch + 1. Returns the ids actually released.
    @discardableResult
    public func releaseLeases(owner: String, kassaIDs: [Int64]) async throws -> Set<Int64> {
        guard !kassaIDs.isEmpty else { return [] }
        let rows = try await withConnection { connection in
            // In ascending id, like every statement that locks many kassa rows (renewLeases).
            try connection.query("""
                WITH locked AS (
                    SELECT l.id FROM kassas l WHERE l.id = ANY ($2::bigint[]) AND l.lease_owner = $1
                    ORDER BY l.id
                    FOR NO KEY UPDATE OF l
                )
                UPDATE kassas k SET lease_owner = NULL, lease_expires_at = NULL
                FROM locked WHERE k.id = locked.id
                RETURNING k.id
                """, [owner, PostgresText.array(kassaIDs)])
        }
        return Set(try rows.map { try $0.int64("id") })
    }

    /// Like `releaseLeases(owner:kassaIDs:)` but only where the epoch still matches, so a stale
    /// incarnation reusing an owner name cannot release its successor's lease.
    @discardableResult
    public func releaseLeases(owner: String, leases: [(kassaID: Int64, epoch: Int64)]) async throws -> Set<Int64> {
        guard !leases.isEmpty else { return [] }
        let rows = try await withConnection { connection in
            try connection.query(Self.heldKassasLockedInOrder + """
                UPDATE kassas k SET lease_owner = NULL, lease_expires_at = NULL
                FROM locked WHERE k.id = locked.id
                RETURNING k.id
                """, [owner, PostgresText.array(leases.map(\.kassaID)), PostgresText.array(leases.map(\.epoch))])
        }
        return Set(try rows.map { try $0.int64("id") })
    }

    /// The leases `owner` holds and that have not expired, by kassa id.
    public func leases(owner: String) async throws -> [Lease] {
        try await withConnection { connection in
            try connection.query("""
                SELECT id, lease_owner, lease_epoch, lease_expires_at FROM kassas
                WHERE lease_owner = $1 AND lease_expires_at > now() ORDER BY id
                """, [owner]).map(Lease.init(row:))
        }
    }

    /// The database's clock (`clock_timestamp()`), the one lease expiry is measured on.
    public func databaseTime() async throws -> Date {
        try await withConnection { connection in
            guard let row = try connection.query("SELECT clock_timestamp() AS now").first else {
                throw RegistryError.decoding("SELECT clock_timestamp() returned no row")
            }
            return try row.date("now")
        }
    }

    static func ttlMicroseconds(_ ttl: Duration) throws -> Int64 {
        guard ttl > .zero, let micros = PostgresText.microseconds(ttl), micros < Int64(100 * 365 * 86_400) * 1_000_000 else {
            throw RegistryError.invalidArgument("lease ttl must be positive and under 100 years, got \(ttl)")
        }
        return micros
    }
}
