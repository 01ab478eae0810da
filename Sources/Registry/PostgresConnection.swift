import CLibPQ
import Foundation
import Logging

#if canImport(Glibc)
import Glibc
#elseif canImport(Musl)
import Musl
#elseif canImport(Darwin)
import Darwin
#endif

/// What libpq is given to open a connection: `defaults` first (the connection string may
/// override them), then the connection string expanded in place of `dbname`, then `overrides`
/// (which win over the string). libpq keeps the last value of a repeated keyword, which is what
/// makes this ordering work.
struct ConnectionParameters: Sendable {
    var defaults: [(keyword: String, value: String)]
    var connectionString: String
    var overrides: [(keyword: String, value: String)] = []

    init(configuration: RegistryConfiguration) {
        let timeout = max(2, Int((PostgresText.microseconds(configuration.connectTimeout) ?? 5_000_000) / 1_000_000))
        defaults = [
            ("connect_timeout", String(timeout)),
            ("fallback_application_name", configuration.applicationName),
            // Notice a dead primary (no FIN, e.g. a lost host) in ~25 s instead of TCP's hours.
            ("keepalives", "1"),
            ("keepalives_idle", "10"),
            ("keepalives_interval", "5"),
            ("keepalives_count", "3"),
        ]
        connectionString = configuration.connectionString
        answerTimeout = configuration.answerTimeout
    }

    /// How long a statement may wait for the server's answer (see `RegistryConfiguration`).
    var answerTimeout: Duration
}

/// One libpq connection. Not Sendable: it lives on one pool thread and is only handed to
/// closures running on that thread. Every call blocks that thread, never the cooperative pool.
public final class PostgresConnection {
    private let parameters: ConnectionParameters
    let logger: Logger
    private var handle: OpaquePointer?
    /// Set when the server turned out to be no primary any more (a failover demoted it): the
    /// next unit of work reconnects, and the multi-host connection string finds the new primary.
    private var serverDemoted = false
    /// Statements prepared in this server session, by their text: the server parses and plans
    /// a statement once per session instead of on every call (planning the commit's CTEs cost
    /// more than running them). Emptied whenever the session is new.
    private var prepared: [String: String] = [:]
    /// Beyond this many distinct texts a session prepares nothing more (the registry's own
    /// statements are a few dozen; this only guards against a caller building texts on the fly).
    static let preparedLimit = 256
    /// Names prepared statements uniquely within the session (a re-prepared text gets a new one).
    private var preparedSerial = 0

    init(parameters: ConnectionParameters, logger: Logger) {
        self.parameters = parameters
        self.logger = logger
    }

    deinit { close() }

    /// Closes the socket. Safe to call twice.
    func close() {
        prepared.removeAll()
        if let handle {
            PQfinish(handle)
            self.handle = nil
        }
    }

    // MARK: Statements

    /// Runs one parameterized statement and returns its rows.
    ///
    /// - Parameters:
    ///   - sql: one SQL statement with `$1`, `$2`, ... placeholders. Values never go into this
    ///     text; add casts (`$1::uuid`, `$2::bigint[]`) where the type is not evident.
    ///   - params: values in PostgreSQL text form; nil is NULL.
    ///   - planning: `.eachRun` for a statement whose best plan depends on how big its tables are now.
    /// - Throws: `RegistryError.statement` with SQLSTATE when the server rejects it,
    ///   `RegistryError.connection` when the connection broke (outcome unknown).
    public func query(_ sql: String, _ params: [String?] = [], planning: StatementPlanning = .prepared) throws -> PostgresRows {
        try query(sql, params, planning: planning, reprepared: false)
    }

