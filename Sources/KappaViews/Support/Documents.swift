import Foundation
public import Hypercore
import KappaCore

/// An indexed entry as the views return it: its id, where it is, and its value.
public struct IndexedEntry<Value: Sendable>: Sendable {
    /// The entry's id (by default `"<feed key hex>@<seq>"`).
    public var id: String
    /// The feed holding the entry.
    public var feed: PublicKey
    /// Its sequence number there.
    public var seq: UInt64
    /// Its value.
    public var value: Value
}

/// The default id of an entry: `"<feed key hex>@<seq>"`.
public func defaultEntryID(feed: PublicKey, seq: UInt64) -> String {
    "\(feed.hex)@\(seq)"
}

/// Why an entry is skipped (reported on `Kappa.errors`).
struct InvalidRecord: Error, Sendable {
    var reason: String
}

/// What the views share: each indexed entry as a row of `{view}_docs` (id, feed, seq, JSON value) and the ids
/// some entry links to in `{view}_linked`. A view's own tables say what the entry means (heads, references, a
/// box, text).
enum Documents {
    static func create(_ sql: ViewSQL) throws {
        try sql.execute("""
            CREATE TABLE IF NOT EXISTS {view}_docs(
                id TEXT PRIMARY KEY, feed BLOB NOT NULL, seq INTEGER NOT NULL, value BLOB NOT NULL, raw INTEGER NOT NULL);
            CREATE TABLE IF NOT EXISTS {view}_linked(id TEXT PRIMARY KEY) WITHOUT ROWID;
            """)
    }

    /// Checks a record's id and links; the id (default when `nil`).
    static func check(id: String?, links: [String], feed: PublicKey, seq: UInt64) throws -> String {
        let id = id ?? defaultEntryID(feed: feed, seq: seq)
        guard !id.isEmpty else { throw InvalidRecord(reason: "its id is empty") }
        guard !links.contains(where: \.isEmpty) else { throw InvalidRecord(reason: "it links to an empty id") }
        return id
    }

    /// Stores the document; its rowid, or nil (and reported) when its id is taken.
    static func insert(_ sql: ViewSQL, id: String, feed: PublicKey, seq: UInt64, value: StoredValue) throws -> Int64? {
        try sql.run("INSERT OR IGNORE INTO {view}_docs(id, feed, seq, value, raw) VALUES (?, ?, ?, ?, ?)",
                    .text(id), .blob(feed.bytes), .integer(Int64(seq)), .blob(value.bytes), .integer(value.raw ? 1 : 0))
        guard sql.changes > 0 else {
            sql.report((feed, seq), "its id \(id) is already used by another entry")
            return nil
        }
        return sql.lastInsertRowID
    }

    /// Records that `links` are superseded; returns those not recorded before.
    static func link(_ sql: ViewSQL, _ links: [String]) throws -> [String] {
        var fresh: [String] = []
        for link in links.count == 1 ? links : Array(Set(links)) {
            try sql.run("INSERT OR IGNORE INTO {view}_linked(id) VALUES (?)", .text(link))
            if sql.changes > 0 { fresh.append(link) }
        }
        return fresh
    }

    /// Indexes prepared records inside the commit, in order. A valid record is checked (`validate`, then its id and
    /// links), its document stored in `{view}_docs` unless `storesDocument` is false (a taken id is reported), and
    /// `body` indexes what it means to the view (`rowid` is the document's row in `{view}_docs`, 0 when the view
    /// stores its documents itself). A record that is invalid anywhere before `body` is reported and
    /// skipped.
    static func index<Record>(
        _ records: [PreparedRecord<Record>], _ sql: ViewSQL, id: (Record) -> String?, links: (Record) -> [String],
        storesDocument: Bool = true, validate: (Record) throws -> Void = { _ in },
        _ body: (_ record: Record, _ id: String, _ feed: PublicKey, _ seq: UInt64, _ value: StoredValue, _ rowid: Int64) throws
            -> Void
    ) throws {
        for (feed, seq, outcome) in records {
            do {
                let (record, value) = try outcome.get()
                try validate(record)
                let id = try check(id: id(record), links: links(record), feed: feed, seq: seq)
                var rowid: Int64 = 0
                if storesDocument {
                    guard let stored = try insert(sql, id: id, feed: feed, seq: seq, value: value) else { continue }
                    rowid = stored
                }
                try body(record, id, feed, seq, value, rowid)
            } catch let invalid as InvalidRecord {
                sql.report((feed, seq), invalid.reason)
            }
        }
    }

    static func isLinked(_ sql: ViewSQL, _ id: String) throws -> Bool {
        var linked = false
        try sql.query("SELECT 1 FROM {view}_linked WHERE id = ?", .text(id)) { _ in linked = true }
        return linked
    }

    /// The stored documents with these ids, decoded, in the order given (missing ones left out).
    static func load<Value: Decodable & Sendable>(_ sql: ViewSQL, _ store: ViewStore, ids: [String], as type: Value.Type) throws
        -> [IndexedEntry<Value>]
    {
        var out: [IndexedEntry<Value>] = []
        out.reserveCapacity(ids.count)
        for id in ids {
            try sql.query("SELECT feed, seq, value, raw FROM {view}_docs WHERE id = ?", .text(id)) { row in
                do {
                    let value = try StoredValue(bytes: row.blob(2), raw: row.integer(3) != 0).decode(Value.self, store)
                    out.append(IndexedEntry(id: id, feed: try PublicKey(row.blob(0)), seq: UInt64(row.integer(1)), value: value))
                } catch {
                    throw KappaError(.encoding, "view \(sql.prefix): entry \(id) does not decode as \(Value.self)", cause: error)
                }
            }
        }
        return out
    }
}

/// How a view keeps an entry's value: the block as the feed holds it (decoded with the database's encoding), or
/// JSON for an entry that came without its block.
struct StoredValue: Sendable {
    var bytes: [UInt8]
    var raw: Bool

    /// The entry's block, or its value as JSON when it has none.
    init<Value: Encodable>(_ entry: KappaEntry<Value>, encoder: JSONEncoder) throws {
        if entry.block.isEmpty {
            bytes = [UInt8](try encoder.encode(entry.value))
            raw = false
        } else {
            bytes = entry.block
            raw = true
        }
    }

    init(bytes: [UInt8], raw: Bool) {
        self.bytes = bytes
        self.raw = raw
    }

    func decode<Value: Decodable>(_ type: Value.Type, _ store: ViewStore) throws -> Value {
        raw ? try store.decodeBlock(bytes, as: Value.self) : try JSONDecoder().decode(Value.self, from: Data(bytes))
    }
}

/// An entry's record and stored value, or why it is skipped.
typealias PreparedRecord<Record> = (feed: PublicKey, seq: UInt64, outcome: Result<(record: Record, value: StoredValue), InvalidRecord>)

/// Runs the record function of each entry and takes its stored value, outside the commit; invalid ones carry why.
func prepareRecords<Value: Encodable & Sendable, Record: Sendable>(
    _ entries: [KappaEntry<Value>], _ record: (KappaEntry<Value>) throws -> Record?
) -> [PreparedRecord<Record>] {
    let encoder = JSONEncoder()
    return entries.compactMap { entry in
        do {
            guard let made = try record(entry) else { return nil }
            return (entry.feed, entry.seq, .success((made, try StoredValue(entry, encoder: encoder))))
        } catch let invalid as InvalidRecord {
            return (entry.feed, entry.seq, .failure(invalid))
        } catch {
            return (entry.feed, entry.seq, .failure(InvalidRecord(reason: "its record: \(error)")))
        }
    }
}
