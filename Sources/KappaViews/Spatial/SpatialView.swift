import Hypercore
public import KappaCore

/// A spatial index of points and boxes, on SQLite's R*Tree: ``query(_:)`` returns the entries whose box
/// intersects a box (forks included), without the entries superseded by later ones (`links`) — in the same
/// transaction as the links, so there is no ordering race between views.
///
/// ```swift
/// struct Place: Codable, Sendable { var lat: Double; var lon: Double; var replaces: [String] }
/// let map = SpatialView<Place> { entry in .init(point: (entry.value.lon, entry.value.lat), links: entry.value.replaces) }
/// try await core.use("map", map)
/// let here = try map.query(SpatialView<Place>.Box(minX: 13.3, minY: 52.4, maxX: 13.5, maxY: 52.6))
/// ```
///
/// A record with a coordinate that is not finite, or a box whose minimum exceeds its maximum, is reported on
/// `Kappa.errors` and skipped, as are empty ids or links, taken ids and throwing record functions.
public struct SpatialView<Value: Codable & Sendable>: KappaView {
    /// An axis-aligned box; a point is a box of size zero.
    public struct Box: Sendable, Equatable {
        /// The smallest and largest x and y.
        public var minX: Double, minY: Double, maxX: Double, maxY: Double

        /// A box.
        public init(minX: Double, minY: Double, maxX: Double, maxY: Double) {
            (self.minX, self.minY, self.maxX, self.maxY) = (minX, minY, maxX, maxY)
        }

        /// The box of one point.
        public init(point x: Double, _ y: Double) {
            self.init(minX: x, minY: y, maxX: x, maxY: y)
        }

        /// True when every coordinate is finite and each minimum is at most its maximum.
        public var isValid: Bool {
            [minX, minY, maxX, maxY].allSatisfy(\.isFinite) && minX <= maxX && minY <= maxY
        }
    }

    /// What an entry says to the view.
    public struct Record: Sendable {
        /// The entry's id; `nil` for the default, `"<feed key hex>@<seq>"`.
        public var id: String?
        /// Where it is.
        public var box: Box
        /// The ids of the entries it supersedes.
        public var links: [String]

        /// A record for a box.
        public init(id: String? = nil, box: Box, links: [String] = []) {
            self.id = id
            self.box = box
            self.links = links
        }

        /// A record for a point `(x, y)`.
        public init(id: String? = nil, point: (Double, Double), links: [String] = []) {
            self.init(id: id, box: Box(point: point.0, point.1), links: links)
        }
    }

    /// One result: the entry and its box.
    public struct Hit: Sendable {
        /// The entry.
        public var entry: IndexedEntry<Value>
        /// Its box.
        public var box: Box
    }

    /// Entries that entered or left the index in a committed batch.
    public struct Change: Sendable {
        /// Entries now found by queries, with their boxes.
        public var added: [Hit]
        /// Ids of entries no longer found (superseded).
        public var removed: [String]
    }

    /// The view's data in the core's store.
    public let store = ViewStore()
    private let changeFeed = ChangeFeed<Change>()
    /// The largest batch indexed in one commit (1,000 by default: a commit costs about the same whatever its size, so
    /// larger batches index faster; a batch holds only what is there to index, so a large bound adds no wait).
    public let maxBatch: Int
    private let record: @Sendable (KappaEntry<Value>) throws -> Record?

    /// A view whose `record` function gives each entry's place (`nil`: not indexed).
    public init(maxBatch: Int = 1_000, _ record: @escaping @Sendable (KappaEntry<Value>) throws -> Record?) {
        self.maxBatch = maxBatch
        self.record = record
    }

    /// Creates the view's tables (the core calls this when the view is attached).
    public func prepare(_ sql: ViewSQL) throws {
        try Documents.create(sql)
        // The R*Tree holds 32-bit bounds rounded outwards; the exact box is kept beside it for the final test.
        try sql.execute("""
            CREATE VIRTUAL TABLE IF NOT EXISTS {view}_rtree USING rtree(id, minX, maxX, minY, maxY);
            CREATE TABLE IF NOT EXISTS {view}_boxes(
                docid INTEGER PRIMARY KEY, minX REAL NOT NULL, minY REAL NOT NULL, maxX REAL NOT NULL, maxY REAL NOT NULL);
            """)
    }