    /// - Parameter reprepared: this is the run again after preparing `sql` afresh (see below).
    private func query(_ sql: String, _ params: [String?], planning: StatementPlanning, reprepared: Bool) throws -> PostgresRows {
        guard let handle, PQstatus(handle) == CONNECTION_OK else {
            throw RegistryError.connection("not connected (statement: \(Self.abbreviate(sql)))")
        }
        if sql.utf8.contains(0) {
            throw RegistryError.invalidArgument("statement text contains a NUL character")
        }
        for (index, param) in params.enumerated() where param?.utf8.contains(0) == true {
            throw RegistryError.invalidArgument("parameter $\(index + 1) contains a NUL character, which PostgreSQL text cannot hold")
        }
        guard params.count <= 65_535 else {
            throw RegistryError.invalidArgument("\(params.count) parameters; PostgreSQL allows at most 65535")
        }
        let name = planning == .prepared ? try preparedName(for: sql, handle) : nil
        let sent: Int32 = Self.withCStrings(params) { values in
            values.withUnsafeBufferPointer { buffer in
                if let name {
                    PQsendQueryPrepared(handle, name, Int32(params.count), buffer.baseAddress, nil, nil, 0)
                } else {
                    PQsendQueryParams(handle, sql, Int32(params.count), nil, buffer.baseAddress, nil, nil, 0)
                }
            }
        }
        guard sent == 1 else { throw failure(result: nil, sql: sql) }
        let result = try awaitResult(handle, sql: sql)
        defer { PQclear(result) }
        guard let result else { throw failure(result: nil, sql: sql) }
        switch PQresultStatus(result) {
        case PGRES_TUPLES_OK, PGRES_COMMAND_OK, PGRES_EMPTY_QUERY:
            return Self.rows(of: result)
        case PGRES_COPY_IN, PGRES_COPY_OUT, PGRES_COPY_BOTH:
            // The protocol now expects COPY data we will never send: a new session (its settings
            // applied again, nothing prepared yet), or a broken one that the next use resets.
            try? reconnect()
            throw RegistryError.statement(sqlState: nil, message: "COPY is not supported through this API", statement: Self.abbreviate(sql))
        default:
            let error = failure(result: result, sql: sql)
            // A table the prepared statement reads changed shape (a migration ran meanwhile):
            // prepare it afresh, and run it again, once, if no transaction was open to be spoiled.
            if name != nil, case .statement(sqlState: "0A000", let message, _) = error, message.contains("cached plan") {
                prepared[sql] = nil
                if !reprepared, PQtransactionStatus(handle) == PQTRANS_IDLE { return try query(sql, params, planning: planning, reprepared: true) }
            }
            throw error
        }
    }

    /// How a statement is planned.
    public enum StatementPlanning: Sendable {
        /// Prepared once per session. After a few runs the server may keep one generic plan,
        /// made for the tables as its statistics last described them.
        case prepared
        /// Planned on every run, for the values given and the tables' present size. For a
        /// lookup by a list of keys: its generic plan, made while a fresh registry's table was
        /// nearly empty, scans the whole table (9 ms a call at 50,000 jobs) until an ANALYZE
        /// invalidates it; planning each run costs tens of microseconds.
        case eachRun
    }

    /// The name under which `sql` is prepared in this session, preparing it the first time;
    /// nil when the session already holds `preparedLimit` statements (then it runs unprepared).
    private func preparedName(for sql: String, _ handle: OpaquePointer) throws -> String? {
        if let name = prepared[sql] { return name }
        guard prepared.count < Self.preparedLimit else { return nil }
        preparedSerial += 1
        let name = "kassa_\(preparedSerial)"
        // No parameter types given: the server infers them, as for an unprepared statement.
        guard PQsendPrepare(handle, name, sql, 0, nil) == 1 else { throw failure(result: nil, sql: sql) }
        let result = try awaitResult(handle, sql: sql)
        defer { PQclear(result) }
        guard let result, PQresultStatus(result) == PGRES_COMMAND_OK else { throw failure(result: result, sql: sql) }
        prepared[sql] = name
        return name
    }

    /// Runs one parameterized statement and returns the number of rows it affected.
    @discardableResult
    public func execute(_ sql: String, _ params: [String?] = []) throws -> Int {
        try query(sql, params).affectedRows
    }

