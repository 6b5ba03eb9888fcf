extension Feed {
    // MARK: Reading

    /// True when block `index` is stored locally.
    public func has(_ index: UInt64) -> Bool {
        index < tree.length && bitfield.get(index)
    }

    /// The block at `index`.
    /// - Throws: ``HypercoreError`` `.outOfRange` beyond the length, `.blockNotAvailable` for a block a replica
    ///   does not hold, `.corrupt` when stored bytes do not match the tree (the message names the feed, the file
    ///   and the block), `.closed`.
    public func get(_ index: UInt64) throws -> [UInt8] {
        try checkOpen()
        guard index < tree.length else {
            throw HypercoreError(.outOfRange, "feed \(key): block \(index) is beyond the length \(tree.length)")
        }
        guard bitfield.get(index) else {
            throw HypercoreError(.blockNotAvailable, "feed \(key): block \(index) is not stored locally")
        }
        let range = try byteRange(index)
        let bytes = try readAhead.read(files.data, offset: range.offset, count: Int(range.size), limit: tree.byteLength)
        try check(bytes, index: index, range: range)
        return bytes
    }

    private func byteRange(_ index: UInt64) throws -> (offset: UInt64, size: UInt64, hash: Bytes32) {
        do {
            return try tree.byteRange(block: index)
        } catch let error as HypercoreError {
            throw HypercoreError(error.code, "feed \(key) block \(index), \(location)/tree: \(error.message)", cause: error.cause)
        }
    }

    private func check(_ bytes: [UInt8], index: UInt64, range: (offset: UInt64, size: UInt64, hash: Bytes32)) throws {
        guard bytes.count == Int(range.size) else {
            throw HypercoreError(.corrupt, "feed \(key) block \(index): \(location)/data holds \(bytes.count) of its \(range.size) bytes at \(range.offset)")
        }
        if options.verifyReads, Hashing.leaf(bytes) != range.hash {
            throw HypercoreError(.corrupt, "feed \(key) block \(index): the bytes at \(range.offset) of \(location)/data do not match its leaf hash")
        }
    }

    /// Up to `limit` blocks from `start` that are stored without a gap, read with one I/O call.
    /// Returns an empty array when block `start` is not held.
    /// - Throws: ``HypercoreError/Code/corrupt`` naming the first block that does not verify.
    public func getBatch(from start: UInt64, limit: Int) throws -> [[UInt8]] {
        let read = try readBatch(from: start, limit: limit)
        if let failure = read.failure { throw failure.error }
        return read.blocks
    }

    /// Like ``getBatch(from:limit:)``, but a block that does not read or verify ends the batch instead of failing
    /// it: returns the good blocks before it, and the error at it. Stops after the block that brings the batch to
    /// `maxBytes` (at least one block is read however large).
    package func readBatch(from start: UInt64, limit: Int, maxBytes: Int = .max) throws
        -> (blocks: [[UInt8]], failure: (index: UInt64, error: any Error)?)
    {
        try checkOpen()
        var count = 0
        while count < limit, start + UInt64(count) < tree.length, bitfield.get(start + UInt64(count)) { count += 1 }
        guard count > 0 else { return ([], nil) }
        var ranges = [(offset: UInt64, size: UInt64, hash: Bytes32)]()
        ranges.reserveCapacity(count)
        var failure: (index: UInt64, error: any Error)?
        var bytes: UInt64 = 0
        let byteBound = UInt64(max(0, maxBytes))
        for i in 0..<UInt64(count) {
            do {
                let range = try byteRange(start + i)
                ranges.append(range)
                bytes += range.size
            } catch {
                failure = (start + i, error)
                break
            }
            if bytes >= byteBound { break }
        }
        var blocks = [[UInt8]]()
        guard !ranges.isEmpty else { return (blocks, failure) }
        let first = ranges[0].offset
        let total = Int(ranges[ranges.count - 1].offset + ranges[ranges.count - 1].size - first)
        let span = try files.data.read(count: total, at: first)
        blocks.reserveCapacity(ranges.count)
        for (i, range) in ranges.enumerated() {
            let lower = Int(range.offset - first)
            let upper = min(span.count, lower + Int(range.size))
            let block = lower < upper ? Array(span[lower..<upper]) : []
            do {
                try check(block, index: start + UInt64(i), range: range)
            } catch {
                return (blocks, (start + UInt64(i), error))
            }
            blocks.append(block)
        }
        return (blocks, failure)
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
