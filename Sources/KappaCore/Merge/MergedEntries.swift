import Hypercore

/// One block of one feed, before decoding.
struct FeedBlock: Sendable {
    var feed: PublicKey
    var seq: UInt64
    var bytes: [UInt8]
}

/// The entries of every feed of a ``FeedSet`` as an `AsyncSequence` of batches: each batch holds at most
/// `maxBatch` blocks, may mix feeds, and keeps each feed's order; every block comes once. Feeds added to
/// the set later join in. A sparse feed contributes its gap-free prefix; later blocks wait for the gap.
///
/// Live, the sequence waits for appends, downloads and new feeds, and ends when the set's signal closes or
/// the task is cancelled; otherwise it ends when nothing is available.
struct MergedEntries: AsyncSequence, Sendable {
    typealias Element = [FeedBlock]

    let feeds: FeedSet
    let start: [PublicKey: UInt64]
    let maxBatch: Int
    let live: Bool

    func makeAsyncIterator() -> Iterator {
        Iterator(feeds: feeds, state: MergeState(positions: start, maxBatch: maxBatch), live: live)
    }

    struct Iterator: AsyncIteratorProtocol {
        let feeds: FeedSet
        var state: MergeState
        let live: Bool

        mutating func next() async throws -> [FeedBlock]? {
            while !Task.isCancelled {
                let seen = feeds.changes.version
                let batch = try await gather()
                if !batch.isEmpty { return batch }
                if !live { return nil }
                guard await feeds.changes.wait(after: seen) else { return nil }
            }
            return nil
        }

        /// One pass over the feeds, each up to its fair share; then the rest of the batch from feeds that
        /// had more.
        private mutating func gather() async throws -> [FeedBlock] {
            let (order, share) = state.plan(feeds.feeds)
            var batch = [FeedBlock]()
            var hungry = [Feed]()
            for feed in order where batch.count < state.maxBatch {
                let taken = try await take(from: feed, limit: Swift.min(share, state.maxBatch - batch.count), into: &batch)
                if taken == share { hungry.append(feed) }
            }
            for feed in hungry where batch.count < state.maxBatch {
                _ = try await take(from: feed, limit: state.maxBatch - batch.count, into: &batch)
            }
            return batch
        }

        private mutating func take(from feed: Feed, limit: Int, into batch: inout [FeedBlock]) async throws -> Int {
            let start = state.position(of: feed.key)
            let blocks = try await feed.getBatch(from: start, limit: limit)
            for (offset, bytes) in blocks.enumerated() {
                batch.append(FeedBlock(feed: feed.key, seq: start + UInt64(offset), bytes: bytes))
            }
            state.advance(feed.key, by: blocks.count)
            return blocks.count
        }
    }
}

@available(*, unavailable)
extension MergedEntries.Iterator: Sendable {}
