extension Feed {
    // MARK: Opening

    /// Creates a new writable feed in `storage` (which must not hold a feed yet).
    /// - Parameters:
    ///   - storage: where the four files live; ``MemoryDirectory`` by default.
    ///   - keyPair: the writer's key pair; random by default.
    ///   - options: durability, checkpoint size and read verification.
    /// - Throws: ``HypercoreError/Code/invalidOperation`` when `storage` already holds a feed; ``StorageError``.
    public static func create(
        storage: any StorageDirectory = MemoryDirectory(), keyPair: KeyPair = .random(), options: FeedOptions = .default
    ) throws -> Feed {
        if storage.exists("oplog") {
            throw HypercoreError(.invalidOperation, "\(storage.location) already holds a feed; use Feed.open")
        }
        return try opening(storage: storage, keyPair: keyPair, key: keyPair.publicKey, options: options)
    }

    /// Opens the feed stored in `storage`.
    /// - Parameters:
    ///   - storage: where the four files are.
    ///   - key: when given, the stored feed must have this key.
    ///   - keyPair: a key pair to write with, for a feed stored without its secret key.
    ///   - options: durability, checkpoint size and read verification.
    /// - Throws: ``HypercoreError`` `.invalidOperation` when `storage` holds no feed, `.wrongKey`, `.corrupt`,
    ///   `.unsupported`; ``StorageError`` (`.locked` when another process or handle has it open).
    public static func open(
        storage: any StorageDirectory, key: PublicKey? = nil, keyPair: KeyPair? = nil, options: FeedOptions = .default
    ) throws -> Feed {
        guard storage.exists("oplog") else {
            throw HypercoreError(.invalidOperation, "\(storage.location) holds no feed (no oplog)")
        }
        return try opening(storage: storage, keyPair: keyPair, key: key, options: options)
    }

    /// Opens the feed in `storage`, or creates a read-only replica of `key` there when it is empty.
    /// - Throws: ``HypercoreError/Code/wrongKey`` when `storage` holds another feed.
    public static func replica(
        key: PublicKey, storage: any StorageDirectory = MemoryDirectory(), options: FeedOptions = .default
    ) throws -> Feed {
        try opening(storage: storage, keyPair: nil, key: key, options: options)
    }

    /// Opens the feed, naming its location in a ``HypercoreError`` (storage errors name their files already).
    private static func opening(
        storage: any StorageDirectory, keyPair: KeyPair?, key: PublicKey?, options: FeedOptions
    ) throws -> Feed {
        do {
            return try Feed(storage: storage, keyPair: keyPair, key: key, options: options)
        } catch let error as HypercoreError {
            throw HypercoreError(error.code, "feed at \(storage.location): \(error.message)", cause: error.cause)
        }
    }

    static func replay(
        _ entries: [OplogEntry], tree: MerkleTree, bitfield: inout Bitfield, userData: inout [(key: String, value: [UInt8])]
    ) throws {
        for entry in entries {
            if let change = entry.userData { applyUserData(change.key, change.value, to: &userData) }
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
        checkpoints += 1
        let header = Self.header(key: key, keyPair: keyPair, userData: userDataEntries, tree: tree, contiguous: contiguous)
        try Self.checkpoint(files: files, tree: tree, bitfield: &bitfield, oplog: &oplog, header: header,
                            sync: commit != nil)
    }

    static func checkpoint(
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

    static func header(
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

    /// Applies one user-data change as hypercore 10 does: a value replaces (or adds, at the end), `nil` or an empty
    /// value deletes.
    static func applyUserData(_ key: String, _ value: [UInt8]?, to entries: inout [(key: String, value: [UInt8])]) {
        let index = entries.firstIndex { $0.key == key }
        switch (index, value) {
        case (let i?, let value?) where !value.isEmpty: entries[i].value = value
        case (nil, let value?) where !value.isEmpty: entries.append((key, value))
        case (let i?, _): entries.remove(at: i)
        case (nil, _): break
        }
    }
}
