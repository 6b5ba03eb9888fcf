import Hypercore

/// One block of one feed, before decoding.
struct FeedBlock: Sendable {
    var feed: PublicKey
    var seq: UInt64
    var bytes: [UInt8]
}

/// The entries of every feed of a ``FeedSet`` as an `AsyncSequence` of batches: each batch holds at most
/// `maxBatch` blocks and stops after the block that brings it to `maxBytes` (so at most `maxBytes` plus one
/// block), may mix feeds, and keeps each feed's order; every block comes once. Feeds added to
/// the set later join in. A sparse feed contributes its gap-free prefix; later blocks wait for the gap.
///
/// Live, the sequence waits for appends, downloads and new feeds, and ends when the set's signal closes or
/// the task is cancelled; otherwise it ends when nothing is available. A block that does not read holds back
/// its own feed only (recorded in the ``FeedSet``); an empty batch says that such damage was found and there is
/// nothing else to deliver yet.
struct MergedEntries: AsyncSequence, Sendable {
    typealias Element = [FeedBlock]

    let feeds: FeedSet
    let start: [PublicKey: UInt64]
    let maxBatch: Int
    let live: Bool
    /// The bytes of blocks after which a batch stops, so large blocks do not make large batches.
    var maxBytes: Int = Self.defaultMaxBytes

    /// 8 MiB: an indexer holds two batches (one mapped, one read ahead).
    static let defaultMaxBytes = 8 << 20

    func makeAsyncIterator() -> Iterator {
        Iterator(feeds: feeds, state: MergeState(positions: start, maxBatch: maxBatch), live: live, maxBytes: maxBytes)
    }

    /// A value (the feed set and the positions read so far): a copy continues from the same place, so a view's
    /// indexer can hand it to a task that reads the next batch ahead.
    struct Iterator: AsyncIteratorProtocol, Sendable {
        let feeds: FeedSet
        var state: MergeState
        let live: Bool
        let maxBytes: Int
        /// Set when this pass found a feed newly held back by damage.
        var foundDamage = false
        /// The bytes of the batch being gathered.
        var batchBytes = 0

        mutating func next() async throws -> [FeedBlock]? {
            while !Task.isCancelled {
                let seen = feeds.changes.version
                let batch = try await gather()
                if !batch.isEmpty { return batch }
                if foundDamage {
                    // Nothing to map, but a feed is now held back: let the reader settle what waits on it.
                    foundDamage = false
                    return []
                }
                if !live { return nil }
                guard await feeds.changes.wait(after: seen) else { return nil }
            }
            return nil
        }

        /// One pass over the feeds in rotation, each up to its share; then the rest of the batch from feeds that
        /// had more. Feeds that had nothing new and did not change since are skipped without a hop.
        private mutating func gather() async throws -> [FeedBlock] {
            let all = feeds.feeds
            let (order, wrapped, share) = state.plan(all)
            var batch = [FeedBlock]()
            var hungry = [Feed]()
            var visited = 0
            batchBytes = 0
            for feed in [order, wrapped].joined() {
                guard batch.count < state.maxBatch, batchBytes < maxBytes else { break }
                visited += 1
                let version = feeds.version(of: feed.key)
                if state.isExhausted(feed.key, version: version) { continue }
                let limit = Swift.min(share, state.maxBatch - batch.count)
                let taken = try await take(from: feed, limit: limit, version: version, into: &batch)
                if taken == limit { hungry.append(feed) }
            }
            state.used(visited, of: all.count)
            for feed in hungry where batch.count < state.maxBatch && batchBytes < maxBytes {
                _ = try await take(from: feed, limit: state.maxBatch - batch.count, version: feeds.version(of: feed.key),
                                  into: &batch)
            }
            return batch
        }

        /// Reads up to `limit` blocks of `feed` into `batch`. A block that does not read holds back this feed only:
        /// the damage is recorded (and reported once) and the blocks before it are delivered.
        private mutating func take(from feed: Feed, limit: Int, version: UInt64, into batch: inout [FeedBlock]) async throws -> Int {
            let start = state.position(of: feed.key)
            let read: (blocks: [[UInt8]], failure: (index: UInt64, error: any Error)?)
            do {
                read = try await feed.readBatch(from: start, limit: limit, maxBytes: maxBytes - batchBytes)
            } catch let error as HypercoreError where error.code == .closed {
                return 0
            } catch {
                // The data file itself failed (an I/O error): hold this feed back like a damaged block.
                if feeds.recordDamage(feed, at: start, error) { foundDamage = true }
                state.markExhausted(feed.key, version: version)
                return 0
            }
            for (offset, bytes) in read.blocks.enumerated() {
                batch.append(FeedBlock(feed: feed.key, seq: start + UInt64(offset), bytes: bytes))
                batchBytes += bytes.count
            }
            state.advance(feed.key, by: read.blocks.count)
            if let failure = read.failure {
                if feeds.recordDamage(feed, at: failure.index, failure.error) { foundDamage = true }
            } else if !read.blocks.isEmpty {
                feeds.clearDamage(feed.key, readingFrom: start, count: read.blocks.count)
            }
            // Fewer than asked for and not stopped by the byte bound: nothing more until the feed changes.
            if read.blocks.count < limit && batchBytes < maxBytes {
                state.markExhausted(feed.key, version: version)
            }
            return read.blocks.count
        }
    }
}
