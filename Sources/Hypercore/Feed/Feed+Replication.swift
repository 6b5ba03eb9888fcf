/// What replication needs from a feed: its state as peers see it, the blocks it holds, and waits for blocks
/// that peers will deliver.
extension Feed {
    // MARK: Waiting for blocks from peers

    /// The block at `index`, waiting up to `timeout` for it to arrive from connected peers when this replica
    /// does not hold it yet (hypercore's `get` with `wait`). Sessions replicating this feed fetch wanted blocks
    /// even when they do not download the whole feed.
    ///
    /// - Throws: ``HypercoreError/Code/timeout`` when the block did not arrive in time; `CancellationError`
    ///   when the calling task is cancelled; ``HypercoreError/Code/closed``; the errors of ``get(_:)``.
    public func get(_ index: UInt64, timeout: Duration) async throws -> [UInt8] {
        try checkOpen()
        if has(index) { return try get(index) }
        try await waitFor(index..<(index + 1), timeout: timeout)
        return try get(index)
    }

    /// Waits until every block of `range` is held locally, fetching them from connected peers (hypercore's
    /// `download({start, end})`). A range beyond the current length also waits for the length to grow.
    ///
    /// - Parameter timeout: how long to wait at most; `nil` waits until the blocks arrive, the task is
    ///   cancelled or the feed closes.
    /// - Throws: ``HypercoreError/Code/timeout``, `CancellationError`, ``HypercoreError/Code/closed``.
    public func download(_ range: Range<UInt64>, timeout: Duration? = nil) async throws {
        try checkOpen()
        if holds(range) { return }
        try await waitFor(range, timeout: timeout)
    }

    /// True when every block of `range` is held (and lies below the length).
    func holds(_ range: Range<UInt64>) -> Bool {
        guard range.upperBound <= tree.length else { return false }
        if range.isEmpty { return true }
        guard let firstMissing = bitfield.firstIndex(of: false, from: range.lowerBound) else { return true }
        return firstMissing >= range.upperBound
    }

    private func waitFor(_ range: Range<UInt64>, timeout: Duration?) async throws {
        let id = wants.add(range)
        defer { wants.remove(id) }
        let deadline = timeout.map { ContinuousClock.now + $0 }
        while true {
            try checkOpen()
            if holds(range) { return }
            try Task.checkCancellation()
            let seen = signal.version
            let changed: Bool
            if let deadline {
                guard ContinuousClock.now < deadline else {
                    throw HypercoreError(.timeout, "feed \(key): blocks \(range.lowerBound)..<\(range.upperBound) did not arrive in time")
                }
                changed = await signal.wait(after: seen, until: deadline)
            } else {
                changed = await signal.wait(after: seen)
            }
            if !changed {
                try Task.checkCancellation()
                try checkOpen()
            }
        }
    }

    // MARK: State for peers

    /// The feed's state as a replication peer sees it.
    package struct ReplicationStatus: Sendable, Equatable {
        /// The signed length.
        package var length: UInt64
        /// The fork id.
        package var fork: UInt64
        /// Blocks held from 0 without a gap.
        package var contiguousLength: UInt64

        /// A status.
        package init(length: UInt64, fork: UInt64, contiguousLength: UInt64) {
            self.length = length
            self.fork = fork
            self.contiguousLength = contiguousLength
        }
    }

    /// The state peers are told about (``ReplicationStatus``).
    package var replicationStatus: ReplicationStatus {
        ReplicationStatus(length: tree.length, fork: tree.fork, contiguousLength: contiguous)
    }

    /// The change signal: bumped after every append and every verified download; closed with the feed.
    package nonisolated var changes: ChangeSignal { signal }

