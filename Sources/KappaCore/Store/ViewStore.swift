import Foundation
import KappaJSON
import Synchronization

/// A view's data in the core's store: a key/value namespace in SQLite, for queries outside ``KappaView/map(_:_:)``.
///
/// Create one in your view (`let store = ViewStore()`); the core attaches it when the view is registered.
/// Values are JSON-encoded `Codable` values or raw bytes. Reads see committed batches only; on a file database
/// they run on read-only connections (SQLite's WAL), concurrently with indexing and with each other.
public final class ViewStore: Sendable {
    private let binding = Mutex<(database: SQLiteDatabase, view: String)?>(nil)
    /// The database's decoder, boxed: a closure kept directly in a `Mutex` is re-wrapped in conversion thunks on
    /// every access (the generic `inout` reabstracts it on the way in and on the way back), so each read made the
    /// next one slower.
    private final class Decoder: Sendable {
        let decode: @Sendable ([UInt8]) throws -> any Sendable
        init(_ decode: @escaping @Sendable ([UInt8]) throws -> any Sendable) { self.decode = decode }
    }
    private let decoder = Mutex<Decoder?>(nil)

    /// An unattached store.
    public init() {}

    func attach(_ database: SQLiteDatabase, view: String, decode: @escaping @Sendable ([UInt8]) throws -> any Sendable) throws {
        try binding.withLock { b in
            if let b, b.view != view {
                throw KappaError(.duplicateView, "this ViewStore already belongs to view \(b.view)")
            }
            b = (database, view)
        }
        let boxed = Decoder(decode)
        decoder.withLock { $0 = boxed }
    }

    /// Decodes a block (``KappaEntry/block``) with the database's value encoding.
    /// - Throws: ``KappaError/Code/viewNotAttached`` before the view is attached, `.encoding` when the block
    ///   does not decode as `type`.
    package func decodeBlock<Value>(_ block: [UInt8], as type: Value.Type) throws -> Value {
        guard let decode = decoder.withLock({ $0 })?.decode else {
            throw KappaError(.viewNotAttached, "the view store is not attached; register the view with Kappa.use")
        }
        let value: any Sendable
        do {
            value = try decode(block)
        } catch {
            throw KappaError(.encoding, "a stored entry does not decode", cause: error)
        }
        guard let typed = value as? Value else {
            throw KappaError(.encoding, "a stored entry decodes as \(Swift.type(of: value)), not \(Value.self)")
        }
        return typed
    }

    private func bound() throws -> (database: SQLiteDatabase, view: String) {
        guard let b = binding.withLock({ $0 }) else {
            throw KappaError(.viewNotAttached, "the view store is not attached; register the view with Kappa.use")
        }
        return b
    }

    /// The raw bytes stored under `key`, or `nil`.
    public func bytes(_ key: String) throws -> [UInt8]? {
        let (database, view) = try bound()
        return try database.withReader { try ViewData.get($0, view: view, key: key) }
    }

    /// The value stored under `key`, decoded from JSON, or `nil`.
    public func get<T: Decodable>(_ key: String, as type: T.Type = T.self) throws -> T? {
        try bytes(key).map { try ViewData.decode(T.self, $0) }
    }

    /// Runs read-only SQL on the view's tables (see ``ViewSQL``): on a file database concurrently with indexing
    /// and with other queries (SQLite's WAL readers), seeing the last committed batch.
    public func read<R: Sendable>(_ body: (ViewSQL) throws -> R) throws -> R {
        let (database, view) = try bound()
        return try database.withReader { try body(ViewSQL($0, view: view, readOnly: true)) }
    }

    /// All keys starting with `prefix`, in byte order, with their raw values.
    public func scan(prefix: String = "") throws -> [(key: String, value: [UInt8])] {
        let (database, view) = try bound()
        return try database.withReader { try ViewData.scan($0, view: view, prefix: prefix) }
    }
}

