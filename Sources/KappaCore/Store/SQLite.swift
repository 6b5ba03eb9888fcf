import Dispatch
internal import CSQLite
import Synchronization

/// A value bound to or read from an SQL statement (SQLite's storage classes).
public enum SQLValue: Sendable, Hashable {
    /// A 64-bit integer.
    case integer(Int64)
    /// A double.
    case real(Double)
    /// Bytes.
    case blob([UInt8])
    /// UTF-8 text.
    case text(String)
    /// NULL.
    case null
}

/// One SQLite connection. Not thread-safe by itself: ``SQLiteDatabase`` serialises access.
///
/// `@unchecked Sendable` because a connection moves between threads but is never used by two at once: the
/// writer connection only inside ``SQLiteDatabase``'s mutex, and a reader connection by the one caller that took
/// it from the idle pool until it gives it back (SQLite connections opened `NOMUTEX` may change threads between
/// uses).
final class SQLiteConnection: @unchecked Sendable {
    private let db: OpaquePointer
    private var statements: [String: OpaquePointer] = [:]

    /// Process-wide SQLite settings, applied once before the first connection: memory statistics off (they take a
    /// global mutex on every allocation; the store never reads them).
    private static let configured: Void = { _ = kappa_sqlite_disable_memstatus() }()

    init(path: String, readOnly: Bool = false) throws {
        Self.configured
        var handle: OpaquePointer?
        let flags = (readOnly ? SQLITE_OPEN_READONLY : SQLITE_OPEN_READWRITE | SQLITE_OPEN_CREATE) | SQLITE_OPEN_NOMUTEX
        let rc = sqlite3_open_v2(path, &handle, flags, nil)
        guard rc == SQLITE_OK, let handle else {
            let message = handle.map { String(cString: sqlite3_errmsg($0)) } ?? "out of memory"
            if let handle { sqlite3_close(handle) }
            throw KappaError(.store, "open \(path): \(message) (\(rc))")
        }
        db = handle
        sqlite3_busy_timeout(db, 5000)
    }

    deinit {
        for statement in statements.values { sqlite3_finalize(statement) }
        sqlite3_close(db)
    }

    private func error(_ what: String, _ rc: Int32) -> KappaError {
        KappaError(.store, "\(what): \(String(cString: sqlite3_errmsg(db))) (\(rc))")
    }

    /// Runs one or more statements without parameters.
    func execute(_ sql: String) throws {
        let rc = sqlite3_exec(db, sql, nil, nil, nil)
        guard rc == SQLITE_OK else { throw error(sql, rc) }
    }

    /// The prepared statement of `sql`, prepared once and cached for the connection's life.
    func prepared(_ sql: String) throws -> OpaquePointer {
        if let statement = statements[sql] { return statement }
        var statement: OpaquePointer?
        let rc = sqlite3_prepare_v3(db, sql, -1, UInt32(SQLITE_PREPARE_PERSISTENT), &statement, nil)
        guard rc == SQLITE_OK, let statement else { throw error(sql, rc) }
        statements[sql] = statement
        return statement
    }

    private func bind(_ statement: OpaquePointer, _ arguments: [SQLValue]) throws {
        // Every call binds all parameters; only a call that binds fewer must clear what an earlier one left.
        if arguments.count != Int(sqlite3_bind_parameter_count(statement)) { sqlite3_clear_bindings(statement) }
        for (i, argument) in arguments.enumerated() {
            let index = Int32(i + 1)
            let rc: Int32
            switch argument {
            case .integer(let v): rc = sqlite3_bind_int64(statement, index, v)
            case .real(let v): rc = sqlite3_bind_double(statement, index, v)
            case .text(var v):
                rc = v.withUTF8 { b in
                    // An empty buffer may have no address, which SQLite would bind as NULL: bind "" then.
                    guard let base = b.baseAddress, b.count > 0 else {
                        return sqlite3_bind_text(statement, index, "", 0, kappa_sqlite_transient())
                    }
                    return UnsafeRawPointer(base).withMemoryRebound(to: CChar.self, capacity: b.count) { p in
                        sqlite3_bind_text(statement, index, p, Int32(b.count), kappa_sqlite_transient())
                    }
                }
            case .null: rc = sqlite3_bind_null(statement, index)
            case .blob(let v):
                rc = v.withUnsafeBytes { b in
                    sqlite3_bind_blob(statement, index, b.baseAddress ?? UnsafeRawPointer(bitPattern: 1), Int32(b.count),
                                      kappa_sqlite_transient())
                }
            }
            guard rc == SQLITE_OK else { throw error("bind", rc) }
        }
    }

    func changes() -> Int { Int(sqlite3_changes(db)) }

    /// The rowid of the last row inserted into a rowid table on this connection.
    func lastInsertRowID() -> Int64 { sqlite3_last_insert_rowid(db) }

    /// Runs a statement that returns no rows.
    func run(_ sql: String, _ arguments: [SQLValue] = []) throws {
        try query(sql, arguments) { _ in }
    }

    /// Runs a statement and calls `row` for each result row.
    func query(_ sql: String, _ arguments: [SQLValue] = [], row: (SQLRow) throws -> Void) throws {
        try query(prepared(sql), sql, arguments, row: row)
    }

    /// Runs a statement from ``prepared(_:)`` (`sql` is its text, for errors).
    func query(_ statement: OpaquePointer, _ sql: @autoclosure () -> String, _ arguments: [SQLValue],
               row: (SQLRow) throws -> Void) throws {
        defer { sqlite3_reset(statement) }
        try bind(statement, arguments)
        while true {
            let rc = sqlite3_step(statement)
            if rc == SQLITE_DONE { return }
            guard rc == SQLITE_ROW else { throw error(sql(), rc) }
            try row(SQLRow(statement: statement))
        }
    }

