import Hypercore
public import KappaCore

/// Back-references (the semantics of unordered-materialized-backrefs): each entry refers to ids (`refs`) and may
/// supersede others (`links`). ``get(_:)`` returns the entries that refer to an id and are not superseded — the
/// replies to a post, say, without the replies that were edited or deleted since.
///
/// ```swift
/// struct Reply: Codable, Sendable { var to: String; var text: String; var replaces: [String] }
/// let replies = BackrefsView<Reply> { entry in .init(refs: [entry.value.to], links: entry.value.replaces) }
/// try await core.use("replies", replies)
/// let thread = try replies.get(postID)          // [IndexedEntry<Reply>]
/// ```
///
/// An entry linking to itself deletes itself. The result does not depend on arrival order. Invalid records (an
/// empty id, ref or link, a taken id, a throwing record function) are reported on `Kappa.errors` and skipped.
public struct BackrefsView<Value: Codable & Sendable>: KappaView {
    /// What an entry says to the view.
    public struct Record: Sendable {
        /// The entry's id; `nil` for the default, `"<feed key hex>@<seq>"`.
        public var id: String?
        /// The ids it refers to.
        public var refs: [String]
        /// The ids of the entries it supersedes.
        public var links: [String]

        /// A record.
        public init(id: String? = nil, refs: [String], links: [String] = []) {
            self.id = id
            self.refs = refs
            self.links = links
        }
    }

    /// An id whose referrers changed, with its referrers after the commit.
    public struct Change: Sendable {
        /// The id referred to.
        public var id: String
        /// The entries referring to it now.
        public var referrers: [IndexedEntry<Value>]
    }

    /// The view's data in the core's store.
    public let store = ViewStore()
    /// The largest batch indexed in one commit (1,000 by default: a commit costs about the same whatever its size, so
    /// larger batches index faster; a batch holds only what is there to index, so a large bound adds no wait).
    public let maxBatch: Int
    private let record: @Sendable (KappaEntry<Value>) throws -> Record?
    private let changeFeed = ChangeFeed<Change>()

    /// A view whose `record` function says what each entry refers to (`nil`: nothing).
    public init(maxBatch: Int = 1_000, _ record: @escaping @Sendable (KappaEntry<Value>) throws -> Record?) {
        self.maxBatch = maxBatch
        self.record = record
    }

    /// Creates the view's tables (the core calls this when the view is attached).
    public func prepare(_ sql: ViewSQL) throws {
        try Documents.create(sql)
        try sql.execute("""
            CREATE TABLE IF NOT EXISTS {view}_refs(ref TEXT NOT NULL, id TEXT NOT NULL, PRIMARY KEY(ref, id)) WITHOUT ROWID;
            CREATE INDEX IF NOT EXISTS {view}_refs_id ON {view}_refs(id);
            """)
    }

    /// Indexes a batch: runs the record function on each entry now, and the SQL inside the batch's commit.
    public func map(_ entries: [KappaEntry<Value>], _ transaction: ViewTransaction) throws {
        let records = prepareRecords(entries, record)
        guard !records.isEmpty else { return }
        let changeFeed = self.changeFeed
        transaction.sql { sql in
            try Documents.index(records, sql, id: \.id, links: \.links, validate: { record in
                guard !record.refs.contains(where: \.isEmpty) else { throw InvalidRecord(reason: "it refers to an empty id") }
            }) { record, id, _, _, _, _ in
                var touched = record.refs
                for link in try Documents.link(sql, record.links) {
                    try sql.query("SELECT ref FROM {view}_refs WHERE id = ?", .text(link)) { touched.append($0.text(0)) }
                }
                for ref in Set(record.refs) {
                    try sql.run("INSERT OR IGNORE INTO {view}_refs(ref, id) VALUES (?, ?)", .text(ref), .text(id))
                }
                changeFeed.touch(touched)
            }
        }
    }

    /// Publishes the ids whose referrers the committed batch changed.
    public func indexed(_ entries: [KappaEntry<Value>]) async {
        let ids = changeFeed.takeTouched()
        guard changeFeed.hasSubscribers, !ids.isEmpty else { return }
        changeFeed.publish(ids.compactMap { id in (try? get(id)).map { Change(id: id, referrers: $0) } })
    }

    /// The entries that refer to `id` and are not superseded, by id.
    public func get(_ id: String) throws -> [IndexedEntry<Value>] {
        try store.read { sql in
            var ids: [String] = []
            try sql.query("""
                SELECT r.id FROM {view}_refs r WHERE r.ref = ?
                AND NOT EXISTS (SELECT 1 FROM {view}_linked l WHERE l.id = r.id) ORDER BY r.id
                """, .text(id)) { ids.append($0.text(0)) }
            return try Documents.load(sql, store, ids: ids, as: Value.self)
        }
    }

    /// Every id whose referrers change from now on, with its referrers after each committed batch (subscribe, then
    /// ``get(_:)``, then apply: see ``KeyValueView/changes()``).
    public func changes() -> AsyncStream<Change> {
        changeFeed.subscribe()
    }
}
