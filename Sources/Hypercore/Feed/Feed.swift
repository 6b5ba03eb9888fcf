/// A signed append-only log, byte-compatible with a hypercore 10 "compat" core (key = Ed25519 public key).
///
/// A feed is *writable* when it holds the secret key; otherwise it is a replica that accepts blocks with
/// proofs from the writer (``receive(_:)``), in any order, and may hold a sparse subset.
///
/// ```swift
/// let feed = try Feed.create(storage: try FileDirectory(path: "./feed"))
/// let seq = try await feed.append(Array("hello".utf8))
/// let block = try await feed.get(seq)
/// ```
///
/// Files follow hypercore 10's layout (`oplog`, `tree`, `bitfield`, `data`), so a directory written here opens
/// in JavaScript hypercore 10 and the other way round.
public actor Feed {
    /// The feed's public key.
    public nonisolated let key: PublicKey
    /// The discovery key peers use to find the feed without learning its key.
    public nonisolated let discoveryKey: Bytes32
    /// True when this feed holds the secret key.
    public nonisolated let writable: Bool

    /// Where the feed's files are (a directory path, or `memory`), as error messages name it.
    public nonisolated let location: String

    let options: FeedOptions
    let keyPair: KeyPair?
    let files: Files
    var tree: MerkleTree
    var bitfield: Bitfield
    var oplog: Oplog
    /// The feed's user data (hypercore's `setUserData`), in the order keys were first set.
    var userDataEntries: [(key: String, value: [UInt8])]
    var contiguous: UInt64
    var isClosed = false
    /// Durable appends: whether one is between its write and its flush, and the appends queued behind it.
    var appendLeaderActive = false
    var lastAppendRound = 0
    var appendQueue: [(blocks: [[UInt8]], continuation: CheckedContinuation<AppendTurn, any Error>)] = []
    /// Read-ahead window over the data file for sequential gets (never beyond the byte length at fill time).
    var readAhead = ReadAhead()
    let signal = ChangeSignal()
    /// Checkpoints written since the feed opened (header flushes of the oplog), for tests.
    package internal(set) var checkpoints = 0
    /// Block ranges local readers wait for; replication sessions fetch them (``Feed/get(_:timeout:)``).
    package nonisolated let wants = Wants()
    /// Blocks requested from peers and not yet received, shared by every session replicating this feed.
    package nonisolated let claims = BlockClaims()
    let commit: GroupCommit?

    struct Files {
        let oplog: any RandomAccessStorage
        let tree: any RandomAccessStorage
        let bitfield: any RandomAccessStorage
        let data: any RandomAccessStorage
        /// The directory's locks for this use (``StorageDirectory/lockForUse()``), released on close.
        let locks: [FileLock]
        var all: [any RandomAccessStorage] { [oplog, tree, bitfield, data] }
    }

    // MARK: Opening

    /// Opens or creates the feed in `storage`; use the static factories, which name the location in errors.
    init(storage: any StorageDirectory, keyPair: KeyPair?, key: PublicKey?, options: FeedOptions) throws {
        let locks = try storage.lockForUse()
        let files = Files(oplog: try storage.open("oplog"), tree: try storage.open("tree"),
                          bitfield: try storage.open("bitfield"), data: try storage.open("data"), locks: locks)
        self.files = files
        self.location = storage.location
        self.options = options
        commit = storage.isPersistent && options.durability == .durable
            ? GroupCommit(files: [files.data, files.oplog]) : nil

        var opened: (Oplog, Oplog.Opened)
        do {
            opened = try Oplog.open(files.oplog)
        } catch let error as HypercoreError where error.code == .corrupt {
            // A crash while writing the very first header leaves an unreadable oplog and nothing else.
            guard try files.tree.size() == 0, try files.data.size() == 0 else { throw error }
            try files.oplog.truncate(to: 0)
            opened = try Oplog.open(files.oplog)
        }
        var oplog = opened.0
        let tree = MerkleTree(nodes: NodeStore(file: files.tree, budget: options.cacheBudget))
        var bitfield = Bitfield()
        let resolvedKey: PublicKey
        var pair = keyPair
        var userData: [(key: String, value: [UInt8])] = []

        if let header = opened.1.header {
            if let key, key != header.key {
                throw HypercoreError(.wrongKey, "storage holds feed \(header.key), not \(key)")
            }
            if let manifest = header.manifest, !manifest.isCompat(key: header.key) {
                throw HypercoreError(.unsupported, "feed \(header.key) is a manifest core; only compat cores are supported")
            }
            if let keyPair, keyPair.publicKey != header.key {
                throw HypercoreError(.wrongKey, "the key pair does not belong to feed \(header.key)")
            }
            resolvedKey = header.key
            if pair == nil, let secret = header.secretKey {
                pair = try KeyPair(publicKey: header.key, secretKey: try SecretKey(secret))
            }
            userData = header.userData
            bitfield = try Bitfield(file: files.bitfield)
            let signature = try header.tree.signature.map { try Signature($0) }
            try tree.restore(length: header.tree.length, fork: header.tree.fork, signature: signature)
            if header.tree.length > 0 {
                guard let rootHash = header.tree.rootHash, rootHash == tree.treeHash().bytes else {
                    throw HypercoreError(.corrupt, "tree file does not match the oplog header's root hash")
                }
            }
            try Self.replay(opened.1.entries, tree: tree, bitfield: &bitfield, userData: &userData)
            if tree.length > 0 {
                guard let signature = tree.signature,
                      Signer.verify(signature, tree.signable(), publicKey: header.key) else {
                    throw HypercoreError(.corrupt, "stored signature does not verify for length \(tree.length)")
                }
            }
        } else {
            guard let key = keyPair?.publicKey ?? key else {
                throw HypercoreError(.invalidOperation, "storage holds no feed; a key or key pair is needed to create one")
            }
            resolvedKey = key
        }
        if pair != nil {
            // A writer holds every block below its length.
            bitfield.set(start: 0, length: tree.length, true)
        }
        let contiguous = bitfield.firstIndex(of: false, from: 0).map { min($0, tree.length) } ?? tree.length
        if opened.1.header == nil || !opened.1.entries.isEmpty {
            let header = Self.header(key: resolvedKey, keyPair: pair, userData: userData, tree: tree, contiguous: contiguous)
            try Self.checkpoint(files: files, tree: tree, bitfield: &bitfield, oplog: &oplog, header: header,
                                sync: commit != nil)
        }
        self.key = resolvedKey
        self.keyPair = pair
        self.writable = pair != nil
        self.discoveryKey = Hashing.discoveryKey(resolvedKey)
        self.tree = tree
        self.bitfield = bitfield
        self.oplog = oplog
        self.contiguous = contiguous
        self.userDataEntries = userData
    }


    // MARK: State

    /// The signed length: blocks `0..<length` exist (a replica may hold only some of them).
    public var length: UInt64 { tree.length }
    /// Total bytes of the blocks `0..<length`.
    public var byteLength: UInt64 { tree.byteLength }
    /// The fork id (0 until a truncation).
    public var fork: UInt64 { tree.fork }
    /// The number of blocks held from 0 without a gap.
    public var contiguousLength: UInt64 { contiguous }
    /// The tree hash the signature covers.
    public var treeHash: Bytes32 { tree.treeHash() }
    /// The signature of the current length, `nil` for an empty feed.
    public var signature: Signature? { tree.signature }

    func checkOpen() throws {
        if isClosed { throw HypercoreError(.closed, "feed \(key) is closed") }
    }

    // MARK: Closing

    /// Writes a checkpoint, waits for pending flushes and closes the files. Further use throws
    /// ``HypercoreError/Code/closed``; live sequences end. Closing twice is harmless.
    public func close() async throws {
        if isClosed { return }
        isClosed = true
        signal.close()
        if !appendQueue.isEmpty && appendLeaderActive {
            // The leader still owns its flush; queued appends were never written.
            let queued = appendQueue
            appendQueue.removeAll()
            for append in queued { append.continuation.resume(throwing: HypercoreError(.closed, "feed \(key) is closed")) }
        }
        var failure: (any Error)?
        // An untouched feed writes nothing: a checkpoint only folds pending oplog entries into the header.
        if oplog.entryBytes > 0 {
            do { try checkpoint() } catch { failure = error }
        }
        if let commit {
            do { try await commit.waitDurable(commit.latest) } catch { failure = failure ?? error }
        }
        if failure == nil { tree.nodes.releaseAll() }
        readAhead.invalidate()
        for file in files.all {
            do { try file.close() } catch { failure = failure ?? error }
        }
        for lock in files.locks.reversed() { lock.release() }
        if let failure { throw failure }
    }
}