    /// True when this feed can prove its current length to a peer at `remoteLength` (hypercore's
    /// `canUpgrade`, spec D.5): the peer is shorter and we hold the nodes of the upgrade proof.
    package func canUpgrade(from remoteLength: UInt64) -> Bool {
        guard remoteLength < tree.length else { return false }
        let request = ProofRequest(fork: tree.fork, upgrade: .init(start: remoteLength, length: tree.length - remoteLength))
        return (try? tree.proof(for: request, value: nil)) != nil
    }

    /// Which blocks of `[start, start + 32·count)` are held, as hypercore's bitfield message carries them: bit
    /// `j` of word `w` is block `start + 32w + j`. `start` must be a multiple of 32.
    package func bitfieldWords(from start: UInt64, count: Int) -> [UInt32] {
        precondition(start & 31 == 0, "bitfield words start at a multiple of 32")
        var words = [UInt32](repeating: 0, count: count)
        let length = tree.length
        for w in 0..<count {
            let first = start + UInt64(w) * 32
            guard first < length else { break }
            var word = bitfield.word(at: Int(first >> 5))
            let valid = length - first
            if valid < 32 { word &= (UInt32(1) << UInt32(valid)) - 1 }
            words[w] = word
        }
        return words
    }

    /// Up to `limit` indexes in `range` (clamped to the length) of blocks this replica does not hold, in order.
    package func missingBlocks(in range: Range<UInt64>, limit: Int) -> [UInt64] {
        var result = [UInt64]()
        var i = range.lowerBound
        let end = Swift.min(range.upperBound, tree.length)
        while i < end, result.count < limit {
            guard let missing = bitfield.firstIndex(of: false, from: i), missing < end else { break }
            result.append(missing)
            i = missing + 1
        }
        return result
    }

    /// Claims and returns up to `limit` blocks of `ranges` that this replica lacks and no other request holds,
    /// each with the number of tree nodes to ask for (``missingNodes(_:)``), and whether some missing block of
    /// `ranges` is claimed by another request. The caller releases the claims.
    package func claimMissingBlocks(
        in ranges: [Range<UInt64>], limit: Int
    ) -> (blocks: [(index: UInt64, nodes: UInt64)], claimedElsewhere: Bool) {
        var result: [(index: UInt64, nodes: UInt64)] = []
        var claimedElsewhere = false
        for range in ranges {
            var i = range.lowerBound
            let end = Swift.min(range.upperBound, tree.length)
            while i < end, result.count < limit {
                guard let missing = bitfield.firstIndex(of: false, from: i), missing < end else { break }
                if claims.claim(missing) {
                    result.append((missing, (try? tree.missingNodes(2 * missing)) ?? 0))
                } else {
                    claimedElsewhere = true
                }
                i = missing + 1
            }
            if result.count >= limit { break }
        }
        return (result, claimedElsewhere)
    }

    /// The replication state, whether this feed can upgrade a peer at `remoteLength`, and the runs of blocks
    /// it holds (at most `maxRuns`; `nil` when there are more) — one call per peer and pass.
    package func peerStatus(
        remoteLength: UInt64, remoteFork: UInt64, maxRuns: Int = 4_096
    ) -> (status: ReplicationStatus, canUpgrade: Bool, held: [Range<UInt64>]?) {
        let canUpgrade = remoteFork == tree.fork && (remoteLength == 0 || self.canUpgrade(from: remoteLength))
        return (replicationStatus, canUpgrade, heldRanges(maxRuns: maxRuns))
    }

    /// The runs of blocks held below the length, in order; `nil` when there are more than `maxRuns`.
    package func heldRanges(maxRuns: Int) -> [Range<UInt64>]? {
        var runs: [Range<UInt64>] = []
        if contiguous > 0 { runs.append(0..<contiguous) }
        var i = contiguous
        let length = tree.length
        while i < length {
            guard let start = bitfield.firstIndex(of: true, from: i), start < length else { break }
            let end = Swift.min(bitfield.firstIndex(of: false, from: start) ?? length, length)
            guard runs.count < maxRuns else { return nil }
            runs.append(start..<end)
            i = end
        }
        return runs
    }
}
