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
                id TEXT PRIMARY KEY, feed BLOB NOT NULL, seq INTEGER NOT NULL, value BLOB NOT NULL);
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

    /// Stores the document; false (and reported) when its id is taken.
    static func insert(_ sql: ViewSQL, id: String, feed: PublicKey, seq: UInt64, value: [UInt8]) throws -> Bool {
        var taken = false
        try sql.query("SELECT 1 FROM {view}_docs WHERE id = ?", .text(id)) { _ in taken = true }
        if taken {
            sql.report((feed, seq), "its id \(id) is already used by another entry")
            return false
        }
        try sql.run("INSERT INTO {view}_docs(id, feed, seq, value) VALUES (?, ?, ?, ?)",
                    .text(id), .blob(feed.bytes), .integer(Int64(seq)), .blob(value))
        return true
    }

    /// Records that `links` are superseded; returns those not recorded before.
    static func link(_ sql: ViewSQL, _ links: [String]) throws -> [String] {
        var fresh: [String] = []
        for link in Set(links) {
            var known = false
            try sql.query("SELECT 1 FROM {view}_linked WHERE id = ?", .text(link)) { _ in known = true }
            guard !known else { continue }
            try sql.run("INSERT INTO {view}_linked(id) VALUES (?)", .text(link))
            fresh.append(link)
        }
        return fresh
    }

    static func isLinked(_ sql: ViewSQL, _ id: String) throws -> Bool {
        var linked = false
        try sql.query("SELECT 1 FROM {view}_linked WHERE id = ?", .text(id)) { _ in linked = true }
        return linked
    }

    /// The stored documents with these ids, decoded, in the order given (missing ones left out).
    static func load<Value: Decodable & Sendable>(_ sql: ViewSQL, ids: [String], as type: Value.Type) throws
        -> [IndexedEntry<Value>]
    {
        let decoder = JSONDecoder()
        var out: [IndexedEntry<Value>] = []
        out.reserveCapacity(ids.count)
        for id in ids {
            try sql.query("SELECT feed, seq, value FROM {view}_docs WHERE id = ?", .text(id)) { row in
                do {
                    out.append(IndexedEntry(id: id, feed: try PublicKey(row.blob(0)), seq: UInt64(row.integer(1)),
                                            value: try decoder.decode(Value.self, from: Data(row.blob(2)))))
                } catch {
                    throw KappaError(.encoding, "view \(sql.prefix): entry \(id) does not decode as \(Value.self)", cause: error)
                }
            }
        }
        return out
    }
}

/// Runs the record function of each entry and encodes its value, outside the commit; invalid ones carry why.
func prepareRecords<Value: Encodable & Sendable, Record: Sendable>(
    _ entries: [KappaEntry<Value>], _ record: (KappaEntry<Value>) throws -> Record?
) -> [(feed: PublicKey, seq: UInt64, outcome: Result<(record: Record, value: [UInt8]), InvalidRecord>)] {
    let encoder = JSONEncoder()
    return entries.compactMap { entry in
        do {
            guard let made = try record(entry) else { return nil }
            return (entry.feed, entry.seq, .success((made, [UInt8](try encoder.encode(entry.value)))))
        } catch let invalid as InvalidRecord {
            return (entry.feed, entry.seq, .failure(invalid))
        } catch {
            return (entry.feed, entry.seq, .failure(InvalidRecord(reason: "its record: \(error)")))
        }
    }
}