/// The writes of one batch, applied together with the view's checkpoint when ``KappaView/map(_:_:)`` returns.
///
/// Reads see the committed data plus this batch's own writes. Valid only during the `map` call it was passed to.
public final class ViewTransaction {
    let view: String
    private let database: SQLiteDatabase
    /// Pending writes; `nil` marks a deletion.
    private(set) var writes: [String: [UInt8]?] = [:]
    /// SQL to run inside the commit, in order.
    private(set) var sqlWork: [@Sendable (ViewSQL) throws -> Void] = []

    init(view: String, database: SQLiteDatabase) {
        self.view = view
        self.database = database
    }

    /// The raw bytes under `key`, including this batch's writes. Committed data is read on a read-only
    /// connection (file databases), so a view reading while another view commits does not wait for that commit.
    public func bytes(_ key: String) throws -> [UInt8]? {
        if let pending = writes[key] { return pending }
        return try database.withReader { try ViewData.get($0, view: view, key: key) }
    }

    /// The value under `key`, decoded from JSON, including this batch's writes.
    public func get<T: Decodable>(_ key: String, as type: T.Type = T.self) throws -> T? {
        try bytes(key).map { try ViewData.decode(T.self, $0) }
    }

    /// Stores raw bytes under `key`.
    public func putBytes(_ key: String, _ value: [UInt8]) {
        writes[key] = .some(value)
    }

    /// Stores `value`, JSON-encoded, under `key`.
    public func put<T: Encodable>(_ key: String, _ value: T) throws {
        do {
            writes[key] = .some([UInt8](try JSONEncoder().encode(value)))
        } catch {
            throw KappaError(.encoding, "cannot encode the value for \(key)", cause: error)
        }
    }

    /// Deletes `key`.
    public func delete(_ key: String) {
        writes[key] = .some(nil)
    }

    /// Runs `body` inside the transaction that commits this batch and the view's checkpoint, after the batch's
    /// key/value writes: exactly once, on the store's own thread (not the cooperative pool). Its reads see its own
    /// writes. Throwing fails the batch (nothing of it commits; the view stops until `Kappa.resume`); report an
    /// entry that cannot be indexed with ``ViewSQL/report(_:_:)`` instead.
    public func sql(_ body: @escaping @Sendable (ViewSQL) throws -> Void) {
        sqlWork.append(body)
    }
}

/// SQL for the view data table.
enum ViewData {
    static func get(_ c: SQLiteConnection, view: String, key: String) throws -> [UInt8]? {
        var out: [UInt8]?
        try c.query("SELECT value FROM view_data WHERE view = ? AND key = ?", [.text(view), .text(key)]) { out = $0.blob(0) }
        return out
    }

    static func scan(_ c: SQLiteConnection, view: String, prefix: String) throws -> [(key: String, value: [UInt8])] {
        var out = [(key: String, value: [UInt8])]()
        try c.query("SELECT key, value FROM view_data WHERE view = ? AND substr(key, 1, ?) = ? ORDER BY key",
                    [.text(view), .integer(Int64(prefix.utf8.count)), .text(prefix)]) { row in
            out.append((row.text(0), row.blob(1)))
        }
        return out
    }

    static func apply(_ c: SQLiteConnection, view: String, writes: [String: [UInt8]?]) throws {
        for (key, value) in writes {
            if let value {
                try c.run("INSERT INTO view_data(view, key, value) VALUES (?, ?, ?) ON CONFLICT(view, key) DO UPDATE SET value = excluded.value",
                          [.text(view), .text(key), .blob(value)])
            } else {
                try c.run("DELETE FROM view_data WHERE view = ? AND key = ?", [.text(view), .text(key)])
            }
        }
    }

    static func decode<T: Decodable>(_ type: T.Type, _ bytes: [UInt8]) throws -> T {
        if let value = FastJSON.decode(T.self, from: bytes) { return value }
        do {
            return try JSONDecoder().decode(T.self, from: Data(bytes))
        } catch {
            throw KappaError(.encoding, "stored value does not decode as \(T.self)", cause: error)
        }
    }
}
