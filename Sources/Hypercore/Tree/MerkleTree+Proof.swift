/// Proof generation (spec D.5, "Serving").
extension MerkleTree {
    /// Builds the proof answering `request`.
    ///
    /// - Parameter value: the block bytes when `request.block` is set.
    /// - Throws: ``HypercoreError/Code/forkMismatch`` for another fork, ``HypercoreError/Code/invalidOperation``
    ///   for a request that cannot be satisfied (bad upgrade range, `nodes` out of bounds, missing nodes).
    func proof(for request: ProofRequest, value: [UInt8]?) throws -> Proof {
        guard request.fork == fork else {
            throw HypercoreError(.forkMismatch, "request for fork \(request.fork), the feed is at fork \(fork)")
        }
        guard request.block == nil || request.hash == nil else {
            throw HypercoreError(.invalidOperation, "a request may name a block or a hash, not both")
        }
        let head = 2 * length
        var from: UInt64 = 0
        var to = head
        if let upgrade = request.upgrade {
            // Checked before doubling: the range comes from the peer and may be anything.
            guard upgrade.length > 0, upgrade.start < length, upgrade.length <= length - upgrade.start else {
                throw HypercoreError(.invalidOperation,
                                     "invalid upgrade range \(upgrade.start)+\(upgrade.length) for length \(length)")
            }
            from = 2 * upgrade.start
            to = from + 2 * upgrade.length
        }

        var target: (index: UInt64, nodes: UInt64, isBlock: Bool)?
        if let block = request.block {
            guard block.index < length else {
                throw HypercoreError(.invalidOperation, "block \(block.index) is beyond the length \(length)")
            }
            target = (2 * block.index, block.nodes, true)
        } else if let hash = request.hash {
            target = (hash.index, hash.nodes, false)
        }

        var proof = Proof(fork: fork)
        var targetNodes: [TreeNode]?
        var subTree = head

        if let t = target, request.upgrade == nil || t.index < from {
            guard t.index < to, FlatTree.rightSpan(t.index) < to else {
                throw HypercoreError(.invalidOperation, "node \(t.index) is beyond the proven length")
            }
            var top = t.index
            for _ in 0..<t.nodes {
                top = FlatTree.parent(top)
                if FlatTree.contains(top, to) {
                    throw HypercoreError(.invalidOperation, "nodes \(t.nodes) is out of bounds for node \(t.index)")
                }
            }
            subTree = top
            targetNodes = try path(from: t.index, to: top, includeSelf: !t.isBlock)
        } else if let t = target {
            subTree = t.index
        }

        if let upgrade = request.upgrade {
            var upgradeNodes = [TreeNode]()
            try upgradeProof(from: from, to: to, target: target.map { ($0.index, !$0.isBlock) },
                             subTree: subTree, nodes: &upgradeNodes, targetNodes: &targetNodes)
            var additional = [TreeNode]()
            if head > to {
                var none: [TreeNode]?
                try upgradeProof(from: to, to: head, target: nil, subTree: head, nodes: &additional, targetNodes: &none)
            }
            guard let signature else {
                throw HypercoreError(.invalidOperation, "the feed has no signature to prove an upgrade with")
            }
            proof.upgrade = Proof.Upgrade(start: upgrade.start, length: upgrade.length, nodes: upgradeNodes,
                                          additionalNodes: additional, signature: signature.bytes)
        }

        if let t = target {
            guard let nodes = targetNodes else {
                throw HypercoreError(.invalidOperation, "node \(t.index) is not covered by the upgrade")
            }
            if t.isBlock {
                guard let value else { throw HypercoreError(.invalidOperation, "block value missing") }
                proof.block = Proof.Block(index: t.index / 2, value: value, nodes: nodes)
            } else {
                proof.hash = Proof.Hash(index: t.index, nodes: nodes)
            }
        }
        return proof
    }

    /// The siblings from `index` up to (not including) `top`, bottom-up; with `includeSelf`, the node itself first.
    private func path(from index: UInt64, to top: UInt64, includeSelf: Bool) throws -> [TreeNode] {
        var out = [TreeNode]()
        let (upper, lower) = (FlatTree.depth(top), FlatTree.depth(index))
        out.reserveCapacity((upper > lower ? Int(Swift.min(upper - lower, 64)) : 0) + (includeSelf ? 1 : 0))
        if includeSelf { out.append(try required(index)) }
        var current = index
        while current != top {
            out.append(try required(FlatTree.sibling(current)))
            current = FlatTree.parent(current)
        }
        return out
    }

    private func required(_ index: UInt64) throws -> TreeNode {
        guard let node = try nodes.get(index) else {
            throw HypercoreError(.invalidOperation, "tree node \(index) is not stored")
        }
        return node
    }

    /// The nodes taking a tree of head `from` to head `to`: right-hand siblings on the path from leaf `from − 2`
    /// up to its root in `to`, then every later root whole. When the target node lies in one of those
    /// subtrees, its path up to that subtree replaces the subtree (no duplicate nodes).
    private func upgradeProof(
        from: UInt64, to: UInt64, target: (index: UInt64, includeSelf: Bool)?, subTree: UInt64,
        nodes out: inout [TreeNode], targetNodes: inout [TreeNode]?
    ) throws {
        var connected = from == 0
        for root in FlatTree.fullRoots(to) {
            if from > 0 && FlatTree.rightSpan(root) < from - 1 { continue }  // the requester has it
            if !connected && FlatTree.contains(root, from - 2) {
                connected = true
                let leaf = from - 2
                var current = leaf
                while current != root {
                    let sibling = FlatTree.sibling(current)
                    if sibling > leaf {
                        if let t = target, targetNodes == nil, FlatTree.contains(sibling, subTree) {
                            targetNodes = try path(from: t.index, to: sibling, includeSelf: t.includeSelf)
                        } else {
                            out.append(try required(sibling))
                        }
                    }
                    current = FlatTree.parent(current)
                }
                continue
            }
            connected = true
            if let t = target, targetNodes == nil, FlatTree.contains(root, subTree) {
                targetNodes = try path(from: t.index, to: root, includeSelf: t.includeSelf)
                continue
            }
            out.append(try required(root))
        }
    }
}
