import Hypercore

/// Indexes one view: consumes the ``MergedEntries`` of all feeds from its checkpoint, maps each batch, and
/// commits the view's writes with its new checkpoint.
actor ViewIndexer<Value: Sendable> {
    enum State {
        /// Waiting for the next batch.
        case idle
        /// A batch is being mapped and committed.
        case running
        /// Stopped by ``pause()``; ``resume()`` restarts.
        case paused
        /// Stopped by an error; ``resume()`` retries from the last checkpoint.
        case failed(KappaError)
        /// Stopped for good.
        case closed
    }

    let name: String
    let version: Int64
    private let view: any KappaView<Value>
    private let encoding: ValueEncoding<Value>
    private let database: SQLiteDatabase
    private let feeds: FeedSet
    private let report: @Sendable (KappaError) -> Void

    /// The committed checkpoint: the next sequence number per feed.
    private var progress: [PublicKey: UInt64]
    private var state: State = .idle
    private var wantPause = false
    private var stopping = false
    private var pauseWaiters: [CheckedContinuation<Void, Never>] = []
    private var readyWaiters: [(target: [PublicKey: UInt64], continuation: CheckedContinuation<Void, any Error>)] = []
    private var resumeWaiter: CheckedContinuation<Void, Never>?

    init(name: String, version: Int64, view: any KappaView<Value>, encoding: ValueEncoding<Value>,
         database: SQLiteDatabase, feeds: FeedSet, progress: [PublicKey: UInt64],
         report: @escaping @Sendable (KappaError) -> Void) {
        self.name = name
        self.version = version
        self.view = view
        self.encoding = encoding
        self.database = database
        self.feeds = feeds
        self.progress = progress
        self.report = report
    }

    // MARK: The loop

    /// Runs until ``stop()``.
    func run() async {
        // Positions run ahead of `progress` by the batch being mapped; after a pause or a failure the
        // sequence restarts from the committed checkpoint.
        var batches: MergedEntries.Iterator?
        while !stopping {
            switch state {
            case .paused, .failed:
                batches = nil
                await withCheckedContinuation { resumeWaiter = $0 }
                continue
            case .closed:
                return
            case .idle, .running:
                break
            }
            if batches == nil {
                batches = MergedEntries(feeds: feeds, start: progress, maxBatch: view.maxBatch, live: true).makeAsyncIterator()
            }
            state = .idle
            let batch: [FeedBlock]?
            do {
                batch = try await batches!.next()
            } catch {
                if stopping { break }
                fail(KappaError(.viewFailed, "view \(name): reading feeds failed", cause: error))
                continue
            }
            guard let batch else { break }  // the database is closing
            guard case .idle = state, !stopping else { continue }  // paused while waiting: not mapped
            state = .running
            do {
                try await process(batch)
                state = .idle
            } catch let error as KappaError {
                fail(error)
                continue
            } catch {
                fail(KappaError(.viewFailed, "view \(name) failed", cause: error))
                continue
            }
            if wantPause { enterPaused() }
        }
        state = .closed
        finishWaiters()
    }

    private func process(_ batch: [FeedBlock]) async throws {
        var next = progress
        var blocks = [[UInt8]]()
        blocks.reserveCapacity(batch.count)
        for i in batch.indices {
            blocks.append(batch[i].bytes)
            next[batch[i].feed] = batch[i].seq + 1
        }
        let values = encoding.decodeAll(blocks) { i, error in
            report(KappaError(.undecodableEntry,
                              "feed \(batch[i].feed) entry \(batch[i].seq) does not decode; view \(name) skips it", cause: error))
        }
        var entries = [KappaEntry<Value>]()
        entries.reserveCapacity(batch.count)
        for i in batch.indices {
            if let value = values[i] { entries.append(KappaEntry(feed: batch[i].feed, seq: batch[i].seq, value: value)) }
        }
        let transaction = ViewTransaction(view: name, database: database)
        if !entries.isEmpty {
            do {
                try await view.map(entries, transaction)
            } catch {
                throw KappaError(.viewFailed, "view \(name): map failed", cause: error)
            }
        }
        let writes = transaction.writes
        if let storage = view.stateStorage {
            if !writes.isEmpty {
                try database.withConnection { c in try c.transaction { try ViewData.apply(c, view: name, writes: writes) } }
            }
            do {
                try await storage.storeState(CoreStore.encodeProgress(next))
            } catch {
                throw KappaError(.viewFailed, "view \(name): storing its state failed", cause: error)
            }
        } else {
            // Exactly once: the batch's writes and the checkpoint commit in one transaction.
            try database.withConnection { c in
                try c.transaction {
                    try ViewData.apply(c, view: name, writes: writes)
                    try CoreStore.storeCheckpoint(c, view: name, version: version, progress: next)
                }
            }
        }
        progress = next
        if !entries.isEmpty { await view.indexed(entries) }
        settleReadyWaiters()
    }

    private func fail(_ error: KappaError) {
        state = .failed(error)
        report(error)
        if wantPause {
            wantPause = false
            resumePauseWaiters()
        }
        settleReadyWaiters()
    }

    private func enterPaused() {
        wantPause = false
        state = .paused
        resumePauseWaiters()
        settleReadyWaiters()
    }

    private func resumePauseWaiters() {
        let waiters = pauseWaiters
        pauseWaiters.removeAll()
        for w in waiters { w.resume() }
    }

    // MARK: Control

    /// Returns once everything in `target` (next sequence per feed) is indexed; at once when paused.
    /// - Throws: the view's error when it failed; ``KappaError/Code/closed`` when closed.
    func waitIndexed(_ target: [PublicKey: UInt64]) async throws {
        switch state {
        case .paused: return
        case .failed(let error): throw error
        case .closed: throw KappaError(.closed, "view \(name) is closed")
        case .idle, .running: break
        }
        if isIndexed(target) { return }
        try await withCheckedThrowingContinuation { readyWaiters.append((target, $0)) }
    }

    private func isIndexed(_ target: [PublicKey: UInt64]) -> Bool {
        target.allSatisfy { (progress[$0.key] ?? 0) >= $0.value }
    }

    private func settleReadyWaiters() {
        var keep = [(target: [PublicKey: UInt64], continuation: CheckedContinuation<Void, any Error>)]()
        for waiter in readyWaiters {
            switch state {
            case .paused: waiter.continuation.resume()
            case .failed(let error): waiter.continuation.resume(throwing: error)
            case .closed: waiter.continuation.resume(throwing: KappaError(.closed, "view \(name) is closed"))
            case .idle, .running:
                if isIndexed(waiter.target) { waiter.continuation.resume() } else { keep.append(waiter) }
            }
        }
        readyWaiters = keep
    }

    /// Stops indexing after the batch in flight is committed. Returns once stopped.
    func pause() async {
        switch state {
        case .paused, .closed, .failed:
            return
        case .idle:
            enterPaused()
        case .running:
            wantPause = true
            await withCheckedContinuation { pauseWaiters.append($0) }
        }
    }

    /// Restarts a paused view; retries a failed one from its last committed checkpoint.
    func resume() async throws {
        if wantPause {
            wantPause = false
            resumePauseWaiters()
        }
        switch state {
        case .paused:
            state = .idle
        case .failed:
            if let storage = view.stateStorage {
                progress = try CoreStore.decodeProgress(try await storage.fetchState() ?? [])
            } else {
                progress = try database.withConnection { try CoreStore.checkpoint($0, view: name)?.progress ?? [:] }
            }
            state = .idle
        case .idle, .running, .closed:
            return
        }
        resumeWaiter?.resume()
        resumeWaiter = nil
    }

    /// Ends the loop after the batch in flight.
    func stop() {
        stopping = true
        resumeWaiter?.resume()
        resumeWaiter = nil
    }

    private func finishWaiters() {
        resumePauseWaiters()
        settleReadyWaiters()
    }
}
