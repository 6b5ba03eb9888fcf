import Synchronization

/// One memory budget for the caches of many feeds (their Merkle tree pages): when the pages all of them hold
/// pass ``limit`` bytes, a feed that loads another page first drops its own clean pages. A database gives one
/// budget to all its feeds, so memory stays bounded however many feeds it has. Without a budget, each feed
/// keeps up to about 40 MiB of clean pages.
public final class CacheBudget: Sendable {
    /// The most bytes the feeds' caches should hold together.
    public let limit: Int
    private let used = Atomic<Int>(0)

    /// A budget of `limit` bytes.
    public init(limit: Int) {
        self.limit = max(0, limit)
    }

    /// The bytes held now.
    public var usedBytes: Int { used.load(ordering: .relaxed) }

    var isOver: Bool { used.load(ordering: .relaxed) >= limit }

    func add(_ bytes: Int) {
        used.wrappingAdd(bytes, ordering: .relaxed)
    }

    /// The bytes of pages written (by appends or downloads) and not yet flushed, which no feed can drop.
    private let dirty = Atomic<Int>(0)

    /// True when pages not yet flushed take half the budget or more: feeds holding some then checkpoint.
    var dirtyIsOver: Bool { dirty.load(ordering: .relaxed) >= limit / 2 }

    func addDirty(_ bytes: Int) {
        dirty.wrappingAdd(bytes, ordering: .relaxed)
    }
}
