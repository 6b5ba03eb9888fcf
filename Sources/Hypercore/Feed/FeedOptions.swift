/// How a ``Feed`` trades durability for speed.
public enum Durability: Sendable, Hashable {
    /// An append returns after its oplog entry and data are flushed to stable storage (`fdatasync`).
    /// Concurrent appends share one flush (group commit).
    case durable
    /// No `fdatasync`: an append returns once written to the operating system. Survives a crash of the
    /// process (never a corrupt feed), but an operating-system crash or power loss may lose recent appends.
    case relaxed
}

/// Options for opening a ``Feed``.
public struct FeedOptions: Sendable {
    /// Durability of appends and downloads. Default ``Durability/durable``.
    public var durability: Durability
    /// Oplog size after which tree nodes and bitfield pages are written to their files and the header is
    /// rewritten (a checkpoint). Default 1 MiB.
    public var checkpointBytes: UInt64
    /// Check every block read against its leaf hash, so corrupt storage gives an error instead of wrong bytes.
    /// Default `true`.
    public var verifyReads: Bool
    /// A memory budget shared with other feeds for cached tree pages, or `nil` for a per-feed bound (about
    /// 40 MiB of clean pages).
    public var cacheBudget: CacheBudget?

    /// Creates options.
    public init(
        durability: Durability = .durable, checkpointBytes: UInt64 = 1 << 20, verifyReads: Bool = true,
        cacheBudget: CacheBudget? = nil
    ) {
        self.durability = durability
        self.checkpointBytes = checkpointBytes
        self.verifyReads = verifyReads
        self.cacheBudget = cacheBudget
    }

    /// The defaults: durable, 1 MiB checkpoints, verified reads.
    public static let `default` = FeedOptions()
}
