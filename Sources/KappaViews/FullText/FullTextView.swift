import Hypercore
public import KappaCore

/// Full-text search over chosen text of each entry, on SQLite's FTS5: ranked results (BM25) with snippets. An
/// entry superseded by a later one (`links`) leaves the index.
///
/// ```swift
/// struct Message: Codable, Sendable { var body: String; var edits: [String] }
/// let search = FullTextView<Message> { entry in .init(text: entry.value.body, links: entry.value.edits) }
/// try await core.use("search", search)
/// for hit in try search.search("kappa AND swift", limit: 10) { print(hit.snippet) }
/// ```
///
/// Queries use FTS5's syntax (words, `"phrases"`, `AND`/`OR`/`NOT`, `prefix*`); a query with a syntax error
/// throws ``KappaCore/KappaError/Code/invalidQuery``. Invalid records (an empty id or link, a taken id, a throwing
/// record function) are reported on `Kappa.errors` and skipped.
public struct FullTextView<Value: Codable & Sendable>: KappaView {
    /// What an entry says to the view.
    public struct Record: Sendable {
        /// The entry's id; `nil` for the default, `"<feed key hex>@<seq>"`.
        public var id: String?
        /// The text to index (join several fields with newlines).
        public var text: String
        /// The ids of the entries it supersedes.
        public var links: [String]

        /// A record.
        public init(id: String? = nil, text: String, links: [String] = []) {
            self.id = id
            self.text = text
            self.links = links
        }
    }

    /// One search result.
    public struct Hit: Sendable {
        /// The entry.
        public var entry: IndexedEntry<Value>
        /// A piece of its text around the matches, matches between `[` and `]`.
        public var snippet: String
        /// Its BM25 rank (lower is better).
        public var rank: Double
    }

    /// Ids that entered or left the index in a committed batch.
    public struct Change: Sendable {
        /// Entries now searchable.
        public var added: [String]
        /// Entries no longer searchable (superseded).
        public var removed: [String]
    }

    /// The view's data in the core's store.
    public let store = ViewStore()
    /// The largest batch indexed in one commit (1,000 by default: a commit costs about the same whatever its size, so
    /// larger batches index faster; a batch holds only what is there to index, so a large bound adds no wait).
    public let maxBatch: Int
    private let record: @Sendable (KappaEntry<Value>) throws -> Record?
    private let changeFeed = ChangeFeed<Change>()

    /// A view whose `record` function gives each entry's text (`nil`: not indexed).
    public init(maxBatch: Int = 1_000, _ record: @escaping @Sendable (KappaEntry<Value>) throws -> Record?) {
        self.maxBatch = maxBatch
        self.record = record
    }

    /// Creates the view's tables (the core calls this when the view is attached).
    public func prepare(_ sql: ViewSQL) throws {
        try Documents.create(sql)
        try sql.execute("CREATE VIRTUAL TABLE IF NOT EXISTS {view}_fts USING fts5(body)")
    }

    /// Indexes a batch: runs the record function on each entry now, and the SQL inside the batch's commit.
    public func map(_ entries: [KappaEntry<Value>], _ transaction: ViewTransaction) throws {
        let records = prepareRecords(entries, record)
        guard !records.isEmpty else { return }
        let changeFeed = self.changeFeed
        transaction.sql { sql in
            try Documents.index(records, sql, id: \.id, links: \.links) { record, id, _, _, _, rowid in
                var touched: [String] = []  // "+id" entered the index, "-id" left it
                for link in try Documents.link(sql, record.links) {
                    try sql.run("DELETE FROM {view}_fts WHERE rowid = (SELECT rowid FROM {view}_docs WHERE id = ?)", .text(link))
                    touched.append("-" + link)
                }
                if try !Documents.isLinked(sql, id) {
                    // One row with VALUES, not INSERT … SELECT: a statement that may write several rows opens a
                    // savepoint, and FTS5 writes its pending terms to disk at every savepoint (a segment per row).
                    try sql.run("INSERT INTO {view}_fts(rowid, body) VALUES (?, ?)", .integer(rowid), .text(record.text))
                    touched.append("+" + id)
                }
                changeFeed.touch(touched)
            }
        }
    }

    /// Publishes what entered and left the index in the committed batch.
    public func indexed(_ entries: [KappaEntry<Value>]) async {
        let touched = changeFeed.takeTouched()
        guard changeFeed.hasSubscribers, !touched.isEmpty else { return }
        changeFeed.publish([Change(added: touched.filter { $0.hasPrefix("+") }.map { String($0.dropFirst()) },
                                   removed: touched.filter { $0.hasPrefix("-") }.map { String($0.dropFirst()) })])
    }

    /// The entries matching `query` (FTS5 syntax), best first, at most `limit`.
    /// - Throws: ``KappaCore/KappaError`` `.invalidQuery` for a query FTS5 cannot parse.
    public func search(_ query: String, limit: Int = 20) throws -> [Hit] {
        guard limit > 0 else { return [] }
        do {
            return try store.read { sql in
                var rows: [(String, String, Double)] = []
                try sql.query("""
                    SELECT d.id, snippet({view}_fts, 0, '[', ']', '…', 12), bm25({view}_fts)
                    FROM {view}_fts JOIN {view}_docs d ON d.rowid = {view}_fts.rowid
                    WHERE {view}_fts MATCH ? ORDER BY bm25({view}_fts) LIMIT ?
                    """, .text(query), .integer(Int64(limit))) { row in
                    rows.append((row.text(0), row.text(1), row.real(2)))
                }
                let entries = try Documents.load(sql, store, ids: rows.map(\.0), as: Value.self)
                return zip(entries, rows).map { Hit(entry: $0, snippet: $1.1, rank: $1.2) }
            }
        } catch let error as KappaError where error.code == .store {
            throw KappaError(.invalidQuery, "full-text query \"\(query)\" does not run: \(error.message)", cause: error)
        }
    }

    /// What enters and leaves the index from now on, after each committed batch.
    public func changes() -> AsyncStream<Change> {
        changeFeed.subscribe()
    }
}
