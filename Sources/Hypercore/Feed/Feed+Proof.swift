extension Feed {
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
}
