import Testing
import Hypercore
@testable import KappaCore

@Suite(.timeLimit(.minutes(1))) struct MergedEntriesTests {
    static func feed(_ count: Int, tag: UInt8) async throws -> Feed {
        let feed = try Feed.create(options: .init(durability: .relaxed))
        if count > 0 { try await feed.append(contentsOf: (0..<count).map { [tag, UInt8(truncatingIfNeeded: $0)] }) }
        return feed
    }

    @Test func everyBlockOnceInFeedOrderWithinTheBatchBound() async throws {
        let set = FeedSet()
        let feeds = [try await Self.feed(500, tag: 1), try await Self.feed(7, tag: 2), try await Self.feed(0, tag: 3), try await Self.feed(130, tag: 4)]
        for feed in feeds { set.add(feed) }
        var seen: [PublicKey: [UInt64]] = [:]
        var batches = 0
        for try await batch in MergedEntries(feeds: set, start: [:], maxBatch: 40, live: false) {
            #expect(batch.count <= 40 && !batch.isEmpty)
            if batches == 0 { #expect(Set(batch.map(\.feed)).count == 3, "the first batch takes from every feed with entries") }
            for block in batch { seen[block.feed, default: []].append(block.seq) }
            batches += 1
        }
        #expect(seen[feeds[0].key] == Array(0..<500))
        #expect(seen[feeds[1].key] == Array(0..<7))
        #expect(seen[feeds[2].key] == nil)
        #expect(seen[feeds[3].key] == Array(0..<130))
        #expect(batches == (637 + 39) / 40)
    }

    /// Over many feeds a batch takes a quarter of the batch (at most 256 entries) from each feed it visits (a visit
    /// is a hop and a read), and never more than that from one while others wait.
    @Test func aBatchOverManyFeedsTakesAQuarterFromEach() async throws {
        let set = FeedSet()
        for i in 0..<10 { set.add(try await Self.feed(300, tag: UInt8(i))) }
        var iterator = MergedEntries(feeds: set, start: [:], maxBatch: 1_000, live: false).makeAsyncIterator()
        let first = try #require(try await iterator.next())
        var perFeed: [PublicKey: Int] = [:]
        for block in first { perFeed[block.feed, default: 0] += 1 }
        #expect(first.count == 1_000)
        #expect(perFeed.values.sorted() == Array(repeating: 250, count: 4))
        // The next batch goes on with the next feeds in turn.
        let second = try #require(try await iterator.next())
        #expect(Set(second.map(\.feed)).isDisjoint(with: perFeed.keys))
        // A large batch over many feeds: 256 from each (a quarter would be 1,000).
        for i in 10..<20 { set.add(try await Self.feed(300, tag: UInt8(i))) }
        var large = MergedEntries(feeds: set, start: [:], maxBatch: 4_000, live: false).makeAsyncIterator()
        let bounded = try #require(try await large.next())
        var perFeedLarge: [PublicKey: Int] = [:]
        for block in bounded { perFeedLarge[block.feed, default: 0] += 1 }
        #expect(perFeedLarge.values.sorted() == [160] + Array(repeating: 256, count: 15))
        var small = MergedEntries(feeds: set, start: [:], maxBatch: 40, live: false).makeAsyncIterator()
        let capped = try #require(try await small.next())
        #expect(Set(capped.map(\.feed)).count == 4, "a quarter of the batch per feed at most")
    }

    /// Large blocks do not make large batches: a batch stops after the block that brings it to 8 MiB (so it holds at
    /// most 8 MiB plus one block), and every block still comes once, in order.
    @Test func aBatchStopsAtItsByteBound() async throws {
        let set = FeedSet()
        let feed = try Feed.create(options: .init(durability: .relaxed))
        let mib = 1 << 20
        try await feed.append(contentsOf: (0..<20).map { [UInt8](repeating: UInt8($0), count: mib) })
        try await feed.append([UInt8](repeating: 99, count: 10 * mib))
        try await feed.append(contentsOf: (0..<3).map { [UInt8](repeating: UInt8($0), count: 10) })
        set.add(feed)
        var sizes: [[Int]] = []
        var seqs: [UInt64] = []
        for try await batch in MergedEntries(feeds: set, start: [:], maxBatch: 1_000, live: false) {
            sizes.append(batch.map(\.bytes.count))
            seqs += batch.map(\.seq)
        }
        #expect(MergedEntries.defaultMaxBytes == 8 * mib)
        #expect(sizes.map(\.count) == [8, 8, 5, 3])
        #expect(sizes[2] == Array(repeating: mib, count: 4) + [10 * mib])
        #expect(seqs == Array(0..<24))
    }

    @Test func startsFromACheckpoint() async throws {
        let set = FeedSet()
        let a = try await Self.feed(10, tag: 1)
        set.add(a)
        var seqs = [UInt64]()
        for try await batch in MergedEntries(feeds: set, start: [a.key: 6], maxBatch: 100, live: false) {
            seqs += batch.map(\.seq)
        }
        #expect(seqs == [6, 7, 8, 9])
    }

    @Test func liveSequenceSeesAppendsAndNewFeedsAndNoFeedStarves() async throws {
        let set = FeedSet()
        let busy = try await Self.feed(0, tag: 1)
        set.add(busy)
        let quiet = try await Self.feed(0, tag: 2)
        let writer = Task {
            // Keeps the busy feed growing the whole time.
            for i in 0..<2_000 {
                try await busy.append(contentsOf: (0..<10).map { [1, UInt8(truncatingIfNeeded: i + $0)] })
                if Task.isCancelled { break }
            }
        }
        var iterator = MergedEntries(feeds: set, start: [:], maxBatch: 16, live: true).makeAsyncIterator()
        _ = try await iterator.next()
        set.add(quiet)  // a feed that joins later
        try await quiet.append(contentsOf: [[2, 0], [2, 1], [2, 2]])
        var quietSeen = [UInt64]()
        var batchesAfterJoin = 0
        while quietSeen.count < 3, batchesAfterJoin < 20, let batch = try await iterator.next() {
            quietSeen += batch.filter { $0.feed == quiet.key }.map(\.seq)
            batchesAfterJoin += 1
        }
        writer.cancel()
        #expect(quietSeen == [0, 1, 2])
        #expect(batchesAfterJoin <= 3, "the quiet feed is served within a few batches while the busy one grows")
    }

    @Test func closingTheSignalEndsALiveSequence() async throws {
        let set = FeedSet()
        set.add(try await Self.feed(2, tag: 1))
        let reader = Task {
            var total = 0
            for try await batch in MergedEntries(feeds: set, start: [:], maxBatch: 10, live: true) { total += batch.count }
            return total
        }
        try await Task.sleep(for: .milliseconds(30))
        set.changes.close()
        #expect(try await reader.value == 2)
    }
}
