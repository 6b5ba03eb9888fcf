import Hypercore

/// The pure part of merging feeds: where each feed is read next, and how a batch is shared out so that no
/// feed starves while another is written to.
struct MergeState {
    /// The next sequence number to read, per feed.
    private(set) var positions: [PublicKey: UInt64]
    /// The most entries per batch.
    let maxBatch: Int
    /// Which feed goes first in the next batch.
    private var rotation = 0
    /// Per feed, the change version at which it last had nothing more to give: skipped until it changes.
    private var exhausted: [PublicKey: UInt64] = [:]

    init(positions: [PublicKey: UInt64], maxBatch: Int) {
        self.positions = positions
        self.maxBatch = max(1, maxBatch)
    }

    /// The feeds in the order the next batch visits them, and each one's share of the batch: a fair share,
    /// but at least a quarter of the batch (at most 256 entries) so that a batch over many feeds does not cost a
    /// feed visit (an actor hop, a read and the merge's bookkeeping) per few entries; a batch still mixes at least
    /// four feeds when they all have entries.
    /// The rotation moves on by the feeds a batch used (``used(_:)``), so every feed gets its turn.
    func plan(_ feeds: [Feed]) -> (order: ArraySlice<Feed>, wrapped: ArraySlice<Feed>, share: Int) {
        guard !feeds.isEmpty else { return ([], [], 0) }
        let start = rotation % feeds.count
        let share = max(maxBatch / feeds.count, max(1, min(256, maxBatch / 4)))
        return (feeds[start...], feeds[..<start], share)
    }

    /// Moves the rotation past the `count` feeds the last batch visited.
    mutating func used(_ count: Int, of total: Int) {
        guard total > 0 else { return }
        rotation = (rotation % total + max(1, count)) % total
    }

    /// True when `feed` had nothing more at change `version` (so asking again is useless).
    func isExhausted(_ feed: PublicKey, version: UInt64) -> Bool {
        exhausted[feed] == version
    }

    mutating func markExhausted(_ feed: PublicKey, version: UInt64) {
        exhausted[feed] = version
    }

    func position(of feed: PublicKey) -> UInt64 {
        positions[feed] ?? 0
    }

    /// Records that `count` entries of `feed` were handed out.
    mutating func advance(_ feed: PublicKey, by count: Int) {
        positions[feed] = position(of: feed) + UInt64(count)
    }
}