    /// Indexes a batch: runs the record function on each entry now, and the SQL inside the batch's commit.
    public func map(_ entries: [KappaEntry<Value>], _ transaction: ViewTransaction) throws {
        let records = prepareRecords(entries, record)
        guard !records.isEmpty else { return }
        let changeFeed = self.changeFeed
        transaction.sql { sql in
            try Documents.index(records, sql, id: \.id, links: \.links, validate: { record in
                let box = record.box
                guard box.isValid else {
                    throw InvalidRecord(reason: "its box (\(box.minX), \(box.minY), \(box.maxX), \(box.maxY)) is not finite or not ordered")
                }
            }) { record, id, _, _, _, rowid in
                let box = record.box
                var touched: [String] = []  // "+id" entered the index, "-id" left it
                for link in try Documents.link(sql, record.links) {
                    try sql.run("DELETE FROM {view}_rtree WHERE id = (SELECT rowid FROM {view}_docs WHERE id = ?)", .text(link))
                    touched.append("-" + link)
                }
                if try !Documents.isLinked(sql, id) {
                    touched.append("+" + id)
                    try sql.run("INSERT INTO {view}_rtree(id, minX, maxX, minY, maxY) VALUES (?, ?, ?, ?, ?)",
                                .integer(rowid), .real(box.minX), .real(box.maxX), .real(box.minY), .real(box.maxY))
                }
                try sql.run("INSERT OR REPLACE INTO {view}_boxes(docid, minX, minY, maxX, maxY) VALUES (?, ?, ?, ?, ?)",
                            .integer(rowid), .real(box.minX), .real(box.minY), .real(box.maxX), .real(box.maxY))
                changeFeed.touch(touched)
            }
        }
    }

    /// Publishes what entered and left the index in the committed batch.
    public func indexed(_ entries: [KappaEntry<Value>]) async {
        let touched = changeFeed.takeTouched()
        guard changeFeed.hasSubscribers, !touched.isEmpty else { return }
        let removed = touched.filter { $0.hasPrefix("-") }.map { String($0.dropFirst()) }
        let addedIDs = touched.filter { $0.hasPrefix("+") }.map { String($0.dropFirst()) }
        let added = (try? store.read { sql in try hits(sql, ids: addedIDs.filter { !removed.contains($0) }) }) ?? []
        changeFeed.publish([Change(added: added, removed: removed)])
    }

    /// Entries and their exact boxes, for ids still indexed.
    private func hits(_ sql: ViewSQL, ids: [String]) throws -> [Hit] {
        var boxes: [String: Box] = [:]
        for id in ids {
            try sql.query("""
                SELECT b.minX, b.minY, b.maxX, b.maxY FROM {view}_docs d JOIN {view}_boxes b ON b.docid = d.rowid
                WHERE d.id = ? AND NOT EXISTS (SELECT 1 FROM {view}_linked l WHERE l.id = d.id)
                """, .text(id)) { row in
                boxes[id] = Box(minX: row.real(0), minY: row.real(1), maxX: row.real(2), maxY: row.real(3))
            }
        }
        let found = ids.filter { boxes[$0] != nil }
        return try zip(Documents.load(sql, store, ids: found, as: Value.self), found).map { Hit(entry: $0, box: boxes[$1]!) }
    }

    /// What enters and leaves the index from now on, after each committed batch (subscribe, then query, then apply).
    public func changes() -> AsyncStream<Change> {
        changeFeed.subscribe()
    }

    /// The entries whose box intersects `box` (edges included), not superseded, by id.
    /// - Throws: ``KappaCore/KappaError`` `.invalidQuery` for a box that is not valid.
    public func query(_ box: Box) throws -> [Hit] {
        guard box.isValid else {
            throw KappaError(.invalidQuery, "query box (\(box.minX), \(box.minY), \(box.maxX), \(box.maxY)) is not finite or not ordered")
        }
        return try store.read { sql in
            var found: [(String, Box)] = []
            try sql.query("""
                SELECT d.id, b.minX, b.minY, b.maxX, b.maxY FROM {view}_rtree r
                JOIN {view}_boxes b ON b.docid = r.id JOIN {view}_docs d ON d.rowid = r.id
                WHERE r.maxX >= ? AND r.minX <= ? AND r.maxY >= ? AND r.minY <= ?
                AND b.maxX >= ? AND b.minX <= ? AND b.maxY >= ? AND b.minY <= ?
                ORDER BY d.id
                """, .real(box.minX), .real(box.maxX), .real(box.minY), .real(box.maxY),
                .real(box.minX), .real(box.maxX), .real(box.minY), .real(box.maxY)) { row in
                found.append((row.text(0), Box(minX: row.real(1), minY: row.real(2), maxX: row.real(3), maxY: row.real(4))))
            }
            let entries = try Documents.load(sql, store, ids: found.map(\.0), as: Value.self)
            return zip(entries, found).map { Hit(entry: $0, box: $1.1) }
        }
    }
}
