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
    /// Durability of feed appends. Default `.durable`.
    public var durability: Durability
    /// How many undecodable-entry and view errors ``Kappa/errors`` buffers for a slow reader. Default 1,000.
    public var errorBuffer: Int
    /// The most feed files kept open at once (each feed has four); idle ones are closed and reopened on
    /// use. `nil` (the default) derives it from the process's limit on open files
    /// (`FilePool.defaultCapacity()`: half the soft `RLIMIT_NOFILE`). When the process runs out of
    /// descriptors anyway, idle feed files are closed and the bound lowered instead of failing.
    public var maxOpenFiles: Int?
    /// One memory budget, in bytes, for the cached Merkle tree pages of all feeds together. Default 32 MiB.
    /// (Each open feed also keeps a 64 KiB read-ahead window while it is read sequentially.)
    public var cacheBytes: Int
    /// The database's 32-byte shared key: only peers that know it can replicate the database. `nil` (the
    /// default) uses the key stored with the database, or generates one at creation and stores it. A key given
    /// for an existing database must be the stored one.
    public var sharedKey: Bytes32?
    /// The most feed keys a replication peer may put in one `have` or `want` message; more end the session
    /// with ``KappaError/Code/tooManyFeeds``. Default 1,024.
    public var maxFeedsPerMessage: Int
    /// The most feeds a replication peer may offer in one session; more end the session with
    /// ``KappaError/Code/tooManyFeeds`` before any of the excess is added. Default 65,536.
    public var maxFeedsFromPeer: Int

    /// Creates options.
    public init(durability: Durability = .durable, errorBuffer: Int = 1000, maxOpenFiles: Int? = nil,
                cacheBytes: Int = 32 << 20, sharedKey: Bytes32? = nil, maxFeedsPerMessage: Int = 1024,
                maxFeedsFromPeer: Int = 65_536) {
        self.sharedKey = sharedKey
        self.maxFeedsPerMessage = maxFeedsPerMessage
        self.maxFeedsFromPeer = maxFeedsFromPeer
        self.cacheBytes = cacheBytes
        self.durability = durability
        self.errorBuffer = errorBuffer
        self.maxOpenFiles = maxOpenFiles
    }
}

/// A view's checkpoint in a database (``Kappa/viewCheckpoints()``).
public struct KappaViewCheckpoint: Sendable {
    /// The name the view was attached under.
    public var name: String
    /// The version it was last attached with.
    public var version: Int
    /// Per feed, how many of its entries the view has indexed (the next seq to index).
    public var indexed: [PublicKey: UInt64]
    /// True when a view is attached under this name now (in this process).
    public var isAttached: Bool

    /// The entries indexed, all feeds together.
    public var totalIndexed: UInt64 { indexed.values.reduce(0, +) }
}

/// What a database knows about one of its feeds (``Kappa/info()``).
public struct KappaFeedInfo: Sendable {
    /// The feed key.
    public var key: PublicKey
    /// The feed's directory (or `memory`).
    public var location: String
    /// The local writer name, for a local writer.
    public var writerName: String?
    /// True when the feed holds its secret key.
    public var isWritable: Bool
    /// The signed length (0 for a damaged feed).
    public var length: UInt64
    /// How many blocks are held from 0 without a gap.
    public var contiguousLength: UInt64
    /// The first block that does not read, when views are held back there.
    public var heldBackAt: UInt64?
    /// Why the feed is unavailable (its files do not open), or `nil` when it is open.
    public var error: KappaError?

