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

    let options: FeedOptions
    let keyPair: KeyPair?
    let files: Files
    var tree: MerkleTree
    var bitfield: Bitfield
    var oplog: Oplog
    var userData: [(key: String, value: [UInt8])]
    var contiguous: UInt64
    var isClosed = false
    /// Durable appends: whether one is between its write and its flush, and the appends queued behind it.
    var appendLeaderActive = false
    var lastAppendRound = 0
    var appendQueue: [(blocks: [[UInt8]], continuation: CheckedContinuation<AppendTurn, any Error>)] = []
    /// Read-ahead window over the data file for sequential gets (never beyond the byte length at fill time).
    var readAhead = ReadAhead()
    let signal = ChangeSignal()
    let commit: GroupCommit?

    struct Files {
        let oplog: any RandomAccessStorage
        let tree: any RandomAccessStorage
        let bitfield: any RandomAccessStorage
        let data: any RandomAccessStorage
        var all: [any RandomAccessStorage] { [oplog, tree, bitfield, data] }
    }

    // MARK: Opening

    /// Creates a new writable feed in `storage` (which must not hold a feed yet).
    /// - Parameters:
    ///   - storage: where the four files live; ``MemoryDirectory`` by default.
    ///   - keyPair: the writer's key pair; random by default.
    /// - Throws: ``HypercoreError/Code/invalidOperation`` when `storage` already holds a feed; ``StorageError``.
    public static func create(
        storage: any StorageDirectory = MemoryDirectory(), keyPair: KeyPair = .random(), options: FeedOptions = .default
    ) throws -> Feed {
        if storage.exists("oplog") {
            throw HypercoreError(.invalidOperation, "storage already holds a feed; use Feed.open")
        }
        return try Feed(storage: storage, keyPair: keyPair, key: keyPair.publicKey, options: options)
    }

    /// Opens the feed stored in `storage`.
    /// - Parameters:
    ///   - key: when given, the stored feed must have this key.
    ///   - keyPair: a key pair to write with, for a feed stored without its secret key.
    /// - Throws: ``HypercoreError`` `.invalidOperation` when `storage` holds no feed, `.wrongKey`, `.corrupt`,
    ///   `.unsupported`; ``StorageError`` (`.locked` when another process or handle has it open).
    public static func open(
        storage: any StorageDirectory, key: PublicKey? = nil, keyPair: KeyPair? = nil, options: FeedOptions = .default
    ) throws -> Feed {
        guard storage.exists("oplog") else {
            throw HypercoreError(.invalidOperation, "storage holds no feed")
        }
        return try Feed(storage: storage, keyPair: keyPair, key: key, options: options)
    }

    /// Opens the feed in `storage`, or creates a read-only replica of `key` there when it is empty.
    /// - Throws: ``HypercoreError/Code/wrongKey`` when `storage` holds another feed.
    public static func replica(
        key: PublicKey, storage: any StorageDirectory = MemoryDirectory(), options: FeedOptions = .default
    ) throws -> Feed {
        try Feed(storage: storage, keyPair: nil, key: key, options: options)
    }

    private init(storage: any StorageDirectory, keyPair: KeyPair?, key: PublicKey?, options: FeedOptions) throws {
        let files = Files(oplog: try storage.open("oplog"), tree: try storage.open("tree"),
                          bitfield: try storage.open("bitfield"), data: try storage.open("data"))
        if let lockable = files.oplog as? FileStorage { try lockable.lockExclusive() }
        self.files = files
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
        let tree = MerkleTree(nodes: NodeStore(file: files.tree))
        var bitfield = Bitfield()
        let resolvedKey: PublicKey
        var pair = keyPair

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
            try Self.replay(opened.1.entries, tree: tree, bitfield: &bitfield)
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
            userData = []
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
    }

    private static func replay(_ entries: [OplogEntry], tree: MerkleTree, bitfield: inout Bitfield) throws {
        for entry in entries {
            for node in entry.treeNodes { try tree.nodes.put(node) }
            if let upgrade = entry.treeUpgrade {
                let signature = try Signature(upgrade.signature)
                try tree.restore(length: upgrade.length, fork: upgrade.fork, signature: signature)
            }
            if let b = entry.bitfield {
                let (end, overflow) = b.start.addingReportingOverflow(b.length)
                guard !overflow, end <= tree.length else {
                    throw HypercoreError(.corrupt, "oplog: bitfield range \(b.start)+\(b.length) beyond length \(tree.length)")
                }
                bitfield.set(start: b.start, length: b.length, !b.drop)
            }
        }
    }

    /// Writes tree nodes and bitfield pages to their files and a new oplog header, then empties the oplog.
    func checkpoint() throws {
        let header = Self.header(key: key, keyPair: keyPair, userData: userData, tree: tree, contiguous: contiguous)
        try Self.checkpoint(files: files, tree: tree, bitfield: &bitfield, oplog: &oplog, header: header,
                            sync: commit != nil)
    }

    private static func checkpoint(
        files: Files, tree: MerkleTree, bitfield: inout Bitfield, oplog: inout Oplog, header: OplogHeader, sync: Bool
    ) throws {
        try tree.nodes.flush(to: files.tree)
        try bitfield.flush(to: files.bitfield)
        if sync {
            try files.data.sync()
            try files.tree.sync()
            try files.bitfield.sync()
        }
        try oplog.flush(header, sync: sync)
    }

    private static func header(
        key: PublicKey, keyPair: KeyPair?, userData: [(key: String, value: [UInt8])], tree: MerkleTree, contiguous: UInt64
    ) -> OplogHeader {
        OplogHeader(
            key: key, manifest: Manifest.defaultCompat(publicKey: key),
            publicKey: key.bytes, secretKey: keyPair.map { $0.secretKey.withUnsafeBytes { Array($0) } },
            hasKeyPair: true, userData: userData,
            tree: .init(fork: tree.fork, length: tree.length, rootHash: tree.treeHash().bytes,
                        signature: tree.signature?.bytes),
            hints: [], contiguousLength: contiguous)
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

    // MARK: Appending

    /// Appends one block; returns its sequence number.
    /// - Throws: ``HypercoreError/Code/readOnly`` without a secret key, `.closed`; ``StorageError``.
    @discardableResult
    public func append(_ block: [UInt8]) async throws -> UInt64 {
        try await append(contentsOf: [block]).lowerBound
    }

    /// Appends blocks as one atomic batch with one signature; returns their sequence numbers.
    ///
    /// With durable storage, appends that arrive while an earlier one waits for its flush are written
    /// together with one signature and one flush (each call's blocks stay contiguous and atomic).
    /// - Throws: ``HypercoreError/Code/readOnly`` without a secret key, `.closed`; ``StorageError``.
    @discardableResult
    public func append(contentsOf blocks: [[UInt8]]) async throws -> Range<UInt64> {
        try checkOpen()
        guard keyPair != nil else { throw HypercoreError(.readOnly, "feed \(key) has no secret key") }
        guard !blocks.isEmpty else { return tree.length..<tree.length }
        guard let commit else {
            let range = try write([blocks])[0]
            try await finishWrite()
            return range
        }
        if appendLeaderActive {
            // Another append is waiting for its flush: queue behind it; its flush or the next leader writes us.
            let turn: AppendTurn = try await withCheckedThrowingContinuation { continuation in
                appendQueue.append((blocks, continuation))
            }
            if case .done(let range) = turn { return range }
            // `.lead`: the role was handed to us and stays marked active.
        } else {
            appendLeaderActive = true
        }
        if lastAppendRound > 1 {
            // The last flush was shared, so its appenders are about to come back: let them queue behind us so
            // this flush carries all of them. A lone appender never waits here.
            await Task.yield()
        }
        return try await lead(blocks, commit: commit)
    }

    /// Writes `blocks` with everything queued so far, then waits for one shared flush.
    private func lead(_ blocks: [[UInt8]], commit: GroupCommit) async throws -> Range<UInt64> {
        if isClosed {
            failQueuedAppends(HypercoreError(.closed, "feed \(key) is closed"))
            throw HypercoreError(.closed, "feed \(key) is closed")
        }
        let followers = appendQueue
        appendQueue.removeAll()
        lastAppendRound = followers.count + 1
        do {
            let ranges = try write([blocks] + followers.map(\.blocks))
            signal.notify()
            let ticket = commit.wrote()
            if oplog.entryBytes >= options.checkpointBytes { try checkpoint() }
            try await commit.waitDurable(ticket)
            for (follower, range) in zip(followers, ranges.dropFirst()) { follower.continuation.resume(returning: .done(range)) }
            handOverAppendLead()
            return ranges[0]
        } catch {
            for follower in followers { follower.continuation.resume(throwing: error) }
            handOverAppendLead()
            throw error
        }
    }

    /// What a queued append is told when it is resumed.
    enum AppendTurn: Sendable {
        case done(Range<UInt64>)
        case lead
    }

    /// Passes the leader role to the first queued append, or ends it.
    private func handOverAppendLead() {
        if appendQueue.isEmpty {
            appendLeaderActive = false
        } else {
            appendQueue.removeFirst().continuation.resume(returning: .lead)
            // The new leader takes the rest of the queue when it runs; keep the role marked active.
        }
    }

    /// Fails every queued append (nothing of theirs was written) and ends the leader role.
    private func failQueuedAppends(_ error: any Error) {
        let queued = appendQueue
        appendQueue.removeAll()
        appendLeaderActive = false
        for append in queued { append.continuation.resume(throwing: error) }
    }

    /// Signs and writes `groups` as one batch; returns each group's sequence numbers.
    private func write(_ groups: [[[UInt8]]]) throws -> [Range<UInt64>] {
        guard let keyPair else { throw HypercoreError(.readOnly, "feed \(key) has no secret key") }
        let start = tree.length
        var batch = tree.appendBatch()
        var ranges = [Range<UInt64>]()
        ranges.reserveCapacity(groups.count)
        for group in groups {
            let lower = batch.length
            for block in group { block.withUnsafeBytes { batch.append($0) } }
            ranges.append(lower..<batch.length)
        }
        let signable = Caps.treeSignableCompat(treeHash: Hashing.tree(batch.roots), length: batch.length, fork: tree.fork)
        let signature = Signer.sign(signable, secretKey: keyPair.secretKey)

        if groups.count == 1 {
            try files.data.write(chunks: groups[0], at: tree.byteLength)
        } else {
            try files.data.write(chunks: groups.flatMap { $0 }, at: tree.byteLength)
        }
        let entry = OplogEntry(
            userData: nil, treeNodes: batch.nodes,
            treeUpgrade: .init(fork: tree.fork, ancestors: start, length: batch.length, signature: signature.bytes),
            bitfield: .init(drop: false, start: start, length: batch.length - start))
        try oplog.append([entry])
        try tree.commit(batch, signature: signature)
        bitfield.set(start: start, length: batch.length - start, true)
        contiguous = tree.length
        return ranges
    }

    /// Wakes readers, checkpoints when the oplog is large, and waits for durability.
    private func finishWrite() async throws {
        signal.notify()
        let ticket = commit?.wrote()
        if oplog.entryBytes >= options.checkpointBytes {
            try checkpoint()
        }
        if let ticket, let commit { try await commit.waitDurable(ticket) }
    }

    // MARK: Reading

    /// True when block `index` is stored locally.
    public func has(_ index: UInt64) -> Bool {
        index < tree.length && bitfield.get(index)
    }

    /// The block at `index`.
    /// - Throws: ``HypercoreError`` `.outOfRange` beyond the length, `.blockNotAvailable` for a block a replica
    ///   does not hold, `.corrupt` when stored bytes do not match the tree, `.closed`.
    public func get(_ index: UInt64) throws -> [UInt8] {
        try checkOpen()
        guard index < tree.length else {
            throw HypercoreError(.outOfRange, "block \(index) is beyond the length \(tree.length)")
        }
        guard bitfield.get(index) else {
            throw HypercoreError(.blockNotAvailable, "block \(index) is not stored locally")
        }
        let range = try tree.byteRange(block: index)
        let bytes = try readAhead.read(files.data, offset: range.offset, count: Int(range.size), limit: tree.byteLength)
        try check(bytes, index: index, range: range)
        return bytes
    }

    private func check(_ bytes: [UInt8], index: UInt64, range: (offset: UInt64, size: UInt64, hash: Bytes32)) throws {
        guard bytes.count == Int(range.size) else {
            throw HypercoreError(.corrupt, "block \(index): data file holds \(bytes.count) of \(range.size) bytes")
        }
        if options.verifyReads, Hashing.leaf(bytes) != range.hash {
            throw HypercoreError(.corrupt, "block \(index) does not match its leaf hash")
        }
    }

    /// Up to `limit` blocks from `start` that are stored without a gap, read with one I/O call.
    /// Returns an empty array when block `start` is not held.
    public func getBatch(from start: UInt64, limit: Int) throws -> [[UInt8]] {
        try checkOpen()
        var count = 0
        while count < limit, start + UInt64(count) < tree.length, bitfield.get(start + UInt64(count)) { count += 1 }
        guard count > 0 else { return [] }
        var ranges = [(offset: UInt64, size: UInt64, hash: Bytes32)]()
        ranges.reserveCapacity(count)
        for i in 0..<UInt64(count) { ranges.append(try tree.byteRange(block: start + i)) }
        let first = ranges[0].offset
        let total = Int(ranges[count - 1].offset + ranges[count - 1].size - first)
        let span = try files.data.read(count: total, at: first)
        guard span.count == total else {
            throw HypercoreError(.corrupt, "data file holds \(span.count) of \(total) bytes at \(first)")
        }
        var blocks = [[UInt8]]()
        blocks.reserveCapacity(count)
        for (i, range) in ranges.enumerated() {
            let lower = Int(range.offset - first)
            let block = Array(span[lower..<(lower + Int(range.size))])
            try check(block, index: start + UInt64(i), range: range)
            blocks.append(block)
        }
        return blocks
    }

    // MARK: Proofs

    /// How many tree levels above node `index` this feed lacks (the `nodes` of a request).
    public func missingNodes(_ index: UInt64) throws -> UInt64 {
        try checkOpen()
        return try tree.missingNodes(index)
    }

    /// Builds the proof answering `request` (spec D.5).
    /// - Throws: ``HypercoreError`` `.forkMismatch`, `.invalidOperation`, `.blockNotAvailable`.
    public func proof(for request: ProofRequest) throws -> Proof {
        try checkOpen()
        let value = try request.block.map { try get($0.index) }
        return try tree.proof(for: request, value: value)
    }

    /// Verifies `proof` and stores what it proves: a new signed length and/or a block. Nothing is stored when
    /// verification fails.
    /// - Throws: ``HypercoreError`` `.invalidProof`, `.invalidChecksum`, `.invalidSignature`, `.staleUpgrade`,
    ///   `.forkMismatch`, `.invalidOperation` on a writable feed; ``StorageError``.
    public func receive(_ proof: Proof) async throws {
        try checkOpen()
        guard !writable else {
            throw HypercoreError(.invalidOperation, "a writable feed does not accept proofs")
        }
        let verified = try tree.verify(proof, key: key)
        let oldLength = tree.length
        if let block = verified.block, verified.upgrade == nil, bitfield.get(block.index), verified.nodes.count <= 1 {
            return  // already held, nothing new
        }
        var entry = OplogEntry(userData: nil, treeNodes: verified.nodes, treeUpgrade: nil, bitfield: nil)
        if let upgrade = verified.upgrade {
            entry.treeUpgrade = .init(fork: tree.fork, ancestors: oldLength, length: upgrade.length,
                                      signature: upgrade.signature.bytes)
        }
        if let block = verified.block {
            entry.bitfield = .init(drop: false, start: block.index, length: 1)
        }
        // Verified nodes go to the cache first: the block's byte offset is computed from them.
        for node in verified.nodes { try tree.nodes.put(node) }
        if let block = verified.block {
            let newLength = verified.upgrade?.length ?? oldLength
            guard block.index < newLength else {
                throw HypercoreError(.invalidProof, "block \(block.index) is beyond the proven length \(newLength)")
            }
            let offset = try tree.locate(block: block.index, under: verified.upgrade?.roots ?? tree.roots).offset
            readAhead.invalidate()
            try files.data.write(block.value, at: offset)
        }
        try oplog.append([entry])
        if let upgrade = verified.upgrade {
            tree.upgrade(roots: upgrade.roots, length: upgrade.length, fork: tree.fork, signature: upgrade.signature)
        }
        if let block = verified.block {
            bitfield.set(block.index, true)
            if block.index == contiguous {
                contiguous = bitfield.firstIndex(of: false, from: contiguous).map { min($0, tree.length) } ?? tree.length
            }
        }
        try await finishWrite()
    }

    // MARK: Live reading

    /// Blocks from `start` (at most `limit`) and the change version they were read at.
    func read(from start: UInt64, limit: Int) throws -> (blocks: [[UInt8]], version: UInt64, length: UInt64) {
        let version = signal.version
        return (try getBatch(from: start, limit: limit), version, tree.length)
    }

    /// Calls `observer` after every append and every verified download (on the writing task; keep it short).
    public nonisolated func onChange(_ observer: @escaping @Sendable () -> Void) {
        signal.observe(observer)
    }

    /// The blocks from `start` in order, as an `AsyncSequence`.
    ///
    /// With `live: false` the sequence ends at the current length (and throws
    /// ``HypercoreError/Code/blockNotAvailable`` at a block a replica lacks). With `live: true` it waits for
    /// appends and verified downloads and never ends by itself; cancelling the task or closing the feed ends it.
    public nonisolated func entries(from start: UInt64 = 0, live: Bool = false) -> FeedEntries {
        FeedEntries(feed: self, start: start, live: live)
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
        do { try checkpoint() } catch { failure = error }
        if let commit {
            do { try await commit.waitDurable(commit.latest) } catch { failure = failure ?? error }
        }
        for file in files.all {
            do { try file.close() } catch { failure = failure ?? error }
        }
        if let failure { throw failure }
    }
}
