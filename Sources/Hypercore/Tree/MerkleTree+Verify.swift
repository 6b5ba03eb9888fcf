/// Proof verification (spec D.5, "Verifying a response").
extension MerkleTree {
    /// A proof that verified: the nodes it authenticates (without the stored node it is anchored at), the new
    /// signed state if it upgraded, and the block.
    struct VerifiedProof {
        var nodes: [TreeNode]
        var upgrade: (roots: [TreeNode], length: UInt64, signature: Signature)?
        var block: (index: UInt64, value: [UInt8])?
    }

    /// Verifies `proof` against the local tree and `key`, without changing anything.
    ///
    /// - Throws: ``HypercoreError`` — `.forkMismatch`, `.staleUpgrade`, `.invalidProof` (wrong shape),
    ///   `.invalidChecksum` (hashes do not meet the trusted tree), `.invalidSignature`.
    func verify(_ proof: Proof, key: PublicKey) throws -> VerifiedProof {
        guard proof.fork == fork else {
            throw HypercoreError(.forkMismatch, "proof for fork \(proof.fork), the feed is at fork \(fork)")
        }
        guard proof.block == nil || proof.hash == nil else {
            throw HypercoreError(.invalidProof, "a proof may carry a block or a hash, not both")
        }
        try Self.checkBounds(proof)
        var verified = VerifiedProof(nodes: [], upgrade: nil, block: nil)
        // Each sibling adds itself and a parent; reserved once rather than grown append by append.
        let pathNodes = proof.block?.nodes.count ?? proof.hash?.nodes.count ?? 0
        let upgradeNodes = proof.upgrade.map { $0.nodes.count + $0.additionalNodes.count } ?? 0
        verified.nodes.reserveCapacity(1 + 2 * pathNodes + 2 * upgradeNodes)

        // 1. The block (or hash) path up to an unverified node R.
        var top: TreeNode?
        if let block = proof.block {
            let leaf = block.value.withUnsafeBytes { TreeNode.leaf(blockIndex: block.index, data: $0) }
            top = try climb(from: leaf, siblings: block.nodes[...], into: &verified.nodes)
            verified.block = (block.index, block.value)
        } else if let hash = proof.hash {
            guard let first = hash.nodes.first, first.index == hash.index else {
                throw HypercoreError(.invalidProof, "a hash proof must start with node \(hash.index)")
            }
            top = try climb(from: first, siblings: hash.nodes.dropFirst(), into: &verified.nodes)
        }

        // 2. The upgrade.
        var consumed = false
        if let upgrade = proof.upgrade {
            guard upgrade.start == length else {
                throw HypercoreError(.staleUpgrade, "upgrade starts at \(upgrade.start), the feed has length \(length)")
            }
            let (upgraded, usedTop) = try verifyUpgrade(upgrade, top: top, fork: proof.fork, key: key,
                                                        into: &verified.nodes)
            verified.upgrade = upgraded
            consumed = usedTop
        }

        // 3. A path not anchored by the upgrade must meet a node we trust.
        if let top, !consumed {
            let stored = try nodes.get(top.index)
            let trusted = stored ?? roots.first { $0.index == top.index }
            guard let trusted else {
                throw HypercoreError(.invalidProof, "proof ends at node \(top.index), which is not in the verified tree")
            }
            guard trusted.hash == top.hash, trusted.size == top.size else {
                throw HypercoreError(.invalidChecksum, "proof does not match the verified node \(top.index)")
            }
            // The anchor is stored already (the last node the climb added): nothing to record again.
            if stored != nil, verified.nodes.last?.index == top.index { verified.nodes.removeLast() }
        }
        return verified
    }

    /// Flat-tree indexes a proof may name: trees of fewer than 2^61 blocks. Below it, every sibling and parent
    /// the verifier computes fits in 64 bits (a parent lies between its children).
    static let maxProofIndex: UInt64 = 1 << 62
    /// Bytes under one proof node: JavaScript peers stop at 2^53, and sums of a proof's sizes cannot overflow.
    static let maxProofSize: UInt64 = 1 << 53

    /// Refuses a proof naming an index or size no tree has, before any arithmetic on the peer's numbers.
    private static func checkBounds(_ proof: Proof) throws {
        func check(_ nodes: [TreeNode]) throws {
            for node in nodes where node.index >= maxProofIndex || node.size >= maxProofSize {
                throw HypercoreError(.invalidProof, "proof node \(node.index) of size \(node.size) is out of range")
            }
        }
        if let block = proof.block {
            guard block.index < maxProofIndex / 2 else {
                throw HypercoreError(.invalidProof, "block \(block.index) is out of range")
            }
            try check(block.nodes)
        }
        if let hash = proof.hash {
            guard hash.index < maxProofIndex else {
                throw HypercoreError(.invalidProof, "node \(hash.index) is out of range")
            }
            try check(hash.nodes)
        }
        if let upgrade = proof.upgrade {
            let end = upgrade.start.addingReportingOverflow(upgrade.length)
            guard !end.overflow, end.partialValue <= maxProofIndex / 2 else {
                throw HypercoreError(.invalidProof, "upgrade \(upgrade.start)+\(upgrade.length) is out of range")
            }
            try check(upgrade.nodes)
            try check(upgrade.additionalNodes)
        }
    }