    /// True when the feed is open and usable.
    public var isAvailable: Bool { error == nil }
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
///
/// The database owns everything it starts: ``close()`` ends its view indexers and closes its files. A database
/// released without ``close()`` cancels its indexers, and keeps its directory locked until they have ended.
/// A damaged feed does not take the database down: it is reported on ``errors`` and in ``info()``, and the
/// other feeds keep working.
public actor Kappa<Value: Codable & Sendable> {
    /// Everything that went wrong while opening and indexing: damaged feeds, undecodable entries (skipped) and
    /// view failures.
    public nonisolated let errors: AsyncStream<KappaError>
    private let errorSink: AsyncStream<KappaError>.Continuation

    /// The value encoding of this database.
    public nonisolated let encoding: ValueEncoding<Value>
    /// Where the data lives.
    public nonisolated let storage: KappaStorage
    /// The 32-byte shared key: peers replicate this database only if they know it (see
    /// ``replicate(over:isInitiator:live:)``). Given in ``KappaOptions/sharedKey`` or generated at creation;
    /// persisted with the database.
    public nonisolated let sharedKey: Bytes32
    /// The database's static key pair for the Noise handshake (its identity on the network); persisted.
    nonisolated let identity: KeyPair
    /// The public half of the database's identity: what replication peers see as this database's static key.
    public nonisolated var identityKey: PublicKey { identity.publicKey }

    /// The user-data key under which a local writer's feed keeps its name (so names survive losing the store).
    static var writerNameKey: String { "kappa/writer" }

    let options: KappaOptions
    private let database: SQLiteDatabase
    /// The feed files' descriptors; for a directory it holds the `LOCK` for as long as any feed file lives.
    private let files: FilePool
    let feedSet: FeedSet
    /// The tree-page cache budget all feeds share.
    private let cacheBudget: CacheBudget
    private let tasks = OwnedTasks()
    /// Running replication sessions.
    package nonisolated let sessions = OwnedTasks()
    private var feedsByKey: [PublicKey: Feed] = [:]
    /// Local writer names and their feed keys (whether or not the feed opened).
    private var writers: [String: PublicKey] = [:]
    /// Feeds that are known but did not open.
    private var unavailable: [PublicKey: (location: String, writable: Bool, error: KappaError)] = [:]
    private var indexers: [String: ViewIndexer<Value>] = [:]
    private var viewOrder: [String] = []
    private var isClosed = false

    /// Opens (or creates) a database in the directory at `path`.
    /// - Throws: ``KappaError/Code/locked`` when another process has it open (or a feed of it is open on its
    ///   own); ``KappaError/Code/invalidPath`` for an empty path; storage errors.
    public init(path: String, encoding: ValueEncoding<Value> = .json, options: KappaOptions = KappaOptions()) async throws {
        try await self.init(storage: .directory(path), encoding: encoding, options: options)
    }

    /// Opens (or creates) a database.
    ///
    /// Feeds whose files do not open are reported on ``errors`` and listed as unavailable by ``info()``; the
    /// database opens without them.
    /// - Throws: ``KappaError/Code/locked``, ``KappaError/Code/invalidPath``, ``KappaError/Code/store``.
    public init(storage: KappaStorage, encoding: ValueEncoding<Value> = .json, options: KappaOptions = KappaOptions()) async throws {
        self.storage = storage
        self.encoding = encoding
        self.options = options
        let (errors, errorSink) = AsyncStream.makeStream(of: KappaError.self,
                                                         bufferingPolicy: .bufferingNewest(max(1, options.errorBuffer)))
        self.errors = errors
        self.errorSink = errorSink
        feedSet = FeedSet(report: { errorSink.yield($0) })
        cacheBudget = CacheBudget(limit: options.cacheBytes)
        switch storage {
        case .memory:
            files = FilePool(capacity: options.maxOpenFiles)
            database = try SQLiteDatabase(path: nil)
        case .directory(let path):
            guard !path.isEmpty else { throw KappaError(.invalidPath, "a database path cannot be empty") }
            let directory = try FileDirectory(path: path)
            let lockFile: FileLock
            do {
                lockFile = try FileLock.acquire(directory.path + "/LOCK", .exclusive)
            } catch let error as StorageError where error.code == .locked {
                throw KappaError(.locked, "\(path) is open in another process or Kappa instance, or a feed of it is open", cause: error)
            }
            files = FilePool(capacity: options.maxOpenFiles, lock: lockFile)
            _ = try FileDirectory(path: path + "/feeds")
            database = try SQLiteDatabase(path: path + "/views.sqlite")
        }
        try database.withConnection { try $0.execute(CoreStore.schema) }
        (sharedKey, identity) = try Self.loadKeys(database, given: options.sharedKey)
        try await loadFeeds()
    }

    deinit {
        // Released without close(): stop what it started. The indexers hold the feeds and the file pool, which
        // holds the lock, so the directory stays locked until they have ended.
        sessions.cancelAll()
        tasks.cancelAll()
        feedSet.changes.close()
        errorSink.finish()
    }

    /// Opens a database, runs `body`, and closes it whatever `body` does.
    public static func withCore<R: Sendable>(
        at path: String, encoding: ValueEncoding<Value> = .json, options: KappaOptions = KappaOptions(),
        isolation: isolated (any Actor)? = #isolation,
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

    private func feedPath(for key: PublicKey) -> String {
        switch storage {
        case .memory: "memory"
        case .directory(let path): "\(path)/feeds/\(Hashing.discoveryKey(key).hex)"
        }
    }

    private func feedDirectory(for key: PublicKey) throws -> any StorageDirectory {
        switch storage {
        case .memory: MemoryDirectory()
        case .directory: try FileDirectory(path: feedPath(for: key), pool: files)
        }
    }

    /// Blocks read from files are checked against their leaf hashes (a damaged file gives an error, not wrong
    /// bytes); blocks in memory were verified when they were appended or downloaded and nothing outside the
    /// process can change them, so reading them again skips the hash.
    private var feedOptions: FeedOptions {
        let inMemory = if case .memory = storage { true } else { false }
        return FeedOptions(durability: options.durability, verifyReads: !inMemory, cacheBudget: cacheBudget)
    }

    private func report(_ error: KappaError) {
        errorSink.yield(error)
    }

    private func loadFeeds() async throws {
        guard case .directory(let path) = storage else { return }
        let stored = try database.withConnection { try CoreStore.feedList($0) }
        for (key, writable) in stored {
            let location = feedPath(for: key)
            do {
                // Checked before opening, which would create a missing directory.
                guard FileDirectory.isDirectory(location) else { throw HypercoreError(.corrupt, "\(location) is missing") }
                let directory = try feedDirectory(for: key)
                guard directory.exists("oplog") else { throw HypercoreError(.corrupt, "\(location) holds no oplog") }
                register(try Feed.open(storage: directory, key: key, options: feedOptions))
            } catch {
                markUnavailable(key, location: location, writable: writable, error: error)
            }
        }
        // A feed directory created just before a crash (or a store that was lost) may be missing from the list:
        // adopt what is a feed, report what is not.
        let known = Set(stored.map { Hashing.discoveryKey($0.key).hex })
        let present = (try? FileManager.default.contentsOfDirectory(atPath: path + "/feeds")) ?? []
        for name in present.sorted() where !known.contains(name) {
            let location = "\(path)/feeds/\(name)"
            do {
                guard FileDirectory.isDirectory(location) else {
                    throw KappaError(.damagedFeed, "\(location) is not a feed directory; ignored")
                }
                let directory = try FileDirectory(path: location, pool: files)
                guard directory.exists("oplog") else {
                    throw KappaError(.damagedFeed, "\(location) holds no feed (no oplog); ignored")
                }
                let feed = try Feed.open(storage: directory, options: feedOptions)
                guard Hashing.discoveryKey(feed.key).hex == name else {
                    try? await feed.close()
                    throw KappaError(.damagedFeed, "\(location) holds feed \(feed.key), whose directory is named otherwise; ignored")
                }
                try database.withConnection { try CoreStore.addFeed($0, key: feed.key, writable: feed.writable) }
                register(feed)
            } catch let error as KappaError {
                report(error)
            } catch {
                report(KappaError(.damagedFeed, "\(location) does not open as a feed; ignored", cause: error))
            }
        }
        writers = try database.withConnection { try CoreStore.writers($0) }
        // Names kept with the feeds themselves restore writers the store lost.
        for feed in feedSet.feeds where feed.writable {
            guard let bytes = await feed.userData(Self.writerNameKey), let name = String(validating: bytes, as: UTF8.self),
                  !name.isEmpty, writers[name] == nil, !writers.values.contains(feed.key) else { continue }
            try database.withConnection { try CoreStore.addWriter($0, name: name, key: feed.key) }
            writers[name] = feed.key
        }
    }

    private func markUnavailable(_ key: PublicKey, location: String, writable: Bool, error: any Error) {
        let wrapped = KappaError(.damagedFeed, "feed \(key) at \(location) does not open; it is unavailable", cause: error)
        unavailable[key] = (location, writable, wrapped)
        report(wrapped)
    }

    /// Adds `feed` to the feed set the views read from.
    private func register(_ feed: Feed) {
        feedsByKey[feed.key] = feed
        feedSet.add(feed)
    }

    /// The stored shared key and identity, or new ones (`given` for the shared key), stored now.
    private static func loadKeys(_ database: SQLiteDatabase, given: Bytes32?) throws -> (Bytes32, KeyPair) {
        try database.withConnection { c in
            try c.transaction {
                let stored = try CoreStore.setting(c, CoreStore.sharedKeySetting) {
                    given?.bytes ?? randomBytes(32)
                }
                guard let sharedKey = try? Bytes32(stored) else {
                    throw KappaError(.store, "the stored shared key is not 32 bytes")
                }
                if let given, given != sharedKey {
                    throw KappaError(.invalidKey, "the database was created with another shared key")
                }
                let seed = try CoreStore.setting(c, CoreStore.identitySeedSetting) { randomBytes(32) }
                do {
                    return (sharedKey, try KeyPair.fromSeed(seed))
                } catch {
                    throw KappaError(.store, "the stored identity seed does not make a key pair", cause: error)
                }
            }
        }
    }

    private static func randomBytes(_ count: Int) -> [UInt8] {
        var generator = SystemRandomNumberGenerator()
        return (0..<count).map { _ in UInt8.random(in: 0...255, using: &generator) }
    }

    func checkOpen() throws {
        if isClosed { throw KappaError(.closed, "the database is closed") }
    }

    /// The local writable feed called `name`, created on first use. Names persist across restarts (in the
    /// store and with the feed itself) and never resolve to a remote feed.
    /// - Throws: ``KappaError/Code/invalidName`` for an empty name, ``KappaError/Code/feedUnavailable`` when the
    ///   writer's feed is damaged (no new feed is started beside it), ``KappaError/Code/closed``.
    public func writer(_ name: String) async throws -> KappaWriter<Value> {
        try checkOpen()
        guard !name.isEmpty else { throw KappaError(.invalidName, "a writer name cannot be empty") }
        if let key = writers[name] {
            if let feed = feedsByKey[key] { return KappaWriter(feed: feed, name: name, encoding: encoding) }
            let reason = unavailable[key]?.error
            throw KappaError(.feedUnavailable, "writer \(name)'s feed \(key) at \(feedPath(for: key)) is unavailable", cause: reason)
        }
        let pair = KeyPair.random()
        let feed = try Feed.create(storage: try feedDirectory(for: pair.publicKey), keyPair: pair, options: feedOptions)
        // Nothing awaits before the name is taken, so concurrent calls for one name get one feed.
        try database.withConnection { c in
            try c.transaction {
                try CoreStore.addFeed(c, key: feed.key, writable: true)
                try CoreStore.addWriter(c, name: name, key: feed.key)
            }
        }
        writers[name] = feed.key
        register(feed)
        // The name also goes with the feed, so it is recovered if the store is lost.
        try await feed.setUserData(Self.writerNameKey, Array(name.utf8))
        return KappaWriter(feed: feed, name: name, encoding: encoding)
    }

    /// Adds a remote (read-only) feed by key, or returns the feed already known under that key.
    /// - Throws: ``KappaError/Code/feedUnavailable`` when the feed is known but damaged, `.closed`.
    public func addFeed(_ key: PublicKey) async throws -> Feed {
        try checkOpen()
        if let feed = feedsByKey[key] { return feed }
        if let damaged = unavailable[key] {
            throw KappaError(.feedUnavailable, "feed \(key) at \(damaged.location) is unavailable", cause: damaged.error)
        }
        let feed = try Feed.replica(key: key, storage: try feedDirectory(for: key), options: feedOptions)
        try database.withConnection { try CoreStore.addFeed($0, key: key, writable: false) }
        register(feed)
        return feed
    }

    /// The feed with `key`, or `nil` (also for a known feed that is unavailable; see ``info()``).
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

    /// All open feeds, local and remote, in the order they were added (stable across restarts). Feeds that did
    /// not open are left out; ``info()`` lists them.
    public func feeds() -> [Feed] {
        feedSet.feeds
    }

    /// Every known feed with its state: open ones (with their lengths, and where damage holds views back) and
    /// unavailable ones (with the error that made them so).
    public func info() async -> [KappaFeedInfo] {
        let names = Dictionary(writers.map { ($0.value, $0.key) }, uniquingKeysWith: { a, _ in a })
        var out = [KappaFeedInfo]()
        for feed in feedSet.feeds {
            out.append(KappaFeedInfo(key: feed.key, location: feed.location, writerName: names[feed.key],
                                     isWritable: feed.writable, length: await feed.length,
                                     contiguousLength: await feed.contiguousLength,
                                     heldBackAt: feedSet.damage(of: feed.key), error: nil))
        }
        for (key, damaged) in unavailable.sorted(by: { $0.value.location < $1.value.location }) {
            out.append(KappaFeedInfo(key: key, location: damaged.location, writerName: names[key],
                                     isWritable: damaged.writable, length: 0, contiguousLength: 0, heldBackAt: nil,
                                     error: damaged.error))
        }
        return out
    }

    /// How many feed files are open now (bounded by ``KappaOptions/maxOpenFiles``).
    var openFeedFiles: Int { files.openCount }

    /// The bound on open feed files in force.
    var maxOpenFeedFiles: Int { files.capacity }

    /// The bytes of tree pages all feeds hold now (bounded by ``KappaOptions/cacheBytes``).
    var cachedTreeBytes: Int { cacheBudget.usedBytes }

    /// How many tasks the database owns now (its view indexers).
    var ownedTaskCount: Int { tasks.count }

    /// Every view that has indexed into this database — attached now or in an earlier run — with its version and
    /// how far it got in each feed (its checkpoint), by name.
    /// - Throws: ``KappaError/Code/store`` when the store cannot be read, `.closed`.
    public func viewCheckpoints() throws -> [KappaViewCheckpoint] {
        try checkOpen()
        return try database.withConnection { c in
            try CoreStore.checkpointedViews(c).compactMap { name in
                try CoreStore.checkpoint(c, view: name).map { checkpoint in
                    KappaViewCheckpoint(name: name, version: Int(checkpoint.version), indexed: checkpoint.progress,
                                        isAttached: indexers[name] != nil)
                }
            }
        }
    }

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
        let encoding = self.encoding
        try view.store.attach(database, view: name, decode: { try encoding.decode($0) })
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
            try database.withConnection { try CoreStore.resetCheckpoint($0, view: name, version: version) }
        } else if let stored, stored.version == version {
            progress = stored.progress
        } else {
            try database.withConnection { c in
                try c.transaction {
                    try CoreStore.clearView(c, view: name)
                    try CoreStore.resetCheckpoint(c, view: name, version: version)
                }
            }
        }
        // The view's tables (created again after a version bump dropped them).
        try database.withConnection { c in try c.transaction { try view.prepare(ViewSQL(c, view: name)) } }
        guard indexers[name] == nil else { throw KappaError(.duplicateView, "a view named \(name) is already used") }
        let errorSink = self.errorSink
        let indexer = ViewIndexer(name: name, view: view, encoding: encoding, database: database,
                                  feeds: feedSet, progress: progress,
                                  report: { errorSink.yield($0) })
        // The task holds the file pool (and with it the directory's lock) until the indexer has ended.
        let files = self.files
        let started = tasks.spawn {
            await indexer.run()
            withExtendedLifetime(files) {}
        }
        guard started else { throw KappaError(.closed, "the database is closed") }
        indexers[name] = indexer
        viewOrder.append(name)
    }

