/// One block of a feed, with its sequence number.
public struct FeedEntry: Sendable, Hashable {
    /// The sequence number (its position in the feed), called `seq` throughout, as in KappaCore's entries.
    public var seq: UInt64
    /// The block bytes.
    public var value: [UInt8]
}

/// The blocks of a feed from a position, in order (see ``Feed/entries(from:live:)``).
public struct FeedEntries: AsyncSequence, Sendable {
    public typealias Element = FeedEntry

    let feed: Feed
    let start: UInt64
    let live: Bool

    /// Reads ahead in batches of this many blocks.
    static let batch = 256

    public func makeAsyncIterator() -> Iterator {
        Iterator(feed: feed, next: start, live: live)
    }

    /// Iterates a feed's blocks.
    public struct Iterator: AsyncIteratorProtocol {
        let feed: Feed
        var next: UInt64
        let live: Bool
        var buffer: [[UInt8]] = []
        var bufferPosition = 0

        public mutating func next() async throws -> FeedEntry? {
            while true {
                if bufferPosition < buffer.count {
                    defer {
                        bufferPosition += 1
                        next += 1
                    }
                    return FeedEntry(seq: next, value: buffer[bufferPosition])
                }
                if Task.isCancelled { return nil }
                let read: (blocks: [[UInt8]], version: UInt64, length: UInt64)
                do {
                    read = try await feed.read(from: next, limit: FeedEntries.batch)
                } catch let error as HypercoreError where error.code == .closed {
                    return nil
                }
                if !read.blocks.isEmpty {
                    buffer = read.blocks
                    bufferPosition = 0
                    continue
                }
                if !live {
                    if next >= read.length { return nil }
                    throw HypercoreError(.blockNotAvailable, "block \(next) is not stored locally")
                }
                guard await feed.signal.wait(after: read.version) else { return nil }
            }
        }
    }
}

@available(*, unavailable)
extension FeedEntries.Iterator: Sendable {}
