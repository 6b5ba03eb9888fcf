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
        guard let entry = try store(proof) else { return }
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
        for (i, proof) in proofs.enumerated() {
            if i < anchoredLater.count, let nodes = anchoredLater[i], isUnanchored(proof, nodes: nodes) {
                outcomes.append(.unanchored)
                continue
            }
            do {
                if let entry = try store(proof) {
                    entries.append(entry)
                    outcomes.append(.stored)
                } else {
                    outcomes.append(.notNew)
                }
            } catch let error as HypercoreError where error.code == .staleUpgrade {
                outcomes.append(.notNew)
            } catch {
                failure = error
                break
            }
        }
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

    /// Verifies `proof`, writes its block and applies it to the tree and bitfield in memory; returns the oplog
    /// entry that records it, or `nil` when it brings nothing new. Throws before changing anything when the proof
    /// does not verify.
    private func store(_ proof: Proof) throws -> OplogEntry? {
        guard !writable else {
            throw HypercoreError(.invalidOperation, "a writable feed does not accept proofs")
        }
        let verified = try tree.verify(proof, key: key)
        let oldLength = tree.length
        if let block = verified.block, verified.upgrade == nil, bitfield.get(block.index), verified.nodes.count <= 1 {
            return nil  // already held, nothing new
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
            try files.data.write(block.value, at: offset)
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
