extension Feed {
    // MARK: Reading

    /// True when block `index` is stored locally.
    public func has(_ index: UInt64) -> Bool {
        index < tree.length && bitfield.get(index)
    }

    /// The block at `index`.
    /// - Throws: ``HypercoreError`` `.outOfRange` beyond the length, `.blockNotAvailable` for a block a replica
    ///   does not hold, `.corrupt` when stored bytes do not match the tree, `.closed`.
    public func get(_ index: UInt64) throws -> [UInt8] {
        try checkOpen()
        guard index < tree.length else {
            throw HypercoreError(.outOfRange, "block \(index) is beyond the length \(tree.length)")
        }
        guard bitfield.get(index) else {
            throw HypercoreError(.blockNotAvailable, "block \(index) is not stored locally")
        }
        let range = try tree.byteRange(block: index)
        let bytes = try readAhead.read(files.data, offset: range.offset, count: Int(range.size), limit: tree.byteLength)
        try check(bytes, index: index, range: range)
        return bytes
    }

    private func check(_ bytes: [UInt8], index: UInt64, range: (offset: UInt64, size: UInt64, hash: Bytes32)) throws {
        guard bytes.count == Int(range.size) else {
            throw HypercoreError(.corrupt, "block \(index): data file holds \(bytes.count) of \(range.size) bytes")
        }
        if options.verifyReads, Hashing.leaf(bytes) != range.hash {
            throw HypercoreError(.corrupt, "block \(index) does not match its leaf hash")
        }
    }

    /// Up to `limit` blocks from `start` that are stored without a gap, read with one I/O call.
    /// Returns an empty array when block `start` is not held.
    public func getBatch(from start: UInt64, limit: Int) throws -> [[UInt8]] {
        try checkOpen()
        var count = 0
        while count < limit, start + UInt64(count) < tree.length, bitfield.get(start + UInt64(count)) { count += 1 }
        guard count > 0 else { return [] }
        var ranges = [(offset: UInt64, size: UInt64, hash: Bytes32)]()
        ranges.reserveCapacity(count)
        for i in 0..<UInt64(count) { ranges.append(try tree.byteRange(block: start + i)) }
        let first = ranges[0].offset
        let total = Int(ranges[count - 1].offset + ranges[count - 1].size - first)
        let span = try files.data.read(count: total, at: first)
        guard span.count == total else {
            throw HypercoreError(.corrupt, "data file holds \(span.count) of \(total) bytes at \(first)")
        }
        var blocks = [[UInt8]]()
        blocks.reserveCapacity(count)
        for (i, range) in ranges.enumerated() {
            let lower = Int(range.offset - first)
            let block = Array(span[lower..<(lower + Int(range.size))])
            try check(block, index: start + UInt64(i), range: range)
            blocks.append(block)
        }
        return blocks
    }


    // MARK: Live reading

    /// Blocks from `start` (at most `limit`) and the change version they were read at.
    func read(from start: UInt64, limit: Int) throws -> (blocks: [[UInt8]], version: UInt64, length: UInt64) {
        let version = signal.version
        return (try getBatch(from: start, limit: limit), version, tree.length)
    }

    /// Calls `observer` after every append and every verified download (on the writing task; keep it short).
    public nonisolated func onChange(_ observer: @escaping @Sendable () -> Void) {
        signal.observe(observer)
    }

    /// The blocks from `start` in order, as an `AsyncSequence`.
    ///
    /// With `live: false` the sequence ends at the current length (and throws
    /// ``HypercoreError/Code/blockNotAvailable`` at a block a replica lacks). With `live: true` it waits for
    /// appends and verified downloads and never ends by itself; cancelling the task or closing the feed ends it.
    public nonisolated func entries(from start: UInt64 = 0, live: Bool = false) -> FeedEntries {
        FeedEntries(feed: self, start: start, live: live)
    }
}
