import Foundation

/// Service state of a kassa. Only `active` kassas take new receipts; the others keep their
/// history (and a broken one may still hold an intent that needs reconciling).
public enum KassaState: String, Sendable, CaseIterable {
    case active, drained, broken, retired
}

/// A kassa (one module with its FN) as stored, with its lease.
public struct KassaRecord: Sendable, Equatable {
    public var id: Int64
    public var tenantID: Int64?
    public var site: String
    public var rack: String
    public var assembly: String
    public var slot: Int
    /// `host:port` of the module's wire endpoint.
    public var address: String
    public var fnSerial: String
    public var registrationNumber: String
    public var fnCapacity: Int
    public var fnExpiresAt: Date
    /// Highest fiscal document number known to be used on the FN (only ever grows).
    public var lastDocumentNumber: Int64
    public var state: KassaState
    public var leaseOwner: String?
    public var leaseEpoch: Int64
    public var leaseExpiresAt: Date?

    init(row: PostgresRow) throws {
        id = try row.int64("id")
        tenantID = try row.optionalInt64("tenant_id")
        site = try row.string("site")
        rack = try row.string("rack")
        assembly = try row.string("assembly")
        slot = try row.int("slot")
        address = try row.string("address")
        fnSerial = try row.string("fn_serial")
        registrationNumber = try row.string("registration_number")
        fnCapacity = try row.int("fn_capacity")
        fnExpiresAt = try row.date("fn_expires_at")
        lastDocumentNumber = try row.int64("last_document_number")
        let stateText = try row.string("state")
        guard let state = KassaState(rawValue: stateText) else {
            throw RegistryError.decoding("column 'state': unknown kassa state '\(stateText)'")
        }
        self.state = state
        leaseOwner = try row.optionalString("lease_owner")
        leaseEpoch = try row.int64("lease_epoch")
        leaseExpiresAt = try row.optionalDate("lease_expires_at")
    }

    static let columns = """
        id, tenant_id, site, rack, assembly, slot, address, fn_serial, registration_number, fn_capacity,
        fn_expires_at, last_document_number, state, lease_owner, lease_epoch, lease_expires_at
        """
}

/// What describes a kassa when it is placed: topology, endpoint, FN and registration.
public struct KassaPlacement: Sendable, Equatable {
    public var tenantID: Int64?
    public var site: String
    public var rack: String
    public var assembly: String
    public var slot: Int
    public var address: String
    public var fnSerial: String
    public var registrationNumber: String
    public var fnCapacity: Int
    public var fnExpiresAt: Date

    public init(
        tenantID: Int64?, site: String, rack: String, assembly: String, slot: Int, address: String,
        fnSerial: String, registrationNumber: String, fnCapacity: Int, fnExpiresAt: Date
    ) {
        self.tenantID = tenantID
        self.site = site
        self.rack = rack
        self.assembly = assembly
        self.slot = slot
        self.address = address
        self.fnSerial = fnSerial
        self.registrationNumber = registrationNumber
        self.fnCapacity = fnCapacity
        self.fnExpiresAt = fnExpiresAt
    }

    var params: [String?] {
        [tenantID.map { String($0) }, site, rack, assembly, String(slot), address, fnSerial, registrationNumber,
         String(fnCapacity), PostgresText.timestamp(fnExpiresAt)]
    }
}

extension Registry {
    /// Adds a kassa. Throws `.conflict` if its FN serial or its (assembly, slot) is taken, and
    /// `.notFound` for an unknown tenant.
    @discardableResult
    public func insertKassa(_ placement: KassaPlacement, lastDocumentNumber: Int64 = 0,
                            state: KassaState = .active) async throws -> KassaRecord {
        let params = placement.params + [String(lastDocumentNumber), state.rawValue]
        return try await withConnection { connection in
            let rows = try mapConstraintErrors {
                try connection.query("""
                    INSERT INTO kassas (tenant_id, site, rack, assembly, slot, address, fn_serial,
                                        registration_number, fn_capacity, fn_expires_at,
                                        last_document_number, state)
                    VALUES ($1::bigint, $2, $3, $4, $5::integer, $6, $7, $8, $9::integer, $10::timestamptz,
                            $11::bigint, $12)
                    RETURNING \(KassaRecord.columns)
                    """, params)
            }
            guard let row = rows.first else { throw RegistryError.decoding("insert of kassa \(placement.fnSerial) returned no row") }
            return try KassaRecord(row: row)
        }
    }

