public import Hypercore
public import KappaCore
import Foundation

/// A key/value view with forks (the semantics of unordered-materialized-kv): each entry sets a key, has an id,
/// and names the ids it supersedes (`links`). ``get(_:)`` returns a key's **heads** — its entries that no entry
/// links to — so concurrent writers that did not see each other both stay visible (a fork) until a later entry
/// links both (a merge).
///
/// ```swift
/// struct Post: Codable, Sendable { var title: String; var replaces: [String] }
/// let titles = KeyValueView<Post> { entry in
///     .init(key: entry.value.title, links: entry.value.replaces)   // id: "<feed hex>@<seq>"
/// }
/// try await core.use("titles", titles)
/// let heads = try titles.get("hello")                              // [KeyValueView.Head]
/// ```
///
/// The result never depends on the order entries arrive in — within a key or across keys: an entry is a head
/// exactly when no entry (of any key, earlier or later) links to it. An entry linking to itself is never a head
/// (a deletion). Its data lives in the core's store, in tables of its own, so indexing is exactly-once and a
/// version bump rebuilds it. Heads carry their values: the view keeps each entry's block and decodes it with the
/// database's encoding, so `get` needs no feed reads. (Values are `Codable` so that an entry made by hand, without
/// its block, can be kept as JSON.)
///
/// An entry whose record is invalid (an empty key or id, an empty link, an id already used by another entry, or
/// an error thrown by the record function) is reported on `Kappa.errors` (``KappaCore/KappaError/Code/invalidEntry``)
/// and skipped; the view goes on.
public struct KeyValueView<Value: Codable & Sendable>: KappaView {
    /// What an entry says to the view.
    public struct Record: Sendable {
        /// The key the entry sets.
        public var key: String
        /// The entry's id; `nil` for the default, `"<feed key hex>@<seq>"`.
        public var id: String?
        /// The ids of the entries it supersedes.
        public var links: [String]

        /// A record.
        public init(key: String, id: String? = nil, links: [String] = []) {
            self.key = key
            self.id = id
            self.links = links
        }
    }

    /// One head of a key: the entry and its id.
    public struct Head: Sendable {
        /// The entry's id.
        public var id: String
        /// The feed holding the entry.
        public var feed: PublicKey
        /// Its sequence number there.
        public var seq: UInt64
        /// Its value.
        public var value: Value
    }

    /// A key whose heads changed, with its heads after the commit (empty when none are left).
    public struct Change: Sendable {
        /// The key.
        public var key: String
        /// Its heads now.
        public var heads: [Head]
    }

    /// The view's data in the core's store.
    public let store = ViewStore()
    private let changeFeed = ChangeFeed<Change>()
    /// The largest batch indexed in one commit (1,000 by default: a commit costs about the same whatever its size, so
    /// larger batches index faster; a batch holds only what is there to index, so a large bound adds no wait).
    public let maxBatch: Int
    private let record: @Sendable (KappaEntry<Value>) throws -> Record?

    /// A view whose `record` function says what each entry sets (`nil`: the entry sets nothing).
    public init(maxBatch: Int = 1_000, _ record: @escaping @Sendable (KappaEntry<Value>) throws -> Record?) {
        self.maxBatch = maxBatch
        self.record = record
    }

    /// The default id of an entry: `"<feed key hex>@<seq>"`.
    public static func id(feed: PublicKey, seq: UInt64) -> String {
        defaultEntryID(feed: feed, seq: seq)
    }

    // MARK: Indexing

    /// Creates the view's tables (the core calls this when the view is attached).
    ///
    /// One row per entry in `{view}_entries`, with a `head` flag; the heads of a key are found through a partial
    /// index over the rows whose flag is set, so indexing an entry writes one row (and, for each link, clears one
    /// flag), not a separate heads table.
    public func prepare(_ sql: ViewSQL) throws {
        var legacy = false
        try sql.query("SELECT 1 FROM sqlite_master WHERE type = 'table' AND name = ?", .text(sql.prefix + "_heads")) { _ in legacy = true }
        guard !legacy else {
            throw KappaError(.viewFailed, """
                view \(sql.view): its tables are from an earlier layout of KeyValueView; attach it with a higher \
                version to rebuild them
                """)
        }
        try sql.execute("""
            CREATE TABLE IF NOT EXISTS {view}_entries(
                n INTEGER PRIMARY KEY, id TEXT NOT NULL UNIQUE, key TEXT NOT NULL, feed BLOB NOT NULL,
                seq INTEGER NOT NULL, value BLOB NOT NULL, raw INTEGER NOT NULL, head INTEGER NOT NULL);
            CREATE INDEX IF NOT EXISTS {view}_heads ON {view}_entries(key) WHERE head = 1;
            CREATE TABLE IF NOT EXISTS {view}_linked(id TEXT PRIMARY KEY) WITHOUT ROWID;
            """)
    }