    private func resolve(_ names: [String]?) throws -> [ViewIndexer<Value>] {
        guard let names else { return viewOrder.compactMap { indexers[$0] } }
        return try names.map { name in
            guard let indexer = indexers[name] else { throw KappaError(.unknownView, "no view named \(name)") }
            return indexer
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
    /// available, without a gap, when `ready` was called. Returns at once for a paused view. A feed held back
    /// by a block that does not read counts up to that block.
    /// - Throws: ``KappaError/Code/unknownView``; a failed view's error (``KappaError/Code/viewFailed``);
    ///   ``KappaError/Code/closed``; `CancellationError` when the calling task is cancelled.
    public func ready(_ names: [String]?) async throws {
        try checkOpen()
        try Task.checkCancellation()
        let targets = try resolve(names)
        var target: [PublicKey: UInt64] = [:]
        for feed in feedSet.feeds { target[feed.key] = await feed.contiguousLength }
        for indexer in targets { try await indexer.waitIndexed(target) }
    }

    /// Pauses the named views (all for `nil`); returns once each has committed its batch in flight.
    /// - Throws: ``KappaError/Code/unknownView``, `.closed`; `CancellationError` when the calling task is
    ///   cancelled before the views have stopped (they still pause).
    public func pause(_ names: [String]? = nil) async throws {
        try checkOpen()
        for indexer in try resolve(names) { try await indexer.pause() }
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

    /// Finishes the batches in flight, stops the views, closes every feed and the store, and unlocks the
    /// directory. Idempotent.
    public func close() async throws {
        if isClosed { return }
        isClosed = true
        // Replication sessions end first: they write to the feeds.
        sessions.cancelAll()
        await sessions.waitAll()
        for name in viewOrder { await indexers[name]?.stop() }
        feedSet.changes.close()
        await tasks.waitAll()
        var failure: (any Error)?
        for feed in feedSet.feeds {
            do { try await feed.close() } catch { failure = failure ?? error }
        }
        database.close()
        files.releaseLock()
        errorSink.finish()
        if let failure { throw failure }
    }
}
