/// Flat-tree index math (mafintosh/flat-tree): a binary tree laid out in an array, leaves at even indices.
///
/// Block `k` is node `2k`; a tree of `n` blocks has head `2n`.
public enum FlatTree {
    /// The number of trailing one bits of `index` (leaves have depth 0).
    @inlinable
    public static func depth(_ index: UInt64) -> UInt64 {
        UInt64((~index).trailingZeroBitCount)
    }

    /// The position of `index` among the nodes of its depth.
    @inlinable
    public static func offset(_ index: UInt64) -> UInt64 {
        index & 1 == 0 ? index / 2 : index >> (depth(index) + 1)
    }

    /// The node at `depth` and `offset`: `(2·offset + 1)·2^depth − 1`.
    @inlinable
    public static func index(depth: UInt64, offset: UInt64) -> UInt64 {
        (2 * offset + 1) << depth - 1
    }

    /// The parent of `index`.
    @inlinable
    public static func parent(_ index: UInt64) -> UInt64 {
        let d = depth(index)
        return Self.index(depth: d + 1, offset: offset(index) >> 1)
    }

    /// The sibling of `index`.
    @inlinable
    public static func sibling(_ index: UInt64) -> UInt64 {
        let d = depth(index)
        return Self.index(depth: d, offset: offset(index) ^ 1)
    }

    /// The children of a parent node, or `nil` for a leaf.
    @inlinable
    public static func children(_ index: UInt64) -> (left: UInt64, right: UInt64)? {
        guard index & 1 == 1 else { return nil }
        let half = UInt64(1) << (depth(index) - 1)
        return (index - half, index + half)
    }

    /// The leftmost leaf under `index`.
    @inlinable
    public static func leftSpan(_ index: UInt64) -> UInt64 {
        index - ((UInt64(1) << depth(index)) - 1)
    }

    /// The rightmost leaf under `index`.
    @inlinable
    public static func rightSpan(_ index: UInt64) -> UInt64 {
        index + ((UInt64(1) << depth(index)) - 1)
    }

    /// The number of nodes (leaves and parents) under and including `index`.
    @inlinable
    public static func count(_ index: UInt64) -> UInt64 {
        (UInt64(1) << (depth(index) + 1)) - 1
    }

    /// The number of leaves under `index`.
    @inlinable
    public static func countLeaves(_ index: UInt64) -> UInt64 {
        UInt64(1) << depth(index)
    }

    /// True when `index`'s span (leaves and the parents between them) includes `other`.
    @inlinable
    public static func contains(_ index: UInt64, _ other: UInt64) -> Bool {
        leftSpan(index) <= other && other <= rightSpan(index)
    }

    /// True when `index` is a left child.
    @inlinable
    public static func isLeft(_ index: UInt64) -> Bool {
        offset(index) & 1 == 0
    }

    /// The full roots of a tree whose head is `head` (= 2 × length), left to right.
    /// - Precondition: `head` is even.
    public static func fullRoots(_ head: UInt64) -> [UInt64] {
        precondition(head & 1 == 0, "fullRoots takes an even head")
        var roots = [UInt64]()
        var remaining = head / 2
        var offset: UInt64 = 0
        while remaining > 0 {
            let p = UInt64(1) << (63 - UInt64(remaining.leadingZeroBitCount))
            roots.append(2 * offset + p - 1)
            offset += p
            remaining -= p
        }
        return roots
    }

    /// The parents of the full roots of `head`: the nodes those roots grow into next.
    public static func futureRoots(_ head: UInt64) -> [UInt64] {
        fullRoots(head).map(parent)
    }
}