    /// Adds a kassa or, when its FN serial is known, updates its placement and registration
    /// (a topology file re-loaded). Never touches the lease, and the document number only grows.
    /// `state` nil keeps the stored state (`active` for a new kassa): a reload must not revive a
    /// kassa the dispatcher marked broken.
    @discardableResult
    public func upsertKassa(_ placement: KassaPlacement, lastDocumentNumber: Int64 = 0,
                            state: KassaState? = nil) async throws -> KassaRecord {
        let params = placement.params + [String(lastDocumentNumber), state?.rawValue]
        return try await withConnection { connection in
            let rows = try mapConstraintErrors {
                try connection.query("""
                    INSERT INTO kassas (tenant_id, site, rack, assembly, slot, address, fn_serial,
                                        registration_number, fn_capacity, fn_expires_at,
                                        last_document_number, state)
                    VALUES ($1::bigint, $2, $3, $4, $5::integer, $6, $7, $8, $9::integer, $10::timestamptz,
                            $11::bigint, coalesce($12, 'active'))
                    ON CONFLICT (fn_serial) DO UPDATE SET
                        tenant_id = EXCLUDED.tenant_id, site = EXCLUDED.site, rack = EXCLUDED.rack,
                        assembly = EXCLUDED.assembly, slot = EXCLUDED.slot, address = EXCLUDED.address,
                        registration_number = EXCLUDED.registration_number,
                        fn_capacity = EXCLUDED.fn_capacity, fn_expires_at = EXCLUDED.fn_expires_at,
                        last_document_number = greatest(kassas.last_document_number, EXCLUDED.last_document_number),
                        state = coalesce($12, kassas.state)
                    RETURNING \(KassaRecord.columns)
                    """, params)
            }
            guard let row = rows.first else { throw RegistryError.decoding("upsert of kassa \(placement.fnSerial) returned no row") }
            return try KassaRecord(row: row)
        }
    }

    public func kassa(id: Int64) async throws -> KassaRecord? {
        try await withConnection { connection in
            try connection.query("SELECT \(KassaRecord.columns) FROM kassas WHERE id = $1::bigint", [String(id)])
                .first.map(KassaRecord.init(row:))
        }
    }

    public func kassa(fnSerial: String) async throws -> KassaRecord? {
        try await withConnection { connection in
            try connection.query("SELECT \(KassaRecord.columns) FROM kassas WHERE fn_serial = $1", [fnSerial])
                .first.map(KassaRecord.init(row:))
        }
    }

    /// A tenant's kassas (every state), by id.
    public func kassas(tenantID: Int64) async throws -> [KassaRecord] {
        try await withConnection { connection in
            try connection.query("SELECT \(KassaRecord.columns) FROM kassas WHERE tenant_id = $1::bigint ORDER BY id",
                                 [String(tenantID)]).map(KassaRecord.init(row:))
        }
    }

    /// Every kassa, by id.
    public func kassas() async throws -> [KassaRecord] {
        try await withConnection { connection in
            try connection.query("SELECT \(KassaRecord.columns) FROM kassas ORDER BY id").map(KassaRecord.init(row:))
        }
    }

    /// Sets a kassa's service state. Throws `.notFound` for an unknown id.
    public func setKassaState(id: Int64, _ state: KassaState) async throws {
        let changed = try await withConnection { connection in
            try mapConstraintErrors {
                try connection.execute("UPDATE kassas SET state = $2 WHERE id = $1::bigint", [String(id), state.rawValue])
            }
        }
        if changed == 0 { throw RegistryError.notFound("kassa \(id)") }
    }
}
