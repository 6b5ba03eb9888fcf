public import Hypercore
import Foundation

/// Where a ``Kappa`` database keeps its data.
public enum KappaStorage: Sendable {
    /// Everything in memory; gone when the database is released.
    case memory
    /// A directory on disk: `feeds/<discovery key>/` per feed (hypercore-10 files), `views.sqlite`
    /// (writer names, feed list, view data and checkpoints) and a `LOCK` file.
    case directory(String)
}

/// Options for a ``Kappa`` database.
public struct KappaOptions: Sendable {
    /// Durability of feed appends. Default ``Hypercore/Durability/durable``.
    public var durability: Durability
    /// How many undecodable-entry and view errors ``Kappa/errors`` buffers for a slow reader. Default 1,000.
    public var errorBuffer: Int
    /// The most feed files kept open at once (each feed has four); idle ones are closed and reopened on
    /// use. Default 256.
    public var maxOpenFiles: Int

    /// Creates options.
    public init(durability: Durability = .durable, errorBuffer: Int = 1000, maxOpenFiles: Int = 256) {
        self.durability = durability
        self.errorBuffer = errorBuffer
        self.maxOpenFiles = maxOpenFiles
    }
}

/// A database of many feeds with materialized views.
///
/// ```swift
/// let core = try await Kappa<Int>(path: "./log")
/// let sum = SumView()
/// try await core.use("sum", version: 1, sum)
/// try await core.writer("default").append(1)
/// try await core.ready("sum")
/// print(try sum.value)
/// ```
///
/// Every local writer owns a feed; remote feeds arrive by key (``addFeed(_:)``, later replication). Each view
/// registered with ``use(_:version:_:)`` is indexed by its own actor from the entries of all feeds.
public actor Kappa<Value: Codable & Sendable> {
    /// Everything that went wrong while indexing: undecodable entries (skipped) and view failures.
    public nonisolated let errors: AsyncStream<KappaError>
    private let errorSink: AsyncStream<KappaError>.Continuation

    /// The value encoding of this database.
    public nonisolated let encoding: ValueEncoding<Value>
    /// Where the data lives.
    public nonisolated let storage: KappaStorage

    private let options: KappaOptions
    private let database: SQLiteDatabase
    private let lock: FileStorage?
    private let files: FilePool
    private let feedSet = FeedSet()
    private var feedsByKey: [PublicKey: Feed] = [:]
    private var writers: [String: Feed] = [:]
    private var indexers: [String: (indexer: ViewIndexer<Value>, task: Task<Void, Never>)] = [:]
    private var viewOrder: [String] = []
    private var isClosed = false

    /// Opens (or creates) a database in the directory at `path`.
    /// - Throws: ``KappaError/Code/locked`` when another process has it open; storage and corruption errors.
    public init(path: String, encoding: ValueEncoding<Value> = .json, options: KappaOptions = KappaOptions()) async throws {
        try await self.init(storage: .directory(path), encoding: encoding, options: options)
    }

    /// Opens (or creates) a database.
    public init(storage: KappaStorage, encoding: ValueEncoding<Value> = .json, options: KappaOptions = KappaOptions()) async throws {
        self.storage = storage
        self.encoding = encoding
        self.options = options
        files = FilePool(capacity: options.maxOpenFiles)
        (errors, errorSink) = AsyncStream.makeStream(of: KappaError.self, bufferingPolicy: .bufferingNewest(max(1, options.errorBuffer)))
        switch storage {
        case .memory:
            lock = nil
            database = try SQLiteDatabase(path: nil)
        case .directory(let path):
            let directory = try FileDirectory(path: path)
            let lockFile = try FileStorage(path: directory.path + "/LOCK")
            do {
                try lockFile.lockExclusive()
            } catch let error as StorageError where error.code == .locked {
                throw KappaError(.locked, "\(path) is open in another process or Kappa instance", cause: error)
            }
            lock = lockFile
            _ = try FileDirectory(path: path + "/feeds")
            database = try SQLiteDatabase(path: path + "/views.sqlite")
        }
        try database.withConnection { try $0.execute(CoreStore.schema) }
        try loadFeeds()
    }

    /// Opens a database, runs `body`, and closes it whatever `body` does.
    public static func withCore<R: Sendable>(
        at path: String, encoding: ValueEncoding<Value> = .json, options: KappaOptions = KappaOptions(),
        _ body: (Kappa<Value>) async throws -> R
    ) async throws -> R {
        let core = try await Kappa(path: path, encoding: encoding, options: options)
        do {
            let result = try await body(core)
            try await core.close()
            return result
        } catch {
            try? await core.close()
            throw error
        }
    }

    // MARK: Feeds

    private func feedDirectory(for key: PublicKey) throws -> any StorageDirectory {
        switch storage {
        case .memory: return MemoryDirectory()
        case .directory(let path):
            return try FileDirectory(path: "\(path)/feeds/\(Hashing.discoveryKey(key).hex)", pool: files)
        }
    }

    private var feedOptions: FeedOptions { FeedOptions(durability: options.durability) }

    private func loadFeeds() throws {
        guard case .directory(let path) = storage else { return }
        let keys = try database.withConnection { try CoreStore.feeds($0) }
        for key in keys {
            register(try Feed.open(storage: try feedDirectory(for: key), key: key, options: feedOptions))
        }
        // A feed directory created just before a crash may be missing from the list: adopt it at the end.
        let known = Set(keys.map { Hashing.discoveryKey($0).hex })
        let present = (try? FileManager.default.contentsOfDirectory(atPath: path + "/feeds")) ?? []
        for name in present.sorted() where !known.contains(name) {
            let directory = try FileDirectory(path: "\(path)/feeds/\(name)", pool: files)
            guard directory.exists("oplog") else { continue }
            let feed = try Feed.open(storage: directory, options: feedOptions)
            try database.withConnection { try CoreStore.addFeed($0, key: feed.key, writable: feed.writable) }
            register(feed)
        }
        for (name, key) in try database.withConnection({ try CoreStore.writers($0) }) {
            if let feed = feedsByKey[key], feed.writable { writers[name] = feed }
        }
    }

    /// Adds `feed` to the feed set the views read from.
    private func register(_ feed: Feed) {
        feedsByKey[feed.key] = feed
        feedSet.add(feed)
    }

    private func checkOpen() throws {
        if isClosed { throw KappaError(.closed, "the database is closed") }
    }

    /// The local writable feed called `name`, created on first use. Names persist across restarts and never
    /// resolve to a remote feed.
    /// - Throws: ``KappaError/Code/invalidName`` for an empty name, ``KappaError/Code/closed``.
    public func writer(_ name: String) async throws -> KappaWriter<Value> {
        try checkOpen()
        guard !name.isEmpty else { throw KappaError(.invalidName, "a writer name cannot be empty") }
        if let feed = writers[name] { return KappaWriter(feed: feed, name: name, encoding: encoding) }
        let pair = KeyPair.random()
        let feed = try Feed.create(storage: try feedDirectory(for: pair.publicKey), keyPair: pair, options: feedOptions)
        try database.withConnection { c in
            try c.transaction {
                try CoreStore.addFeed(c, key: feed.key, writable: true)
                try CoreStore.addWriter(c, name: name, key: feed.key)
            }
        }
        writers[name] = feed
        register(feed)
        return KappaWriter(feed: feed, name: name, encoding: encoding)
    }

    /// Adds a remote (read-only) feed by key, or returns the feed already known under that key.
    public func addFeed(_ key: PublicKey) async throws -> Feed {
        try checkOpen()
        if let feed = feedsByKey[key] { return feed }
        let feed = try Feed.replica(key: key, storage: try feedDirectory(for: key), options: feedOptions)
        try database.withConnection { try CoreStore.addFeed($0, key: key, writable: false) }
        register(feed)
        return feed
    }

    /// The feed with `key`, or `nil`.
    public func feed(_ key: PublicKey) -> Feed? {
        feedsByKey[key]
    }

    /// The feed with the key given as 32 bytes or 64 hex characters, or `nil` when unknown.
    /// - Throws: ``KappaError/Code/invalidKey`` when `key` is neither.
    public func feed(hex key: String) throws -> Feed? {
        do {
            return feedsByKey[try PublicKey(hex: key)]
        } catch {
            throw KappaError(.invalidKey, "\"\(key)\" is not a 64-character hex key", cause: error)
        }
    }

    /// The feed with the key given as bytes, or `nil` when unknown.
    /// - Throws: ``KappaError/Code/invalidKey`` unless `key` is 32 bytes.
    public func feed(bytes key: [UInt8]) throws -> Feed? {
        do {
            return feedsByKey[try PublicKey(key)]
        } catch {
            throw KappaError(.invalidKey, "a feed key is 32 bytes, got \(key.count)", cause: error)
        }
    }

    /// All feeds, local and remote, in the order they were added (stable across restarts).
    public func feeds() -> [Feed] {
        feedSet.feeds
    }

    /// How many feed files are open now (bounded by ``KappaOptions/maxOpenFiles``).
    var openFeedFiles: Int { files.openCount }

    /// The names of the local writers.
    public func writerNames() -> [String] {
        writers.keys.sorted()
    }

    // MARK: Views

    /// Registers `view` under `name` and starts indexing it.
    ///
    /// A stored checkpoint of the same version continues where it stopped; a different version clears the
    /// view's data (in the core's store, or through ``ViewStateStorage/clearState()``) and its checkpoint, then
    /// re-indexes from the start. A view with its own storage but no stored state is cleared before indexing
    /// from the start, so data it kept without its progress is not counted twice.
    /// - Throws: ``KappaError/Code/duplicateView`` when the name is taken, `.closed`, `.invalidName`.
    public func use<View: KappaView>(_ name: String, version: Int = 1, _ view: View) async throws where View.Value == Value {
        try checkOpen()
        guard !name.isEmpty else { throw KappaError(.invalidName, "a view name cannot be empty") }
        guard indexers[name] == nil else { throw KappaError(.duplicateView, "a view named \(name) is already used") }
        try view.store.attach(database, view: name)
        let stored = try database.withConnection { try CoreStore.checkpoint($0, view: name) }
        let version = Int64(version)
        var progress: [PublicKey: UInt64] = [:]
        if let storage = view.stateStorage {
            if let stored, stored.version != version {
                try await storage.clearState()
            } else if let state = try await storage.fetchState() {
                progress = try CoreStore.decodeProgress(state)
            } else {
                // No progress stored, but the view's data may have been (a crash between the two): start
                // from a clean view rather than index everything again on top of it.
                try await storage.clearState()
            }
            try database.withConnection { try CoreStore.storeCheckpoint($0, view: name, version: version, progress: [:]) }
        } else if let stored, stored.version == version {
            progress = stored.progress
        } else {
            try database.withConnection { c in
                try c.transaction {
                    try CoreStore.clearView(c, view: name)
                    try CoreStore.storeCheckpoint(c, view: name, version: version, progress: [:])
                }
            }
        }
        guard indexers[name] == nil else { throw KappaError(.duplicateView, "a view named \(name) is already used") }
        let errorSink = self.errorSink
        let indexer = ViewIndexer(name: name, version: version, view: view, encoding: encoding, database: database,
                                  feeds: feedSet, progress: progress,
                                  report: { errorSink.yield($0) })
        let task = Task { await indexer.run() }
        indexers[name] = (indexer, task)
        viewOrder.append(name)
    }

    private func resolve(_ names: [String]?) throws -> [ViewIndexer<Value>] {
        guard let names else { return viewOrder.compactMap { indexers[$0]?.indexer } }
        return try names.map { name in
            guard let entry = indexers[name] else { throw KappaError(.unknownView, "no view named \(name)") }
            return entry.indexer
        }
    }

    /// Returns when every view has indexed everything locally available now.
    public func ready() async throws {
        try await ready(nil as [String]?)
    }

    /// Returns when view `name` has indexed everything locally available now.
    public func ready(_ name: String) async throws {
        try await ready([name])
    }

    /// Returns when the named views (all views for `nil`) have indexed every entry that was locally
    /// available, without a gap, when `ready` was called. Returns at once for a paused view.
    /// - Throws: ``KappaError/Code/unknownView``; a failed view's error (``KappaError/Code/viewFailed``);
    ///   ``KappaError/Code/closed``.
    public func ready(_ names: [String]?) async throws {
        try checkOpen()
        let targets = try resolve(names)
        var target: [PublicKey: UInt64] = [:]
        for feed in feedSet.feeds { target[feed.key] = await feed.contiguousLength }
        for indexer in targets { try await indexer.waitIndexed(target) }
    }

    /// Pauses the named views (all for `nil`); returns once each has committed its batch in flight.
    public func pause(_ names: [String]? = nil) async throws {
        try checkOpen()
        for indexer in try resolve(names) { await indexer.pause() }
    }

    /// Pauses view `name`.
    public func pause(_ name: String) async throws {
        try await pause([name])
    }

    /// Resumes the named views (all for `nil`); a failed view retries from its last checkpoint.
    public func resume(_ names: [String]? = nil) async throws {
        try checkOpen()
        for indexer in try resolve(names) { try await indexer.resume() }
    }

    /// Resumes view `name`.
    public func resume(_ name: String) async throws {
        try await resume([name])
    }

    // MARK: Closing

    /// Finishes the batches in flight, stops the views, closes every feed and the store. Idempotent.
    public func close() async throws {
        if isClosed { return }
        isClosed = true
        for name in viewOrder { await indexers[name]?.indexer.stop() }
        feedSet.changes.close()
        for name in viewOrder { await indexers[name]?.task.value }
        var failure: (any Error)?
        for feed in feedSet.feeds {
            do { try await feed.close() } catch { failure = failure ?? error }
        }
        database.close()
        try? lock?.close()
        errorSink.finish()
        if let failure { throw failure }
    }
}
