extension Feed {
    // MARK: Appending

    /// Appends one block; returns its sequence number.
    /// - Throws: ``HypercoreError/Code/readOnly`` without a secret key, `.closed`; ``StorageError``.
    @discardableResult
    public func append(_ block: [UInt8]) async throws -> UInt64 {
        try await append(contentsOf: [block]).lowerBound
    }

    /// Appends blocks as one atomic batch with one signature; returns their sequence numbers.
    ///
    /// With durable storage, appends that arrive while an earlier one waits for its flush are written
    /// together with one signature and one flush (each call's blocks stay contiguous and atomic).
    /// - Throws: ``HypercoreError/Code/readOnly`` without a secret key, `.closed`; ``StorageError``.
    @discardableResult
    public func append(contentsOf blocks: [[UInt8]]) async throws -> Range<UInt64> {
        try checkOpen()
        guard keyPair != nil else { throw HypercoreError(.readOnly, "feed \(key) has no secret key") }
        guard !blocks.isEmpty else { return tree.length..<tree.length }
        guard let commit else {
            let range = try write([blocks])[0]
            try await finishWrite()
            return range
        }
        if appendLeaderActive {
            // Another append is waiting for its flush: queue behind it; its flush or the next leader writes us.
            let turn: AppendTurn = try await withCheckedThrowingContinuation { continuation in
                appendQueue.append((blocks, continuation))
            }
            if case .done(let range) = turn { return range }
            // `.lead`: the role was handed to us and stays marked active.
        } else {
            appendLeaderActive = true
        }
        if lastAppendRound > 1 {
            // The last flush was shared, so its appenders are about to come back: let them queue behind us so
            // this flush carries all of them. A lone appender never waits here.
            await Task.yield()
        }
        return try await lead(blocks, commit: commit)
    }

    /// Writes `blocks` with everything queued so far, then waits for one shared flush.
    private func lead(_ blocks: [[UInt8]], commit: GroupCommit) async throws -> Range<UInt64> {
        if isClosed {
            failQueuedAppends(HypercoreError(.closed, "feed \(key) is closed"))
            throw HypercoreError(.closed, "feed \(key) is closed")
        }
        let followers = appendQueue
        appendQueue.removeAll()
        lastAppendRound = followers.count + 1
        do {
            let ranges = try write([blocks] + followers.map(\.blocks))
            signal.notify()
            let ticket = commit.wrote()
            try checkpointIfDue()
            try await commit.waitDurable(ticket)
            for (follower, range) in zip(followers, ranges.dropFirst()) { follower.continuation.resume(returning: .done(range)) }
            handOverAppendLead()
            return ranges[0]
        } catch {
            for follower in followers { follower.continuation.resume(throwing: error) }
            handOverAppendLead()
            throw error
        }
    }

    /// What a queued append is told when it is resumed.
    enum AppendTurn: Sendable {
        case done(Range<UInt64>)
        case lead
    }

    /// Passes the leader role to the first queued append, or ends it.
    private func handOverAppendLead() {
        if appendQueue.isEmpty {
            appendLeaderActive = false
        } else {
            appendQueue.removeFirst().continuation.resume(returning: .lead)
            // The new leader takes the rest of the queue when it runs; keep the role marked active.
        }
    }

    /// Fails every queued append (nothing of theirs was written) and ends the leader role.
    private func failQueuedAppends(_ error: any Error) {
        let queued = appendQueue
        appendQueue.removeAll()
        appendLeaderActive = false
        for append in queued { append.continuation.resume(throwing: error) }
    }

    /// Signs and writes `groups` as one batch; returns each group's sequence numbers.
    private func write(_ groups: [[[UInt8]]]) throws -> [Range<UInt64>] {
        guard let keyPair else { throw HypercoreError(.readOnly, "feed \(key) has no secret key") }
        let start = tree.length
        var batch = tree.appendBatch()
        var ranges = [Range<UInt64>]()
        ranges.reserveCapacity(groups.count)
        for group in groups {
            let lower = batch.length
            for block in group { block.withUnsafeBytes { batch.append($0) } }
            ranges.append(lower..<batch.length)
        }
        let signable = Caps.treeSignableCompat(treeHash: Hashing.tree(batch.roots), length: batch.length, fork: tree.fork)
        let signature = Signer.sign(signable, secretKey: keyPair.secretKey)

        if groups.count == 1 {
            try files.data.write(chunks: groups[0], at: tree.byteLength)
        } else {
            try files.data.write(chunks: groups.flatMap { $0 }, at: tree.byteLength)
        }
        let entry = OplogEntry(
            userData: nil, treeNodes: batch.nodes,
            treeUpgrade: .init(fork: tree.fork, ancestors: start, length: batch.length, signature: signature.bytes),
            bitfield: .init(drop: false, start: start, length: batch.length - start))
        try oplog.append([entry])
        try tree.commit(batch, signature: signature)
        bitfield.set(start: start, length: batch.length - start, true)
        contiguous = tree.length
        return ranges
    }

    /// Wakes readers, checkpoints when the oplog is large, and waits for durability.
    func finishWrite(notify: Bool = true) async throws {
        if notify { signal.notify() }
        let ticket = commit?.wrote()
        try checkpointIfDue()
        if let ticket, let commit { try await commit.waitDurable(ticket) }
    }

    /// Checkpoints when the oplog has grown past ``FeedOptions/checkpointBytes``, or when this feed holds tree pages
    /// not yet written and such pages of all feeds sharing the cache budget take half of it (no budget can drop
    /// them: without this, many feeds appending below their checkpoint size would hold their new pages until
    /// close); then, over budget, drops this feed's clean pages.
    func checkpointIfDue() throws {
        guard oplog.entryBytes >= options.checkpointBytes || tree.nodes.isOverBudgetWithDirtyPages else { return }
        try checkpoint()
        tree.nodes.dropCleanPagesIfOverBudget()
    }
}