    func transaction<R>(_ body: () throws -> R) throws -> R {
        try execute("BEGIN IMMEDIATE")
        do {
            let result = try body()
            try execute("COMMIT")
            return result
        } catch {
            try? execute("ROLLBACK")
            throw error
        }
    }
}

/// A result row, valid only inside the `row` callback.
struct SQLRow {
    fileprivate let statement: OpaquePointer

    var count: Int { Int(sqlite3_column_count(statement)) }

    subscript(_ index: Int) -> SQLValue {
        let i = Int32(index)
        switch sqlite3_column_type(statement, i) {
        case SQLITE_INTEGER: return .integer(sqlite3_column_int64(statement, i))
        case SQLITE_FLOAT: return .real(sqlite3_column_double(statement, i))
        case SQLITE_NULL: return .null
        case SQLITE_TEXT: return .text(String(cString: sqlite3_column_text(statement, i)))
        default:
            let n = Int(sqlite3_column_bytes(statement, i))
            guard n > 0, let p = sqlite3_column_blob(statement, i) else { return .blob([]) }
            return .blob(Array(UnsafeRawBufferPointer(start: p, count: n)))
        }
    }

    func integer(_ index: Int) -> Int64 { sqlite3_column_int64(statement, Int32(index)) }

    func real(_ index: Int) -> Double { sqlite3_column_double(statement, Int32(index)) }

    func isNull(_ index: Int) -> Bool { sqlite3_column_type(statement, Int32(index)) == SQLITE_NULL }

    func blob(_ index: Int) -> [UInt8] {
        if case .blob(let b) = self[index] { return b }
        if case .text(let t) = self[index] { return Array(t.utf8) }
        return []
    }

    func text(_ index: Int) -> String {
        if case .text(let t) = self[index] { return t }
        return ""
    }
}

/// The view store's database: one connection behind a lock (no SQLite call spans an `await`).
///
/// Short lookups run on the caller's thread (``withConnection(_:)``). Commits run on the database's own serial
/// queue (``write(_:)``): a commit can wait for disk (a WAL checkpoint syncs), and the cooperative thread pool
/// (two threads on a small server) must not be held by that wait.
final class SQLiteDatabase: Sendable {
    private let connection: Mutex<SQLiteConnection?>
    private let queue = DispatchQueue(label: "kappa.sqlite")
    private let path: String?
    /// Idle read-only connections (file databases only): queries run on them, beside the writer (WAL).
    private let readers = Mutex<(idle: [SQLiteConnection], closed: Bool)>(([], false))
    /// Idle readers kept; more are opened while queries overlap and closed after.
    private static let maxIdleReaders = 2

    /// Opens `path` in WAL mode, or an in-memory database for `nil`.
    init(path: String?) throws {
        let connection = try SQLiteConnection(path: path ?? ":memory:")
        if path != nil {
            try connection.execute("PRAGMA journal_mode=WAL; PRAGMA synchronous=NORMAL;")
        }
        self.connection = Mutex(connection)
        self.path = path
    }

    /// Runs `body` on a read-only connection, concurrently with the writer and other readers (a file database
    /// in WAL mode sees the last committed state); an in-memory database has one connection, so this waits for it.
    func withReader<R: Sendable>(_ body: (SQLiteConnection) throws -> R) throws -> R {
        guard let path else { return try withConnection(body) }
        let taken = try readers.withLock { r -> SQLiteConnection? in
            guard !r.closed else { throw KappaError(.closed, "the view store is closed") }
            return r.idle.popLast()
        }
        if let taken { return try use(taken, body) }
        // A new reader needs descriptors (the database, its WAL and shared memory): where the process is short of
        // them it cannot open, or fails on first use; the query then runs on the writer's connection instead.
        guard let fresh = try? SQLiteConnection(path: path, readOnly: true) else { return try withConnection(body) }
        let result: R
        do {
            result = try body(fresh)
        } catch {
            return try withConnection(body)  // read-only work: running it again is safe
        }
        giveBack(fresh)
        return result
    }

    private func use<R>(_ reader: SQLiteConnection, _ body: (SQLiteConnection) throws -> R) throws -> R {
        defer { giveBack(reader) }
        return try body(reader)
    }

    private func giveBack(_ reader: SQLiteConnection) {
        readers.withLock { r in
            if !r.closed, r.idle.count < Self.maxIdleReaders { r.idle.append(reader) }
        }
    }

    /// Runs `body` with exclusive use of the connection.
    func withConnection<R: Sendable>(_ body: (SQLiteConnection) throws -> R) throws -> R {
        try connection.withLock { (connection: inout SQLiteConnection?) throws -> R in
            guard let connection else { throw KappaError(.closed, "the view store is closed") }
            return try body(connection)
        }
    }

    /// Runs `body` with exclusive use of the connection on the database's queue, off the cooperative pool. An
    /// in-memory database never waits for a disk, so its commits run inline (a queue hop per batch cost more
    /// than the commit).
    func write<R: Sendable>(_ body: @escaping @Sendable (SQLiteConnection) throws -> R) async throws -> R {
        if path == nil { return try withConnection(body) }
        return try await withCheckedThrowingContinuation { (continuation: CheckedContinuation<R, any Error>) in
            queue.async {
                continuation.resume(with: Result { try self.withConnection(body) })
            }
        }
    }

    /// Closes the connection; later use throws ``KappaError/Code/closed``.
    func close() {
        connection.withLock { $0 = nil }
        readers.withLock { r in
            r.idle.removeAll()
            r.closed = true
        }
    }
}
