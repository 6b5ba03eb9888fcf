extension Feed {
    // MARK: Proofs

    /// How many tree levels above node `index` this feed lacks (the `nodes` of a request).
    public func missingNodes(_ index: UInt64) throws -> UInt64 {
        try checkOpen()
        return try tree.missingNodes(index)
    }

    /// Builds the proofs answering `requests`, each or its error, in one call (a session serves a batch).
    package func proofs(for requests: [ProofRequest]) -> [Result<Proof, any Error>] {
        requests.map { request in Result { try proof(for: request) } }
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
        var writes = DataWrites()
        guard let entry = try store(proof, writes: &writes) else { return }
        try writes.flush(to: files.data)
        try oplog.append([entry])
        try await finishWrite()
    }

    /// Verifies and stores `proofs` in order with one oplog write and one flush (a replication session's
    /// answers, batched). Proofs before a failing one are kept; nothing of the failing one or after it is.
    /// A stale upgrade (another peer already delivered that length) is skipped, not an error.
    /// - Returns: the number of proofs that stored something new (a block or a length).
    /// - Throws: the first proof's error, after keeping what came before it (as ``receive(_:)``).
    @discardableResult
    public func receive(contentsOf proofs: [Proof]) async throws -> Int {
        try await receiveBatch(proofs).reduce(0) { $0 + ($1 == .stored ? 1 : 0) }
    }

    /// What ``receiveBatch(_:anchoredLater:)`` did with one proof.
    package enum ReceiveOutcome: Sendable, Equatable {
        /// Verified and stored: it brought a block or a length this feed did not have.
        case stored
        /// Verified (or a stale upgrade), nothing new.
        case notNew
        /// Not stored: the node anchoring it was to come with the proof of another block, which has not been
        /// stored (see ``ClaimedBlock/anchoredByEarlierClaim``). Ask for the block again.
        case unanchored
    }

    /// Like ``receive(contentsOf:)``; returns what became of each proof.
    ///
    /// - Parameter anchoredLater: for each proof (or none), the `nodes` of its request when that request was
    ///   anchored by an earlier claim (``ClaimedBlock/anchoredByEarlierClaim``), else `nil`. Such a proof with
    ///   exactly that many nodes whose anchoring node is not stored yet is ``ReceiveOutcome/unanchored``
    ///   instead of failing.
    package func receiveBatch(_ proofs: [Proof], anchoredLater: [UInt64?] = []) async throws -> [ReceiveOutcome] {
        try checkOpen()
        var entries = [OplogEntry]()
        entries.reserveCapacity(proofs.count)
        var outcomes = [ReceiveOutcome]()
        outcomes.reserveCapacity(proofs.count)
        var failure: (any Error)?
        // Blocks are written when the batch is verified (before its oplog entries), one write per run of adjacent
        // blocks: nothing reads the data file in between (no suspension). A failed write records none of them.
        var writes = DataWrites()
        for (i, proof) in proofs.enumerated() {
            do {
                if let entry = try store(proof, writes: &writes) {
                    // Blocks stored one after another share one entry (their nodes, one bitfield range).
                    if !entries.isEmpty, entries[entries.count - 1].absorb(entry) {} else { entries.append(entry) }
                    outcomes.append(.stored)
                } else {
                    outcomes.append(.notNew)
                }
            } catch let error as HypercoreError where error.code == .staleUpgrade {
                outcomes.append(.notNew)
            } catch let error as HypercoreError
                        where error.code == .invalidProof && i < anchoredLater.count
                        && anchoredLater[i].map({ isUnanchored(proof, nodes: $0) }) == true {
                // Verification fails before anything changes; this one only lacks its anchor so far.
                outcomes.append(.unanchored)
            } catch {
                failure = error
                break
            }
        }
        try writes.flush(to: files.data)
        if !entries.isEmpty {
            try oplog.append(entries)
            try await finishWrite()
        }
        if let failure { throw failure }
        return outcomes
    }

    /// True when `proof` is a block proof of exactly `nodes` nodes on this fork whose anchoring node (`nodes`
    /// levels above its leaf) is neither stored nor a root.
    private func isUnanchored(_ proof: Proof, nodes: UInt64) -> Bool {
        guard proof.fork == tree.fork, proof.upgrade == nil, proof.hash == nil, let block = proof.block,
              UInt64(block.nodes.count) == nodes, nodes < 64, block.index < UInt64.max / 4 else { return false }
        var top = 2 * block.index
        for _ in 0..<nodes { top = FlatTree.parent(top) }
        if (try? tree.nodes.get(top)) != nil { return false }
        return !tree.roots.contains { $0.index == top }
    }

    /// Verifies `proof`, queues its block in `writes` and applies it to the tree and bitfield in memory; returns the oplog
    /// entry that records it, or `nil` when it brings nothing new. Throws before changing anything when the proof
    /// does not verify.
    private func store(_ proof: Proof, writes: inout DataWrites) throws -> OplogEntry? {
        guard !writable else {
            throw HypercoreError(.invalidOperation, "a writable feed does not accept proofs")
        }
        let verified = try tree.verify(proof, key: key)
        let oldLength = tree.length
        if let block = verified.block, verified.upgrade == nil, bitfield.get(block.index) {
            return nil  // already held (another peer delivered it first): nothing new
        }
        if let block = verified.block {
            let newLength = verified.upgrade?.length ?? oldLength
            guard block.index < newLength else {
                throw HypercoreError(.invalidProof, "block \(block.index) is beyond the proven length \(newLength)")
            }
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
            let offset = try tree.offsetForStoring(block: block.index, size: UInt64(block.value.count),
                                                   under: verified.upgrade?.roots ?? tree.roots)
            readAhead.invalidate()
            writes.add(block.value, at: offset, flushingTo: files.data)
        }
        if let upgrade = verified.upgrade {
            tree.upgrade(roots: upgrade.roots, length: upgrade.length, fork: tree.fork, signature: upgrade.signature)
        }
        if let block = verified.block {
            bitfield.set(block.index, true)
            if block.index == contiguous {
                contiguous = bitfield.firstIndex(of: false, from: contiguous).map { min($0, tree.length) } ?? tree.length
            }
        }
        if verified.upgrade != nil, contiguous < tree.length {
            contiguous = bitfield.firstIndex(of: false, from: contiguous).map { min($0, tree.length) } ?? tree.length
        }
        return entry
    }
}

