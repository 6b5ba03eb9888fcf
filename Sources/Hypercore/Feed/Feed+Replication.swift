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

    /// A block claimed for a request (``claimMissingBlocks(in:limit:)``).
    package struct ClaimedBlock: Sendable, Equatable {
        /// The block number.
        package var index: UInt64
        /// The tree levels above the block to ask for (the request's `nodes`).
        package var nodes: UInt64
        /// True when the node that anchors the proof (`nodes` levels above the leaf) is not stored yet but is
        /// brought by the proof of an earlier block of the same claim: the proof verifies once that one is
        /// stored (``receiveBatch(_:anchoredLater:)``).
        package var anchoredByEarlierClaim: Bool
    }

    /// Claims and returns up to `limit` blocks of `ranges` that this replica lacks and no other request holds,
    /// in order, and whether some missing block of `ranges` is claimed by another request. The caller releases
    /// the claims.
    ///
    /// Each block's `nodes` counts the levels up to the first node that is stored or that the proof of an
    /// earlier block of this claim brings (its leaf, the siblings on its path and the parents they make). A
    /// run of consecutive blocks then asks for about one node per block instead of a whole path each, which
    /// is what the peer sends, the replica hashes and the oplog records. Proofs answered in request order verify
    /// as they are stored; one that arrives before the proof anchoring it does not verify yet
    /// (``ReceiveOutcome/unanchored``) and is asked for again.
    package func claimMissingBlocks(
        in ranges: [Range<UInt64>], limit: Int
    ) -> (blocks: [ClaimedBlock], claimedElsewhere: Bool) {
        var result: [ClaimedBlock] = []
        var claimedElsewhere = false
        var provided = ProvidedNodes()
        claims.claiming { claim in
            for range in ranges {
                var i = range.lowerBound
                let end = Swift.min(range.upperBound, tree.length)
                while i < end, result.count < limit {
                    guard let missing = bitfield.firstIndex(of: false, from: i), missing < end else { break }
                    if claim(missing) {
                        let planned = (try? plannedNodes(2 * missing, provided: &provided))
                            ?? (nodes: 0, anchoredByEarlierClaim: false)
                        result.append(ClaimedBlock(index: missing, nodes: planned.nodes,
                                                   anchoredByEarlierClaim: planned.anchoredByEarlierClaim))
                    } else {
                        claimedElsewhere = true
                    }
                    i = missing + 1
                }
                if result.count >= limit { break }
            }
        }
        return (result, claimedElsewhere)
    }

    /// The tree nodes the proofs of a claim's earlier blocks bring, as the rightmost one at each level.
    ///
    /// Blocks are planned in increasing order. Then an ancestor of the next block is brought by an earlier proof
    /// exactly when it is the rightmost node brought at its level, for the lowest such ancestor (which is the one
    /// planning stops at): a brought node further right at that level would be the right sibling of an earlier
    /// block's ancestor shared with this block, and the level below would then be brought already. A block out of
    /// order forgets what was brought (its proof then asks for more nodes, never too few).
    struct ProvidedNodes {
        private var rightmost = [UInt64](repeating: .max, count: 64)
        private var last: UInt64?

        /// True when node `index` at `level` is brought by an earlier proof.
        func contains(_ index: UInt64, level: Int) -> Bool {
            level < rightmost.count && rightmost[level] == index
        }

        /// Starts planning leaf `leaf`: forgets everything when it is not after the previous one.
        mutating func begin(_ leaf: UInt64) {
            if let last, leaf <= last { rightmost = [UInt64](repeating: .max, count: 64) }
            last = leaf
        }

        /// Notes that node `index` at `level` is brought.
        mutating func insert(_ index: UInt64, level: Int) {
            guard level < rightmost.count else { return }
            if rightmost[level] == .max || index > rightmost[level] { rightmost[level] = index }
        }
    }

    /// The `nodes` to request for leaf `index` (as ``MerkleTree/missingNodes(_:)``, but stopping at a node an
    /// earlier proof of the claim brings too), and whether it stopped at such a node; then notes in `provided`
    /// what this proof brings: the leaf, the siblings on the way up and the parents they make.
    private func plannedNodes(
        _ index: UInt64, provided: inout ProvidedNodes
    ) throws -> (nodes: UInt64, anchoredByEarlierClaim: Bool) {
        let head = 2 * tree.length
        if FlatTree.rightSpan(index) >= head { return (0, false) }
        provided.begin(index)
        var count: UInt64 = 0
        var current = index
        var anchoredByEarlierClaim = false
        while !FlatTree.contains(current, head) {
            // Brought by an earlier proof (checked first: cheaper than the node store; a node both brought and
            // stored only marks the request as one that may arrive unanchored, which a stored anchor never is).
            if provided.contains(current, level: Int(count)) {
                anchoredByEarlierClaim = true
                break
            }
            if try tree.nodes.get(current) != nil { break }
            count += 1
            current = FlatTree.parent(current)
        }
        current = index
        provided.insert(current, level: 0)
        for level in 0..<Int(count) {
            provided.insert(FlatTree.sibling(current), level: level)
            current = FlatTree.parent(current)
            provided.insert(current, level: level + 1)
        }
        return (count, anchoredByEarlierClaim)
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
