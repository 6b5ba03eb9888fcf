import Hypercore

/// The core's own tables in the view store: feeds, writer names, view checkpoints, view data.
enum CoreStore {
    static let schema = """
        CREATE TABLE IF NOT EXISTS feeds(position INTEGER PRIMARY KEY, key BLOB NOT NULL UNIQUE, writable INTEGER NOT NULL);
        CREATE TABLE IF NOT EXISTS settings(name TEXT PRIMARY KEY, value BLOB NOT NULL);
        CREATE TABLE IF NOT EXISTS writers(name TEXT PRIMARY KEY, key BLOB NOT NULL);
        CREATE TABLE IF NOT EXISTS checkpoints(view TEXT PRIMARY KEY, version INTEGER NOT NULL, state BLOB NOT NULL);
        CREATE TABLE IF NOT EXISTS view_progress(view TEXT NOT NULL, feed BLOB NOT NULL, next INTEGER NOT NULL,
            PRIMARY KEY(view, feed)) WITHOUT ROWID;
        CREATE TABLE IF NOT EXISTS view_data(view TEXT NOT NULL, key TEXT NOT NULL, value BLOB NOT NULL,
            PRIMARY KEY(view, key)) WITHOUT ROWID;
        """

    struct Checkpoint {
        var version: Int64
        var progress: [PublicKey: UInt64]
    }

    static func feeds(_ c: SQLiteConnection) throws -> [PublicKey] {
        var keys = [PublicKey]()
        try c.query("SELECT key FROM feeds ORDER BY position") { row in
            if let key = try? PublicKey(row.blob(0)) { keys.append(key) }
        }
        return keys
    }

    /// Every listed feed with whether it is a local writer's, in the order added.
    static func feedList(_ c: SQLiteConnection) throws -> [(key: PublicKey, writable: Bool)] {
        var out = [(key: PublicKey, writable: Bool)]()
        try c.query("SELECT key, writable FROM feeds ORDER BY position") { row in
            if let key = try? PublicKey(row.blob(0)) { out.append((key, row.integer(1) != 0)) }
        }
        return out
    }

    static func addFeed(_ c: SQLiteConnection, key: PublicKey, writable: Bool) throws {
        try c.run("INSERT OR IGNORE INTO feeds(position, key, writable) VALUES ((SELECT COALESCE(MAX(position), 0) + 1 FROM feeds), ?, ?)",
                  [.blob(key.bytes), .integer(writable ? 1 : 0)])
    }

    /// The database's shared key (replication).
    static let sharedKeySetting = "sharedKey"
    /// The seed of the database's static identity key pair (Noise).
    static let identitySeedSetting = "identitySeed"

    static func setting(_ c: SQLiteConnection, _ name: String) throws -> [UInt8]? {
        var out: [UInt8]?
        try c.query("SELECT value FROM settings WHERE name = ?", [.text(name)]) { row in out = row.blob(0) }
        return out
    }

    static func setSetting(_ c: SQLiteConnection, _ name: String, _ value: [UInt8]) throws {
        try c.run("INSERT INTO settings(name, value) VALUES (?, ?) ON CONFLICT(name) DO UPDATE SET value = excluded.value",
                  [.text(name), .blob(value)])
    }

    /// The stored value of `name`, or `make()`'s value, stored now.
    static func setting(_ c: SQLiteConnection, _ name: String, orStore make: () -> [UInt8]) throws -> [UInt8] {
        if let value = try setting(c, name) { return value }
        let value = make()
        try setSetting(c, name, value)
        return value
    }

    static func writers(_ c: SQLiteConnection) throws -> [String: PublicKey] {
        var out = [String: PublicKey]()
        try c.query("SELECT name, key FROM writers") { row in
            if let key = try? PublicKey(row.blob(1)) { out[row.text(0)] = key }
        }
        return out
    }

    static func addWriter(_ c: SQLiteConnection, name: String, key: PublicKey) throws {
        try c.run("INSERT INTO writers(name, key) VALUES (?, ?)", [.text(name), .blob(key.bytes)])
    }

    /// A view's version and progress: one row per feed in `view_progress` (databases written before it kept the
    /// whole progress in `checkpoints.state`, which is still read and folded in).
    static func checkpoint(_ c: SQLiteConnection, view: String) throws -> Checkpoint? {
        var out: Checkpoint?
        var state = [UInt8]()
        try c.query("SELECT version, state FROM checkpoints WHERE view = ?", [.text(view)]) { row in
            out = Checkpoint(version: row.integer(0), progress: [:])
            state = row.blob(1)
        }
        guard var checkpoint = out else { return nil }
        checkpoint.progress = try decodeProgress(state)
        try c.query("SELECT feed, next FROM view_progress WHERE view = ?", [.text(view)]) { row in
            if let key = try? PublicKey(row.blob(0)) { checkpoint.progress[key] = UInt64(row.integer(1)) }
        }
        return checkpoint
    }

    /// The names of every view with a checkpoint, in order.
    static func checkpointedViews(_ c: SQLiteConnection) throws -> [String] {
        var names: [String] = []
        try c.query("SELECT view FROM checkpoints ORDER BY view") { row in names.append(row.text(0)) }
        return names
    }

    /// Starts a view's checkpoint over at `version` with no progress.
    static func resetCheckpoint(_ c: SQLiteConnection, view: String, version: Int64) throws {
        try c.run("INSERT INTO checkpoints(view, version, state) VALUES (?, ?, ?) ON CONFLICT(view) DO UPDATE SET version = excluded.version, state = excluded.state",
                  [.text(view), .integer(version), .blob([])])
        try c.run("DELETE FROM view_progress WHERE view = ?", [.text(view)])
    }

    /// Records the progress of the feeds a batch advanced (and only those): the write is proportional to the
    /// batch, not to the number of feeds.
    static func advanceCheckpoint(_ c: SQLiteConnection, view: String, changed: [PublicKey: UInt64]) throws {
        for (key, next) in changed {
            try c.run("INSERT INTO view_progress(view, feed, next) VALUES (?, ?, ?) ON CONFLICT(view, feed) DO UPDATE SET next = excluded.next",
                      [.text(view), .blob(key.bytes), .integer(Int64(next))])
        }
    }

    static func clearView(_ c: SQLiteConnection, view: String) throws {
        try c.run("DELETE FROM view_data WHERE view = ?", [.text(view)])
        try ViewSQL.dropTables(c, view: view)
    }

    /// Progress as `array(fixed32(key) ‖ uint(next sequence))` (in no particular order).
    static func encodeProgress(_ progress: [PublicKey: UInt64]) -> [UInt8] {
        var e = CompactEncoder(capacity: 1 + progress.count * 36)
        e.uint(progress.count)
        for (key, next) in progress {
            e.fixed32(key)
            e.uint(next)
        }
        return e.bytes
    }

    static func decodeProgress(_ bytes: [UInt8]) throws -> [PublicKey: UInt64] {
        if bytes.isEmpty { return [:] }
        do {
            return try CompactDecoder.decode(bytes) { (d: inout CompactDecoder) throws(HypercoreError) -> [PublicKey: UInt64] in
                var out = [PublicKey: UInt64]()
                let n = try d.count()
                for _ in 0..<n {
                    let key = try d.fixed32()
                    out[key] = try d.uint()
                }
                return out
            }
        } catch {
            throw KappaError(.store, "a stored view checkpoint does not decode", cause: error)
        }
    }
}