    /// Indexes a batch: runs the record function on each entry now, and the SQL inside the batch's commit.
    public func map(_ entries: [KappaEntry<Value>], _ transaction: ViewTransaction) throws {
        let records = prepareRecords(entries, record)
        guard !records.isEmpty else { return }
        transaction.sql { sql in
            // The documents live in this view's own table (with their key), so it stores them itself.
            try Documents.index(records, sql, id: \.id, links: \.links, storesDocument: false, validate: { record in
                guard !record.key.isEmpty else { throw InvalidRecord(reason: "its key is empty") }
            }) { record, id, feed, seq, value, _ in
                try insert(sql, id: id, key: record.key, links: record.links, feed: feed, seq: seq, value: value)
            }
        }
    }

    private func insert(
        _ sql: ViewSQL, id: String, key: String, links: [String], feed: PublicKey, seq: UInt64, value: StoredValue
    ) throws {
        // A head unless something linked to it already (earlier, in any key).
        try sql.run("""
            INSERT OR IGNORE INTO {view}_entries(id, key, feed, seq, value, raw, head)
            VALUES (?, ?, ?, ?, ?, ?, NOT EXISTS (SELECT 1 FROM {view}_linked WHERE id = ?))
            """, .text(id), .text(key), .blob(feed.bytes), .integer(Int64(seq)), .blob(value.bytes),
                    .integer(value.raw ? 1 : 0), .text(id))
        guard sql.changes > 0 else {
            sql.report((feed, seq), "its id \(id) is already used by another entry")
            return
        }
        changeFeed.touch(key)
        guard !links.isEmpty else { return }
        // Only links recorded for the first time can supersede a head: one linked before is not a head since then.
        for link in try Documents.link(sql, links) {
            var superseded: Int64?
            try sql.query("SELECT n, key FROM {view}_entries WHERE id = ? AND head = 1", .text(link)) { row in
                superseded = row.integer(0)
                changeFeed.touch(row.text(1))
            }
            if let superseded { try sql.run("UPDATE {view}_entries SET head = 0 WHERE n = ?", .integer(superseded)) }
        }
    }

    /// Publishes the keys the committed batch changed (the core calls this after the commit).
    public func indexed(_ entries: [KappaEntry<Value>]) async {
        let keys = changeFeed.takeTouched()
        guard changeFeed.hasSubscribers, !keys.isEmpty else { return }
        let changes = keys.compactMap { key in (try? get(key)).map { Change(key: key, heads: $0) } }
        changeFeed.publish(changes)
    }

    /// Every key whose heads change from now on, with its new heads, after each committed batch.
    ///
    /// To follow a key without missing a change: subscribe, then ``get(_:)``, then apply the changes as they
    /// come (one may repeat what `get` already returned; it carries the heads, so applying it again is harmless).
    public func changes() -> AsyncStream<Change> {
        changeFeed.subscribe()
    }

    // MARK: Queries

    /// The heads of `key` (its entries no entry links to), in feed and sequence order; empty for a key never set
    /// or whose entries are all superseded.
    /// - Throws: ``KappaCore/KappaError`` `.viewNotAttached` before `Kappa.use`, `.store`, `.encoding`.
    public func get(_ key: String) throws -> [Head] {
        try store.read { sql in
            var rows: [(String, [UInt8], Int64, StoredValue)] = []
            try sql.query("""
                SELECT id, feed, seq, value, raw FROM {view}_entries INDEXED BY {view}_heads
                WHERE key = ? AND head = 1 ORDER BY feed, seq
                """, .text(key)) { row in
                rows.append((row.text(0), row.blob(1), row.integer(2), StoredValue(bytes: row.blob(3), raw: row.integer(4) != 0)))
            }
            return try rows.map { id, feed, seq, value in
                do {
                    return Head(id: id, feed: try PublicKey(feed), seq: UInt64(seq), value: try value.decode(Value.self, store))
                } catch {
                    throw KappaError(.encoding, "key \(key): head \(id) does not decode as \(Value.self)", cause: error)
                }
            }
        }
    }

    /// The keys that have at least one head, in byte order.
    public func keys() throws -> [String] {
        try store.read { sql in
            var keys: [String] = []
            try sql.query("SELECT DISTINCT key FROM {view}_entries WHERE head = 1 ORDER BY key") { keys.append($0.text(0)) }
            return keys
        }
    }

    /// True when some indexed entry links to `id` (it is superseded).
    public func isLinked(_ id: String) throws -> Bool {
        try store.read { sql in
            var linked = false
            try sql.query("SELECT 1 FROM {view}_linked WHERE id = ?", .text(id)) { _ in linked = true }
            return linked
        }
    }
}