    /// Waits for the answer to the statement just sent, at most `answerTimeout`, and returns its
    /// result (the first error if the server sent several results).
    ///
    /// Why not PQexecParams: it waits forever. A server cut off by a partition (or a proxy that
    /// swallows the traffic) answers nothing and TCP keepalives see nothing wrong, so one
    /// statement would hold this thread, and whoever awaits it, until the network heals. Past
    /// the limit the connection is dropped (its state is unknown) and the statement's outcome
    /// is reported unknown, exactly like a connection lost mid-statement.
    private func awaitResult(_ handle: OpaquePointer, sql: String) throws -> OpaquePointer? {
        let deadline = ContinuousClock.now + parameters.answerTimeout
        var kept: OpaquePointer?
        while true {
            while PQisBusy(handle) == 1 {
                // Past the deadline the duration is negative and has no microseconds: no wait.
                let milliseconds = Int32(clamping: (PostgresText.microseconds(deadline - ContinuousClock.now) ?? 0) / 1000)
                var descriptor = pollfd(fd: PQsocket(handle), events: Int16(POLLIN), revents: 0)
                let ready = milliseconds > 0 ? poll(&descriptor, 1, milliseconds) : 0
                if ready == 0 {
                    PQclear(kept)
                    close()
                    throw RegistryError.connection("no answer within \(parameters.answerTimeout); the connection is dropped and the statement's outcome is unknown — in: \(Self.abbreviate(sql))")
                }
                if ready < 0, errno == EINTR { continue }
                if ready < 0 || PQconsumeInput(handle) == 0 {
                    PQclear(kept)
                    throw failure(result: nil, sql: sql)
                }
            }
            guard let next = PQgetResult(handle) else { return kept }
            let status = PQresultStatus(next)
            // After COPY the server waits for data, not for us to read on: hand it back.
            if status == PGRES_COPY_IN || status == PGRES_COPY_OUT || status == PGRES_COPY_BOTH {
                PQclear(kept)
                return next
            }
            if kept == nil || (Self.succeeded(kept) && !Self.succeeded(next)) {
                PQclear(kept)
                kept = next
            } else {
                PQclear(next)
            }
        }
    }

    private static func succeeded(_ result: OpaquePointer?) -> Bool {
        guard let result else { return false }
        return [PGRES_TUPLES_OK, PGRES_COMMAND_OK, PGRES_EMPTY_QUERY].contains(PQresultStatus(result))
    }

    // MARK: Transactions

    /// Runs `body` between BEGIN and COMMIT; ROLLBACK when it throws.
    ///
    /// BEGIN is retried once after a reconnect if the connection turns out to be broken: nothing
    /// can have happened yet, so the retry is safe. Nothing else is retried.
    func inTransaction<T>(_ body: () throws -> T) throws -> T {
        do {
            try execute("BEGIN")
        } catch RegistryError.connection(let message) {
            logger.notice("registry: BEGIN failed on a broken connection, reconnecting once", metadata: ["error": "\(message)"])
            try reconnect()
            try execute("BEGIN")
        }
        let value: T
        do {
            value = try body()
        } catch {
            rollbackQuietly()
            throw error
        }
        let commit = try query("COMMIT")
        // COMMIT of a transaction that already failed (the body swallowed an error) is answered
        // with ROLLBACK, not an error: nothing was written, so say so.
        if commit.commandTag == "ROLLBACK" {
            throw RegistryError.statement(
                sqlState: "25P02",
                message: "transaction was aborted by an earlier error and has been rolled back",
                statement: "COMMIT")
        }
        return value
    }

    /// Ends a transaction a closure left open, so the next user starts clean.
    func abandonOpenTransaction() {
        guard let handle, PQstatus(handle) == CONNECTION_OK else { return }
        let status = PQtransactionStatus(handle)
        if status == PQTRANS_INTRANS || status == PQTRANS_INERROR {
            logger.warning("registry: a withConnection body left a transaction open; rolling it back")
            rollbackQuietly()
        }
    }

    private func rollbackQuietly() {
        do {
            try execute("ROLLBACK")
        } catch {
            // A broken connection is reset on next use; the server rolls back on disconnect.
            logger.debug("registry: ROLLBACK failed", metadata: ["error": "\(error)"])
        }
    }

    // MARK: Connection management

    /// Makes the connection usable before a unit of work: connects the first time, and resets a
    /// connection libpq knows is broken or that the server closed while it sat idle.
    func prepareForUse() throws {
        guard let handle else {
            try connect()
            return
        }
        if serverDemoted {
            serverDemoted = false
            logger.notice("registry: the server is read-only now (failed over), reconnecting to the primary")
            try reconnect()
            return
        }
        if PQstatus(handle) == CONNECTION_OK, !Self.closedWhileIdle(handle) { return }
        logger.notice("registry: connection is broken, reconnecting")
        try reconnect()
    }

