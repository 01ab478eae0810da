import Foundation

/// The rows of one statement's result, every value in PostgreSQL's text form (nil = NULL).
///
/// A collection of `PostgresRow`s: `for row in rows { try row.int64("id") }`,
/// `try rows.first?.string("name")`, `rows[0].bool("blocked")`.
public struct PostgresRows: Sendable, RandomAccessCollection {
    /// Column names in result order.
    public let columns: [String]
    /// Values, row-major, in text form; nil is SQL NULL.
    public let rows: [[String?]]
    /// The command tag, e.g. `INSERT 0 1` or `SELECT 3`.
    public let commandTag: String
    /// Rows affected for INSERT/UPDATE/DELETE/MERGE/COPY (and rows returned by SELECT), else 0.
    public let affectedRows: Int

    private let columnIndex: [String: Int]

    public init(columns: [String], rows: [[String?]], commandTag: String = "", affectedRows: Int = 0) {
        self.columns = columns
        self.rows = rows
        self.commandTag = commandTag
        self.affectedRows = affectedRows
        var index: [String: Int] = [:]
        // On duplicate names the first column wins, as with most drivers.
        for (position, name) in columns.enumerated() where index[name] == nil { index[name] = position }
        self.columnIndex = index
    }

    public var startIndex: Int { 0 }
    public var endIndex: Int { rows.count }

    public subscript(position: Int) -> PostgresRow {
        PostgresRow(columns: columns, values: rows[position], columnIndex: columnIndex)
    }
}

/// One result row with typed accessors by column name. Accessors for non-optional types throw
/// `RegistryError.decoding` on NULL; the `optional…` variants return nil for NULL instead.
public struct PostgresRow: Sendable {
    public let columns: [String]
    public let values: [String?]
    private let columnIndex: [String: Int]

    init(columns: [String], values: [String?], columnIndex: [String: Int]) {
        self.columns = columns
        self.values = values
        self.columnIndex = columnIndex
    }

    /// The raw text of a column; nil for NULL. Throws if there is no such column.
    public func raw(_ column: String) throws -> String? {
        guard let position = columnIndex[column] else {
            throw RegistryError.decoding("no column '\(column)' in result (columns: \(columns.joined(separator: ", ")))")
        }
        return values[position]
    }

    public func isNull(_ column: String) throws -> Bool { try raw(column) == nil }

    public func string(_ column: String) throws -> String { try required(column, optionalString(column)) }
    public func optionalString(_ column: String) throws -> String? { try raw(column) }

    public func int64(_ column: String) throws -> Int64 { try required(column, optionalInt64(column)) }
    public func optionalInt64(_ column: String) throws -> Int64? {
        try decode(column, as: "bigint") { Int64($0) }
    }

    public func int(_ column: String) throws -> Int { try required(column, optionalInt(column)) }
    public func optionalInt(_ column: String) throws -> Int? {
        try decode(column, as: "integer") { Int($0) }
    }

    public func double(_ column: String) throws -> Double { try required(column, optionalDouble(column)) }
    public func optionalDouble(_ column: String) throws -> Double? {
        try decode(column, as: "double precision") { Double($0) }
    }

    /// `t`/`f` as PostgreSQL prints booleans (also `true`/`false`).
    public func bool(_ column: String) throws -> Bool { try required(column, optionalBool(column)) }
    public func optionalBool(_ column: String) throws -> Bool? {
        try decode(column, as: "boolean") { text in
            switch text {
            case "t", "true": return true
            case "f", "false": return false
            default: return nil
            }
        }
    }

    /// A `timestamptz` (or `timestamp`, read as UTC, or `date`) column.
    public func date(_ column: String) throws -> Date { try required(column, optionalDate(column)) }
    public func optionalDate(_ column: String) throws -> Date? {
        try decode(column, as: "timestamptz") { PostgresText.date(from: $0) }
    }

    public func uuid(_ column: String) throws -> UUID { try required(column, optionalUUID(column)) }
    public func optionalUUID(_ column: String) throws -> UUID? {
        try decode(column, as: "uuid") { UUID(uuidString: $0) }
    }

    /// A one-dimensional array column whose elements may not be NULL (e.g. `text[]`).
    public func stringArray(_ column: String) throws -> [String] {
        let elements = try required(column, decode(column, as: "array") { PostgresText.arrayElements(from: $0) })
        return try elements.map { element in
            guard let element else { throw RegistryError.decoding("column '\(column)': array holds a NULL element") }
            return element
        }
    }

    private func decode<T>(_ column: String, as type: String, _ parse: (String) -> T?) throws -> T? {
        guard let text = try raw(column) else { return nil }
        guard let value = parse(text) else {
            throw RegistryError.decoding("column '\(column)': '\(text.prefix(80))' is not a valid \(type)")
        }
        return value
    }

    private func required<T>(_ column: String, _ value: T?) throws -> T {
        guard let value else { throw RegistryError.decoding("column '\(column)' is NULL") }
        return value
    }
}
