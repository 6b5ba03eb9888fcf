/// A feed's Merkle tree: roots, signed length, and the node store behind it.
///
/// Owned by one ``Feed`` actor; not thread-safe on its own.
final class MerkleTree {
    var nodes: NodeStore
    private(set) var roots: [TreeNode]
    private(set) var length: UInt64
    private(set) var byteLength: UInt64
    private(set) var fork: UInt64
    private(set) var signature: Signature?

    /// One-entry cursor for sequential reads: the byte range of the last block located.
    private var lastRange: (block: UInt64, offset: UInt64, size: UInt64)?
    /// One-entry cursor for sequential downloads: the byte range of the last block stored from a proof.
    private var lastStored: (fork: UInt64, block: UInt64, offset: UInt64, size: UInt64)?

    init(nodes: NodeStore) {
        self.nodes = nodes
        roots = []
        length = 0
        byteLength = 0
        fork = 0
        signature = nil
    }

    /// Sets the signed state, loading the roots of `length` from the node store.
    /// - Throws: ``HypercoreError/Code/corrupt`` when a root is missing.
    func restore(length: UInt64, fork: UInt64, signature: Signature?) throws {
        var roots = [TreeNode]()
        for index in FlatTree.fullRoots(2 * length) {
            guard let node = try nodes.peek(index) else {
                throw HypercoreError(.corrupt, "tree: root node \(index) of length \(length) is missing")
            }
            roots.append(node)
        }
        self.roots = roots
        self.length = length
        self.fork = fork
        self.signature = signature
        byteLength = roots.reduce(0) { $0 + $1.size }
        lastRange = nil
        lastStored = nil
    }

    /// The tree hash of the current roots.
    func treeHash() -> Bytes32 { Hashing.tree(roots) }

    /// The 80-byte compat signable of the current state.
    func signable() -> [UInt8] {
        Caps.treeSignableCompat(treeHash: treeHash(), length: length, fork: fork)
    }

    // MARK: Appending

    /// New leaves and parents for appended blocks, before they are signed and committed.
    struct AppendBatch {
        let ancestors: UInt64
        var roots: [TreeNode]
        var nodes: [TreeNode] = []
        var length: UInt64
        var byteLength: UInt64

        mutating func append(_ data: UnsafeRawBufferPointer) {
            var node = TreeNode.leaf(blockIndex: length, data: data)
            nodes.append(node)
            length += 1
            byteLength += node.size
            while let last = roots.last, last.index == FlatTree.sibling(node.index) {
                roots.removeLast()
                node = TreeNode.parent(last, node)
                nodes.append(node)
            }
            roots.append(node)
        }
    }

    func appendBatch() -> AppendBatch {
        AppendBatch(ancestors: length, roots: roots, length: length, byteLength: byteLength)
    }

    /// Applies a signed append batch.
    func commit(_ batch: AppendBatch, signature: Signature) throws {
        for node in batch.nodes { try nodes.put(node) }
        roots = batch.roots
        length = batch.length
        byteLength = batch.byteLength
        self.signature = signature
    }

    /// Applies a new signed state whose nodes are already stored (oplog replay, verified upgrade).
    func upgrade(roots: [TreeNode], length: UInt64, fork: UInt64, signature: Signature) {
        self.roots = roots
        self.length = length
        self.fork = fork
        self.signature = signature
        byteLength = roots.reduce(0) { $0 + $1.size }
    }

    // MARK: Reading

    private func node(_ index: UInt64) throws -> TreeNode {
        guard let node = try nodes.get(index) else {
            throw HypercoreError(.blockNotAvailable, "tree node \(index) is not stored")
        }
        return node
    }

    /// The byte offset, size and leaf hash of block `block`, walking down from the roots (no scan).
    func byteRange(block: UInt64) throws -> (offset: UInt64, size: UInt64, hash: Bytes32) {
        guard block < length else {
            throw HypercoreError(.outOfRange, "block \(block) is beyond the length \(length)")
        }
        if let last = lastRange, last.block + 1 == block {
            let leaf = try node(2 * block)
            let offset = last.offset + last.size
            try checkBounds(block, offset, leaf.size)
            lastRange = (block, offset, leaf.size)
            return (offset, leaf.size, leaf.hash)
        }
        let (offset, leaf) = try locate(block: block, under: roots)
        try checkBounds(block, offset, leaf.size)
        lastRange = (block, offset, leaf.size)
        return (offset, leaf.size, leaf.hash)
    }

    /// Walks down from `roots` to block `block`: its byte offset (the sizes of everything to its left) and its
    /// leaf node. Works for any roots whose nodes are stored (the current ones, or a verified upgrade's).
    func locate(block: UInt64, under roots: [TreeNode]) throws -> (offset: UInt64, leaf: TreeNode) {
        let target = 2 * block
        var offset: UInt64 = 0
        for root in roots {
            if FlatTree.rightSpan(root.index) < target {
                offset += root.size
                continue
            }
            var current = root
            while current.index != target {
                guard let (left, right) = FlatTree.children(current.index) else { break }
                if target <= FlatTree.rightSpan(left) {
                    current = try node(left)
                } else {
                    offset += try node(left).size
                    current = try node(right)
                }
            }
            guard current.index == target else {
                throw HypercoreError(.corrupt, "tree: no path from root \(root.index) to block \(block)")
            }
            return (offset, current)
        }
        throw HypercoreError(.invalidProof, "block \(block) is not under the roots")
    }

    /// The byte offset at which to store verified block `block` of `size` bytes: right after the block stored
    /// last when that was `block − 1` (a download in order walks no tree), else walked down from `roots`
    /// (``locate(block:under:)``).
    func offsetForStoring(block: UInt64, size: UInt64, under roots: [TreeNode]) throws -> UInt64 {
        var offset: UInt64?
        if let last = lastStored, last.fork == fork, last.block &+ 1 == block {
            let (end, overflow) = last.offset.addingReportingOverflow(last.size)
            if !overflow { offset = end }
        }
        let result = try offset ?? locate(block: block, under: roots).offset
        lastStored = (fork, block, result, size)
        return result
    }

    /// Stored node sizes are not trusted blindly: a block must lie inside the signed byte length.
    private func checkBounds(_ block: UInt64, _ offset: UInt64, _ size: UInt64) throws {
        let (end, overflow) = offset.addingReportingOverflow(size)
        guard !overflow, end <= byteLength else {
            throw HypercoreError(.corrupt, "tree: block \(block) at \(offset)+\(size) exceeds the byte length \(byteLength)")
        }
    }

    /// How many tree levels above node `index` are not stored (what a `request` asks for).
    func missingNodes(_ index: UInt64) throws -> UInt64 {
        let head = 2 * length
        if FlatTree.rightSpan(index) >= head { return 0 }
        var count: UInt64 = 0
        var current = index
        while !FlatTree.contains(current, head), try nodes.get(current) == nil {
            count += 1
            current = FlatTree.parent(current)
        }
        return count
    }
}