/// Block values verified in one batch, waiting to be written: adjacent ones go out in one (vectored) write.
///
/// A write that fails stops the writing; ``flush(to:)`` then throws its error, so that the caller records
/// nothing of the batch in the oplog.
struct DataWrites {
    private var start: UInt64 = 0
    private var end: UInt64 = 0
    private var chunks: [[UInt8]] = []
    private var failure: (any Error)?

    /// Queues `bytes` for `offset`; writes what is queued first when `bytes` does not follow it.
    mutating func add(_ bytes: [UInt8], at offset: UInt64, flushingTo file: any RandomAccessStorage) {
        if !chunks.isEmpty, offset != end || chunks.count >= 1024 { writeQueued(to: file) }
        if chunks.isEmpty {
            start = offset
            end = offset
        }
        chunks.append(bytes)
        end += UInt64(bytes.count)
    }

    /// Writes what is queued.
    /// - Throws: the error of this write or of an earlier one.
    mutating func flush(to file: any RandomAccessStorage) throws {
        writeQueued(to: file)
        if let failure { throw failure }
    }

    private mutating func writeQueued(to file: any RandomAccessStorage) {
        guard !chunks.isEmpty else { return }
        defer { chunks.removeAll(keepingCapacity: true) }
        guard failure == nil else { return }
        do {
            if chunks.count == 1 {
                try file.write(chunks[0], at: start)
            } else {
                try file.write(chunks: chunks, at: start)
            }
        } catch {
            failure = error
        }
    }
}

extension OplogEntry {
    /// Takes `next` into this entry when both record only tree nodes and adjacent downloaded blocks (replayed
    /// the same: nodes first, then the bitfield range); returns false, changing nothing, otherwise.
    mutating func absorb(_ next: OplogEntry) -> Bool {
        guard userData == nil, treeUpgrade == nil, next.userData == nil, next.treeUpgrade == nil,
              let range = bitfield, let nextRange = next.bitfield, !range.drop, !nextRange.drop,
              case let (end, overflow) = range.start.addingReportingOverflow(range.length), !overflow,
              end == nextRange.start, nextRange.length <= UInt64.max - end
        else { return false }
        treeNodes.append(contentsOf: next.treeNodes)
        bitfield?.length += nextRange.length
        return true
    }
}