    private func climb(from start: TreeNode, siblings: ArraySlice<TreeNode>, into out: inout [TreeNode]) throws -> TreeNode {
        var current = start
        out.append(current)
        for node in siblings {
            guard node.index == FlatTree.sibling(current.index) else {
                throw HypercoreError(.invalidProof, "expected sibling \(FlatTree.sibling(current.index)), got node \(node.index)")
            }
            out.append(node)
            current = TreeNode.parent(current, node)
            out.append(current)
        }
        return current
    }

    private func verifyUpgrade(
        _ upgrade: Proof.Upgrade, top: TreeNode?, fork: UInt64, key: PublicKey, into out: inout [TreeNode]
    ) throws -> (upgrade: (roots: [TreeNode], length: UInt64, signature: Signature), usedTop: Bool) {
        let (to, overflow) = (upgrade.start + upgrade.length).multipliedReportingOverflow(by: 2)
        guard upgrade.length > 0, !overflow else {
            throw HypercoreError(.invalidProof, "invalid upgrade length \(upgrade.length)")
        }
        var queue = upgrade.nodes[...]
        var usedTop = false
        func take(_ index: UInt64) throws -> TreeNode {
            if let top, !usedTop, top.index == index {
                usedTop = true
                return top
            }
            guard let node = queue.popFirst(), node.index == index else {
                throw HypercoreError(.invalidProof, "upgrade: expected node \(index)")
            }
            out.append(node)
            return node
        }

        let old = roots
        var newRoots = [TreeNode]()
        var i = 0
        for root in FlatTree.fullRoots(to) {
            if i < old.count && old[i].index == root {
                newRoots.append(old[i])
                i += 1
                continue
            }
            if i < old.count {
                // Grow the last old root into `root`, absorbing the old roots to its left.
                var left = old[i..<(old.count - 1)]
                var current = old[old.count - 1]
                while current.index != root {
                    guard FlatTree.depth(current.index) < FlatTree.depth(root) else {
                        throw HypercoreError(.invalidProof, "upgrade: old roots do not grow into root \(root)")
                    }
                    let sibling = FlatTree.sibling(current.index)
                    let node: TreeNode
                    if sibling < current.index {
                        guard let l = left.popLast(), l.index == sibling else {
                            throw HypercoreError(.invalidProof, "upgrade: old root \(sibling) does not pair")
                        }
                        node = l
                    } else {
                        node = try take(sibling)
                    }
                    current = TreeNode.parent(current, node)
                    out.append(current)
                }
                guard left.isEmpty else { throw HypercoreError(.invalidProof, "upgrade: old roots left over") }
                i = old.count
                newRoots.append(current)
                continue
            }
            newRoots.append(try take(root))
        }
        guard i == old.count else {
            throw HypercoreError(.invalidProof, "upgrade does not extend the verified tree")
        }
        guard queue.isEmpty else { throw HypercoreError(.invalidProof, "upgrade: \(queue.count) unexpected nodes") }

        // Additional nodes: append and merge while the last two roots are siblings.
        for node in upgrade.additionalNodes {
            out.append(node)
            newRoots.append(node)
            while newRoots.count >= 2,
                  newRoots[newRoots.count - 2].index == FlatTree.sibling(newRoots[newRoots.count - 1].index) {
                let right = newRoots.removeLast()
                let left = newRoots.removeLast()
                let parent = TreeNode.parent(left, right)
                out.append(parent)
                newRoots.append(parent)
            }
        }
        guard let last = newRoots.last else { throw HypercoreError(.invalidProof, "upgrade has no roots") }
        let newLength = FlatTree.rightSpan(last.index) / 2 + 1
        guard newRoots.map(\.index) == FlatTree.fullRoots(2 * newLength) else {
            throw HypercoreError(.invalidProof, "upgrade roots are not the full roots of length \(newLength)")
        }
        guard upgrade.signature.count == 64 else {
            throw HypercoreError(.unsupported, "signature of \(upgrade.signature.count) bytes (only compat cores are supported)")
        }
        let signature = try Signature(upgrade.signature)
        let signable = Caps.treeSignableCompat(treeHash: Hashing.tree(newRoots), length: newLength, fork: fork)
        guard Signer.verify(signature, signable, publicKey: key) else {
            throw HypercoreError(.invalidSignature, "upgrade signature for length \(newLength) does not verify")
        }
        return ((newRoots, newLength, signature), usedTop)
    }
}
