/// A node of a feed's Merkle tree: its flat-tree index, the byte size of the leaves it covers, and its hash.
public struct TreeNode: Hashable, Sendable {
    /// Flat-tree index (leaves are even: block `k` is node `2k`).
    public var index: UInt64
    /// Total byte length of the blocks under this node.
    public var size: UInt64
    /// BLAKE2b-256 hash (hypercore-crypto v3).
    public var hash: Bytes32

    /// Creates a node.
    public init(index: UInt64, size: UInt64, hash: Bytes32) {
        self.index = index
        self.size = size
        self.hash = hash
    }

    /// The leaf node of block `blockIndex` holding `data`.
    public static func leaf(blockIndex: UInt64, data: UnsafeRawBufferPointer) -> TreeNode {
        TreeNode(index: 2 * blockIndex, size: UInt64(data.count), hash: Hashing.leaf(data))
    }

    /// The parent of two sibling nodes (in either order).
    public static func parent(_ a: TreeNode, _ b: TreeNode) -> TreeNode {
        let (left, right) = a.index < b.index ? (a, b) : (b, a)
        return TreeNode(index: FlatTree.parent(left.index), size: left.size + right.size,
                        hash: Hashing.parent(left: left, right: right))
    }
}