    private func connect() throws {
        var keywords: [String] = []
        var values: [String] = []
        for (keyword, value) in parameters.defaults { keywords.append(keyword); values.append(value) }
        keywords.append("dbname"); values.append(parameters.connectionString)
        for (keyword, value) in parameters.overrides { keywords.append(keyword); values.append(value) }
        let newHandle: OpaquePointer? = Self.withCStrings(keywords) { keywordPointers in
            Self.withCStrings(values) { valuePointers in
                // Both arrays must end with NULL.
                let keywordList = keywordPointers + [nil]
                let valueList = valuePointers + [nil]
                return keywordList.withUnsafeBufferPointer { keywordBuffer in
                    valueList.withUnsafeBufferPointer { valueBuffer in
                        PQconnectdbParams(keywordBuffer.baseAddress, valueBuffer.baseAddress, 1)
                    }
                }
            }
        }
        guard let newHandle else { throw RegistryError.connection("libpq could not allocate a connection") }
        guard PQstatus(newHandle) == CONNECTION_OK else {
            let message = Self.errorMessage(newHandle)
            PQfinish(newHandle)
            throw RegistryError.connection("connect failed: \(message)")
        }
        handle = newHandle
        try configureSession(newHandle)
    }

    /// PQreset re-runs the original connection parameters: with a multi-host string and
    /// target_session_attrs=read-write it finds the current primary after a failover.
    func reconnect() throws {
        guard let handle else {
            try connect()
            return
        }
        PQreset(handle)
        guard PQstatus(handle) == CONNECTION_OK else {
            throw RegistryError.connection("reconnect failed: \(Self.errorMessage(handle))")
        }
        try configureSession(handle)
    }

    private func configureSession(_ handle: OpaquePointer) throws {
        prepared.removeAll()  // a new server session holds none of them
        let context = Unmanaged.passUnretained(self).toOpaque()
        PQsetNoticeProcessor(handle, { context, message in
            guard let context, let message else { return }
            let connection = Unmanaged<PostgresConnection>.fromOpaque(context).takeUnretainedValue()
            connection.logger.debug("registry: server notice", metadata: [
                "notice": "\(String(cString: message).trimmingCharacters(in: .whitespacesAndNewlines))"
            ])
        }, context)
        // Fixed session settings the text decoders rely on (see PostgresText). Re-applied after
        // every reset, since a reset is a new server session.
        try execute("SELECT set_config('TimeZone', 'UTC', false), set_config('DateStyle', 'ISO, YMD', false)")
        logger.debug("registry: connected", metadata: [
            "host": "\(PQhost(handle).map { String(cString: $0) } ?? "")",
            "port": "\(PQport(handle).map { String(cString: $0) } ?? "")",
            "backend_pid": "\(PQbackendPID(handle))",
        ])
    }

    /// Server process id of this session (for diagnostics and tests).
    public var backendPID: Int32 {
        guard let handle else { return 0 }
        return PQbackendPID(handle)
    }

    /// True when the server closed the socket (or sent a termination message) while we were not
    /// running anything. A server that shuts down or kills our backend does this, and catching
    /// it here lets us reconnect before the statement instead of failing it with an unknown
    /// outcome. A silently dead host is not caught here; TCP keepalives bound that case.
    private static func closedWhileIdle(_ handle: OpaquePointer) -> Bool {
        let socket = PQsocket(handle)
        guard socket >= 0 else { return true }
        var descriptor = pollfd(fd: socket, events: Int16(POLLIN), revents: 0)
        let ready = poll(&descriptor, 1, 0)
        // Nothing we use makes the server talk to an idle session (no LISTEN), so anything
        // readable now is a termination message or end-of-file. libpq would report the EOF only
        // on a later read, after our statement was sent, so decide here: a needless reconnect
        // is cheap, a statement with an unknown outcome is not.
        return ready != 0
    }

    // MARK: Helpers

