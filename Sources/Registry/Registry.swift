import CLibPQ
import Dispatch
import Foundation
import Logging

/// A pool of libpq connections; every call runs on a connection's own thread.
///
/// Connections are opened lazily, on first use, so a registry can be created while the database
/// is still starting (or failing over); calls made meanwhile throw `RegistryError.connection`.
/// A connection that broke is reconnected on its next use (PQreset, which re-runs the original
/// multi-host connection string and so follows the primary).
///
/// Nothing is retried behind the caller's back except a transaction's BEGIN: after a
/// `RegistryError.connection` from any other statement its outcome is unknown, and only the
/// caller knows whether repeating it is safe. Every domain write here is safe to repeat (they are
/// idempotent or report what already happened), which is what the exactly-once protocol needs.
public final class Registry: Sendable {
    public let configuration: RegistryConfiguration
    let logger: Logger
    private let pool: ConnectionPool
    private let parameters: ConnectionParameters
    /// Intent writes and result commits made at the same time go to the server together (see
    /// `GroupCommit`): two batches of each in flight, and the rest wait for the next.
    let intentWrites = GroupCommit<IntentWrite, PostgresRow>(maxInFlight: 2, maxBatch: 256)
    let resultCommits = GroupCommit<ResultCommit, PostgresRow>(maxInFlight: 2, maxBatch: 256)
    /// The ingress's repeat checks, one batch at a time: PostgreSQL's cost is per statement
    /// (0.16 ms of its CPU each, for 0.004 ms of execution), and at 13,000 receipts a second
    /// one in flight grew the batch from about 9 checks to 15, cutting PostgreSQL's CPU per
    /// receipt by a third.
    let jobLookups = GroupCommit<UUID, String?>(maxInFlight: 1, maxBatch: 256)

    /// Starts the pool's threads. Throws `RegistryError.invalidArgument` for a pool size below 1
    /// or a connection string libpq cannot parse; it does not connect yet.
    public init(configuration: RegistryConfiguration, logger: Logger) throws {
        guard configuration.poolSize >= 1 else {
            throw RegistryError.invalidArgument("poolSize must be at least 1, got \(configuration.poolSize)")
        }
        try Self.validate(connectionString: configuration.connectionString)
        self.configuration = configuration
        self.logger = logger
        self.parameters = ConnectionParameters(configuration: configuration)
        self.pool = ConnectionPool(size: configuration.poolSize, parameters: parameters, logger: logger)
    }

    deinit { pool.close() }

    /// Fails queued calls, lets running ones finish, then closes every connection. Idempotent.
    public func close() {
        pool.close()
    }

    /// Low-level: run `body` with one connection inside BEGIN/COMMIT (ROLLBACK on throw).
    ///
    /// `body` runs on a pool thread and may block; it must not capture the connection beyond the
    /// call. It is `@escaping` because it crosses to that thread.
    /// - Throws: whatever `body` throws (after ROLLBACK); `RegistryError.statement` with SQLSTATE
    ///   25P02 if `body` swallowed a statement error (the transaction was rolled back);
    ///   `RegistryError.connection` if the connection broke, in which case a failure during
    ///   COMMIT leaves the outcome unknown.
    @discardableResult
    public func transaction<T: Sendable>(_ body: @escaping @Sendable (PostgresConnection) throws -> T) async throws -> T {
        try await pool.run { connection in
            try connection.inTransaction { try body(connection) }
        }
    }

    /// Run `body` with one connection, each statement in its own implicit transaction.
    /// A transaction the body leaves open is rolled back before the connection is reused.
    @discardableResult
    public func withConnection<T: Sendable>(_ body: @escaping @Sendable (PostgresConnection) throws -> T) async throws -> T {
        try await pool.run { connection in
            defer { connection.abandonOpenTransaction() }
            return try body(connection)
        }
    }

    /// Calls waiting for a free connection right now (a saturation signal for metrics).
    public var queuedCalls: Int { pool.queuedCount }

    /// True when a fresh connection (honouring target_session_attrs, so: a writable primary)
    /// answers `SELECT 1` within `configuration.reachabilityTimeout`.
    ///
    /// Uses its own short-lived connection on its own thread, not the pool: a readiness probe
    /// must answer even when every pooled connection is busy or stuck on a dead host.
    public func isReachable() async -> Bool {
        let timeout = configuration.reachabilityTimeout
        var probeParameters = self.parameters
        let seconds = max(2, Int(((PostgresText.microseconds(timeout) ?? 2_000_000) + 999_999) / 1_000_000))
        probeParameters.overrides = [("connect_timeout", String(seconds))]
        let parameters = probeParameters
        let logger = self.logger
        return await withCheckedContinuation { (continuation: CheckedContinuation<Bool, Never>) in
            let answer = ResumeOnce(continuation)
            Thread.detachNewThread {
                let connection = PostgresConnection(parameters: parameters, logger: logger)
                defer { connection.close() }
                do {
                    try connection.prepareForUse()
                    let rows = try connection.query("SELECT 1 AS one")
                    answer.resume(try rows.first?.int("one") == 1)
                } catch {
                    logger.debug("registry: not reachable", metadata: ["error": "\(error)"])
                    answer.resume(false)
                }
            }
            // libpq's connect_timeout has a 2 s floor and does not bound the query itself.
            let nanoseconds = UInt64(clamping: (PostgresText.microseconds(timeout) ?? 2_000_000) * 1000)
            DispatchQueue.global().asyncAfter(deadline: .now() + .nanoseconds(Int(clamping: nanoseconds))) {
                answer.resume(false)
            }
        }
    }

    /// Rejects malformed key/value or URI connection strings early, without echoing values.
    private static func validate(connectionString: String) throws {
        let looksLikeConninfo = connectionString.contains("=")
            || connectionString.hasPrefix("postgresql://") || connectionString.hasPrefix("postgres://")
        guard looksLikeConninfo else { return }  // a bare database name, as libpq allows
        var errorMessage: UnsafeMutablePointer<CChar>?
        let options = PQconninfoParse(connectionString, &errorMessage)
        defer {
            if let options { PQconninfoFree(options) }
            if let errorMessage { PQfreemem(errorMessage) }
        }
        if options == nil {
            let reason = errorMessage.map { String(cString: $0).trimmingCharacters(in: .whitespacesAndNewlines) }
            throw RegistryError.invalidArgument("connection string rejected by libpq: \(reason ?? "unknown reason")")
        }
    }
}

/// Resumes a continuation at most once, whichever of several racers comes first.
private final class ResumeOnce: @unchecked Sendable {
    private let lock = NSLock()
    private var continuation: CheckedContinuation<Bool, Never>?

    init(_ continuation: CheckedContinuation<Bool, Never>) { self.continuation = continuation }

    func resume(_ value: Bool) {
        lock.lock()
        let pending = continuation
        continuation = nil
        lock.unlock()
        pending?.resume(returning: value)
    }
}
