import Foundation
public import Hypercore

/// SQL on the core's store for one view: in ``ViewTransaction/sql(_:)`` inside the transaction that commits a
/// batch and the view's checkpoint (exactly-once, on the store's own thread, off the cooperative pool), in
/// ``KappaView/prepare(_:)`` when the view is attached, and read-only in ``ViewStore/read(_:)`` for queries.
///
/// SQL text is a `StaticString`, so values can only be bound (`?` parameters), never built into the text.
/// Write `{view}` where a table name starts: it becomes the view's own prefix (`{view}_heads` → a table only this
/// view uses), so two views of one type under different names keep separate tables, and a version bump drops
/// every table with the prefix (virtual tables such as R*Tree and FTS5 included). Statements are prepared once
/// per connection and cached.
public final class ViewSQL {
    let connection: SQLiteConnection
    /// The view's table prefix (`v` and 16 hex characters of the name's hash).
    public let prefix: String
    /// True in ``ViewStore/read(_:)``: writes throw.
    public let isReadOnly: Bool
    private var texts: [UnsafeRawPointer: String] = [:]
    /// Prepared statements by their text's address (the connection caches them too; this skips hashing the text).
    private var statements: [UnsafeRawPointer: OpaquePointer] = [:]
    /// Problems the view reported (``report(_:)``), delivered on `Kappa.errors` after the commit.
    private(set) var reports: [KappaError] = []
    /// The view's name.
    public let view: String

    init(_ connection: SQLiteConnection, view: String, readOnly: Bool = false) {
        self.connection = connection
        self.view = view
        self.prefix = Self.prefix(for: view)
        self.isReadOnly = readOnly
    }

    /// The table prefix of the view named `view`.
    static func prefix(for view: String) -> String {
        "v" + Hex.encode(Hashing.blake2b256(Array(view.utf8)).bytes.prefix(8))
    }

    private func text(_ sql: StaticString) -> String {
        let key = UnsafeRawPointer(sql.utf8Start)
        if let cached = texts[key] { return cached }
        let text = sql.description.replacingOccurrences(of: "{view}", with: prefix)
        texts[key] = text
        return text
    }

    private func checkWritable(_ sql: StaticString) throws {
        guard !isReadOnly else {
            throw KappaError(.store, "view \(view): \(sql) writes, but this is a read-only query")
        }
    }

    /// Runs statements without parameters (`CREATE TABLE IF NOT EXISTS {view}_… ; CREATE INDEX …`).
    public func execute(_ sql: StaticString) throws {
        try checkWritable(sql)
        try connection.execute(text(sql))
    }

    /// Runs one statement with `values` bound to its `?` parameters, in order.
    public func run(_ sql: StaticString, _ values: SQLValue...) throws {
        try run(sql, values)
    }

    /// Runs one statement with `values` bound to its `?` parameters, in order.
    public func run(_ sql: StaticString, _ values: [SQLValue]) throws {
        if isReadOnly, !sql.description.uppercased().hasPrefix("SELECT") { try checkWritable(sql) }
        try connection.query(statement(sql), text(sql), values) { _ in }
    }

    private func statement(_ sql: StaticString) throws -> OpaquePointer {
        let key = UnsafeRawPointer(sql.utf8Start)
        if let cached = statements[key] { return cached }
        let statement = try connection.prepared(text(sql))
        statements[key] = statement
        return statement
    }

    /// Rows changed by the last INSERT, UPDATE or DELETE (0 for an `INSERT OR IGNORE` that ignored its row).
    public var changes: Int { connection.changes() }

    /// The rowid of the row the last successful INSERT into a rowid table added (not changed by an ignored insert
    /// or by inserts into `WITHOUT ROWID` tables).
    public var lastInsertRowID: Int64 { connection.lastInsertRowID() }

    /// Runs a query and calls `row` for each result row.
    public func query(_ sql: StaticString, _ values: SQLValue..., row: (ViewSQLRow) throws -> Void) throws {
        try query(sql, values, row: row)
    }

    /// Runs a query and calls `row` for each result row.
    public func query(_ sql: StaticString, _ values: [SQLValue], row: (ViewSQLRow) throws -> Void) throws {
        try connection.query(statement(sql), text(sql), values) { try row(ViewSQLRow(row: $0)) }
    }

    /// Reports an entry the view cannot index (it is skipped): delivered on `Kappa.errors` as
    /// ``KappaError/Code/invalidEntry`` once the batch has committed.
    public func report(_ entry: (feed: PublicKey, seq: UInt64), _ reason: String) {
        reports.append(KappaError(.invalidEntry, "view \(view): feed \(entry.feed) entry \(entry.seq): \(reason); skipped"))
    }

    /// Drops every table of the view named `view` (on a version bump): virtual tables first (their shadow
    /// tables go with them), then the rest.
    static func dropTables(_ c: SQLiteConnection, view: String) throws {
        let pattern = prefix(for: view) + "\\_%"
        for pass in 0..<2 {
            var tables: [String] = []
            try c.query("SELECT name, sql FROM sqlite_master WHERE type = 'table' AND name LIKE ? ESCAPE '\\'",
                        [.text(pattern)]) { row in
                let isVirtual = row.text(1).uppercased().hasPrefix("CREATE VIRTUAL TABLE")
                if pass == 1 || isVirtual { tables.append(row.text(0)) }
            }
            for table in tables { try c.execute("DROP TABLE IF EXISTS \"\(table)\"") }
        }
    }
}

/// One result row of a ``ViewSQL`` query, valid only inside the `row` callback.
public struct ViewSQLRow {
    let row: SQLRow

    /// The number of columns.
    public var count: Int { row.count }
    /// Column `index` as whatever SQLite holds.
    public subscript(_ index: Int) -> SQLValue { row[index] }
    /// Column `index` as an integer (0 for NULL).
    public func integer(_ index: Int) -> Int64 { row.integer(index) }
    /// Column `index` as a double.
    public func real(_ index: Int) -> Double { row.real(index) }
    /// Column `index` as text ("" for NULL).
    public func text(_ index: Int) -> String { row.text(index) }
    /// Column `index` as bytes.
    public func blob(_ index: Int) -> [UInt8] { row.blob(index) }
    /// True when column `index` is NULL.
    public func isNull(_ index: Int) -> Bool { row.isNull(index) }
}