    private func failure(result: OpaquePointer?, sql: String) -> RegistryError {
        let statement = Self.abbreviate(sql)
        if let handle, PQstatus(handle) != CONNECTION_OK {
            return .connection("connection lost while running a statement, its outcome is unknown: \(Self.errorMessage(handle)) — in: \(statement)")
        }
        guard let result else {
            let message = handle.map(Self.errorMessage) ?? "no connection"
            return .connection("no result from server: \(message) — in: \(statement)")
        }
        func field(_ code: Character) -> String? {
            guard let ascii = code.asciiValue, let value = PQresultErrorField(result, Int32(ascii)) else { return nil }
            return String(cString: value)
        }
        let sqlState = field("C")
        var message = field("M") ?? Self.trimmed(String(cString: PQresultErrorMessage(result)))
        if let detail = field("D") { message += " (\(detail))" }
        if let hint = field("H") { message += " [hint: \(hint)]" }
        if let sqlState, sqlState.hasPrefix("08") || sqlState == "57P01" || sqlState == "57P02" || sqlState == "57P03" {
            return .connection("\(message) [\(sqlState)] — in: \(statement)")
        }
        // read_only_sql_transaction: this node was demoted (or is a standby). Nothing was written.
        if sqlState == "25006" { serverDemoted = true }
        return .statement(sqlState: sqlState, message: message, statement: statement)
    }

    private static func rows(of result: OpaquePointer) -> PostgresRows {
        let columnCount = Int(PQnfields(result))
        let rowCount = Int(PQntuples(result))
        var columns: [String] = []
        columns.reserveCapacity(columnCount)
        for column in 0..<columnCount {
            columns.append(PQfname(result, Int32(column)).map { String(cString: $0) } ?? "?column?")
        }
        var rows: [[String?]] = []
        rows.reserveCapacity(rowCount)
        for row in 0..<rowCount {
            var values: [String?] = []
            values.reserveCapacity(columnCount)
            for column in 0..<columnCount {
                if PQgetisnull(result, Int32(row), Int32(column)) == 1 {
                    values.append(nil)
                } else {
                    values.append(PQgetvalue(result, Int32(row), Int32(column)).map { String(cString: $0) } ?? "")
                }
            }
            rows.append(values)
        }
        let commandTag = PQcmdStatus(result).map { String(cString: $0) } ?? ""
        let affected = PQcmdTuples(result).flatMap { Int(String(cString: $0)) } ?? 0
        return PostgresRows(columns: columns, rows: rows, commandTag: commandTag, affectedRows: affected)
    }

    /// Calls `body` with C string pointers (nil stays nil) that live for the call only.
    /// One contiguous buffer holds all strings, so there is nothing to free by hand.
    private static func withCStrings<R>(_ strings: [String?], _ body: ([UnsafePointer<CChar>?]) -> R) -> R {
        var storage: [CChar] = []
        var offsets: [Int?] = []
        offsets.reserveCapacity(strings.count)
        for string in strings {
            guard let string else { offsets.append(nil); continue }
            offsets.append(storage.count)
            storage.append(contentsOf: string.utf8CString)
        }
        return storage.withUnsafeBufferPointer { buffer in
            guard let base = buffer.baseAddress else {
                return body(Array(repeating: nil, count: strings.count))
            }
            return body(offsets.map { offset in offset.map { base + $0 } })
        }
    }

    private static func withCStrings<R>(_ strings: [String], _ body: ([UnsafePointer<CChar>?]) -> R) -> R {
        withCStrings(strings.map { Optional($0) }, body)
    }

    static func errorMessage(_ handle: OpaquePointer) -> String {
        guard let message = PQerrorMessage(handle) else { return "unknown libpq error" }
        let text = trimmed(String(cString: message))
        return text.isEmpty ? "unknown libpq error" : text
    }

    private static func trimmed(_ text: String) -> String {
        text.trimmingCharacters(in: .whitespacesAndNewlines)
    }

    /// SQL for error messages: whitespace collapsed, at most 300 characters.
    static func abbreviate(_ sql: String) -> String {
        let collapsed = sql.split(whereSeparator: { $0.isWhitespace }).joined(separator: " ")
        return collapsed.count <= 300 ? collapsed : String(collapsed.prefix(300)) + "…"
    }
}
