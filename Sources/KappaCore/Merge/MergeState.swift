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

    init(positions: [PublicKey: UInt64], maxBatch: Int) {
        self.positions = positions
        self.maxBatch = max(1, maxBatch)
    }

    /// The feeds in the order the next batch visits them, and each one's fair share of the batch.
    mutating func plan(_ feeds: [Feed]) -> (order: [Feed], share: Int) {
        guard !feeds.isEmpty else { return ([], 0) }
        let start = rotation % feeds.count
        rotation = start + 1
        return (Array(feeds[start...] + feeds[..<start]), max(1, maxBatch / feeds.count))
    }

    func position(of feed: PublicKey) -> UInt64 {
        positions[feed] ?? 0
    }

    /// Records that `count` entries of `feed` were handed out.
    mutating func advance(_ feed: PublicKey, by count: Int) {
        positions[feed] = position(of: feed) + UInt64(count)
    }
}
