import Hypercore

/// Indexes one view: consumes the ``MergedEntries`` of all feeds from its checkpoint, maps each batch, and
/// commits the view's writes with its new checkpoint.
///
/// Its control state (waiting, mapping, pausing, paused, failed, stopped) is an ``IndexerStateMachine``; this
/// actor runs the loop and holds the continuations of `ready` and `pause` callers. Every wait ends when the
/// waiting task is cancelled; ``run()`` ends when its task is cancelled or on ``stop()``.
actor ViewIndexer<Value: Sendable> {
    let name: String
    private let view: any KappaView<Value>
    private let encoding: ValueEncoding<Value>
    private let database: SQLiteDatabase
    private let feeds: FeedSet
    private let report: @Sendable (KappaError) -> Void

    /// The committed checkpoint: the next sequence number per feed.
    private var progress: [PublicKey: UInt64]
    private var machine = IndexerStateMachine()
    private var nextWaiterID = 0
    private var readyContinuations: [Int: CheckedContinuation<Void, any Error>] = [:]
    private var pauseContinuations: [Int: CheckedContinuation<Void, any Error>] = [:]
    /// The loop, while it waits to be resumed.
    private var wakeContinuation: CheckedContinuation<Void, Never>?

    init(name: String, view: any KappaView<Value>, encoding: ValueEncoding<Value>,
         database: SQLiteDatabase, feeds: FeedSet, progress: [PublicKey: UInt64],
         report: @escaping @Sendable (KappaError) -> Void) {
        self.name = name
        self.view = view
        self.encoding = encoding
        self.database = database
        self.feeds = feeds
        self.progress = progress
        self.report = report
    }

    // MARK: The loop

    /// A batch read from the feeds and decoded, with the iterator positioned after it.
    private struct ReadBatch: Sendable {
        var iterator: MergedEntries.Iterator
        /// `nil` when the sequence ended (closing or cancelled); empty when a feed was newly held back by damage.
        var blocks: [FeedBlock]?
        /// One result per block.
        var decoded: [Result<Value, any Error>]
    }

    /// Reads the next batch after `iterator` and decodes it.
    private static func read(_ iterator: MergedEntries.Iterator, _ encoding: ValueEncoding<Value>) async throws -> ReadBatch {
        var iterator = iterator
        let blocks = try await iterator.next()
        guard let blocks, !blocks.isEmpty else { return ReadBatch(iterator: iterator, blocks: blocks, decoded: []) }
        return ReadBatch(iterator: iterator, blocks: blocks, decoded: await encoding.decodeConcurrently(blocks.map(\.bytes)))
    }

    /// Runs until ``stop()`` or until its task is cancelled.
    ///
    /// While a batch is mapped and committed, the next one is read and decoded beside it (decoding does not
    /// depend on the view's data; mapping does, so mapping and committing stay in order).
    func run() async {
        // Positions run ahead of `progress` by the batches read and not yet committed; after a pause or a failure
        // the sequence restarts from the committed checkpoint.
        var batches: MergedEntries.Iterator?
        var ahead: ReadBatch?
        loop: while !Task.isCancelled {
            switch machine.loopAction {
            case .stop:
                break loop
            case .waitForResume:
                batches = nil
                ahead = nil
                await waitForWake()
                continue
            case .index:
                break
            }
            let read: ReadBatch
            do {
                if let ahead { read = ahead } else {
                    read = try await Self.read(
                        batches ?? MergedEntries(feeds: feeds, start: progress, maxBatch: view.maxBatch, live: true).makeAsyncIterator(),
                        encoding)
                }
                ahead = nil
            } catch {
                ahead = nil
                if machine.loopAction == .stop { break }
                failed(KappaError(.viewFailed, "view \(name): reading feeds failed", cause: error))
                continue
            }
            batches = read.iterator
            guard let batch = read.blocks else { break }  // closing or cancelled
            if batch.isEmpty {
                // A feed is newly held back by damage: ready calls waiting on it may now be done.
                resumeWaiters(machine.progressed(isIndexed))
                continue
            }
            guard machine.batchArrived() else { continue }  // paused while waiting: not mapped
            // The next batch is read and decoded while this one is mapped and committed. Leaving this scope early
            // (a failure, a pause) cancels and awaits it; what it read is dropped with the iterator.
            async let next = Self.read(read.iterator, encoding)
            do {
                try await process(batch, read.decoded)
                resumeWaiters(machine.batchCommitted(isIndexed))
            } catch {
                // Restart from the committed checkpoint, decided now: leaving this scope awaits the read ahead, and
                // a `resume()` may run meanwhile, before the loop sees that it failed.
                batches = nil
                failed(error as? KappaError ?? KappaError(.viewFailed, "view \(name) failed", cause: error))
                continue
            }
            guard machine.loopAction == .index else { continue }
            do {
                ahead = try await next
            } catch {
                if machine.loopAction == .stop { break }
                failed(KappaError(.viewFailed, "view \(name): reading feeds failed", cause: error))
            }
        }
        resumeWaiters(machine.stop())
    }

    private func process(_ batch: [FeedBlock], _ results: [Result<Value, any Error>]) async throws {
        // Only the feeds in this batch advance: the checkpoint write is proportional to the batch.
        var changed = [PublicKey: UInt64]()
        // A batch holds runs of one feed's blocks: one dictionary write per run.
        for i in batch.indices where i + 1 == batch.count || batch[i + 1].feed != batch[i].feed {
            changed[batch[i].feed] = batch[i].seq + 1
        }
        var entries = [KappaEntry<Value>]()
        entries.reserveCapacity(batch.count)
        for i in batch.indices {
            switch results[i] {
            case .success(let value):
                entries.append(KappaEntry(feed: batch[i].feed, seq: batch[i].seq, value: value, block: batch[i].bytes))
            case .failure(let error):
                report(KappaError(.undecodableEntry,
                                  "feed \(batch[i].feed) entry \(batch[i].seq) does not decode; view \(name) skips it",
                                  cause: error))
            }
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
        let work = transaction.sqlWork
        if let storage = view.stateStorage {
            if !writes.isEmpty || !work.isEmpty {
                let reports = try await database.write { [name] c in
                    try c.transaction {
                        try ViewData.apply(c, view: name, writes: writes)
                        return try Self.runSQL(work, c, view: name)
                    }
                }
                for problem in reports { report(problem) }
            }
            let next = progress.merging(changed) { $1 }
            do {
                try await storage.storeState(CoreStore.encodeProgress(next))
            } catch {
                throw KappaError(.viewFailed, "view \(name): storing its state failed", cause: error)
            }
        } else {
            // Exactly once: the batch's writes and the checkpoint commit in one transaction.
            let reports = try await database.write { [name, changed] c in
                try c.transaction {
                    try ViewData.apply(c, view: name, writes: writes)
                    let reports = try Self.runSQL(work, c, view: name)
                    try CoreStore.advanceCheckpoint(c, view: name, changed: changed)
                    return reports
                }
            }
            for problem in reports { report(problem) }
        }
        progress.merge(changed) { $1 }
        if !entries.isEmpty { await view.indexed(entries) }
    }

    /// Runs a batch's SQL work (inside its commit); returns the entries it reported.
    private static func runSQL(_ work: [@Sendable (ViewSQL) throws -> Void], _ c: SQLiteConnection, view: String) throws
        -> [KappaError]
    {
        guard !work.isEmpty else { return [] }
        let sql = ViewSQL(c, view: view)
        do {
            for body in work { try body(sql) }
        } catch let error as KappaError {
            throw error
        } catch {
            throw KappaError(.viewFailed, "view \(view): its SQL failed", cause: error)
        }
        return sql.reports
    }

    private func failed(_ error: KappaError) {
        report(error)
        resumeWaiters(machine.batchFailed(error, isIndexed))
    }

    /// True when `target` (next sequence per feed) is indexed; a feed held back by damage counts up to the
    /// damaged block.
    private func isIndexed(_ target: [PublicKey: UInt64]) -> Bool {
        target.allSatisfy { key, next in
            let reachable = feeds.damage(of: key).map { Swift.min($0, next) } ?? next
            return (progress[key] ?? 0) >= reachable
        }
    }

    private func resumeWaiters(_ wakeups: IndexerStateMachine.Wakeups) {
        for (id, result) in wakeups.ready {
            guard let continuation = readyContinuations.removeValue(forKey: id) else { continue }
            switch result {
            case .ready: continuation.resume()
            case .failed(let error): continuation.resume(throwing: error)
            case .closed: continuation.resume(throwing: KappaError(.closed, "view \(name) is closed"))
            }
        }
        for id in wakeups.pauses {
            pauseContinuations.removeValue(forKey: id)?.resume()
        }
    }

    private func waitForWake() async {
        await withTaskCancellationHandler {
            await withCheckedContinuation { continuation in
                if Task.isCancelled {
                    continuation.resume()
                } else {
                    wakeContinuation = continuation
                }
            }
        } onCancel: {
            Task { await self.wake() }
        }
    }

    private func wake() {
        wakeContinuation?.resume()
        wakeContinuation = nil
    }

    private func newWaiterID() -> Int {
        nextWaiterID += 1
        return nextWaiterID
    }

    // MARK: Control

    /// Returns once everything in `target` (next sequence per feed) is indexed; at once when paused.
    /// - Throws: the view's error when it failed; ``KappaError/Code/closed`` when closed; `CancellationError`
    ///   when the calling task is cancelled.
    func waitIndexed(_ target: [PublicKey: UInt64]) async throws {
        let id = newWaiterID()
        try await withTaskCancellationHandler {
            try await withCheckedThrowingContinuation { (continuation: CheckedContinuation<Void, any Error>) in
                if Task.isCancelled {
                    continuation.resume(throwing: CancellationError())
                    return
                }
                switch machine.ready(id: id, target: target, isIndexed) {
                case .ready: continuation.resume()
                case .failed(let error): continuation.resume(throwing: error)
                case .closed: continuation.resume(throwing: KappaError(.closed, "view \(name) is closed"))
                case nil: readyContinuations[id] = continuation
                }
            }
        } onCancel: {
            Task { await self.cancelReady(id) }
        }
    }

    private func cancelReady(_ id: Int) {
        if machine.cancelReady(id: id) { readyContinuations.removeValue(forKey: id)?.resume(throwing: CancellationError()) }
    }

    /// Stops indexing after the batch in flight is committed. Returns once stopped.
    /// - Throws: `CancellationError` when the calling task is cancelled first (the pause still happens).
    func pause() async throws {
        let id = newWaiterID()
        try await withTaskCancellationHandler {
            try await withCheckedThrowingContinuation { (continuation: CheckedContinuation<Void, any Error>) in
                let (action, wakeups) = machine.pause(id: id, isIndexed)
                resumeWaiters(wakeups)
                switch action {
                case .done: continuation.resume()
                case .wait: pauseContinuations[id] = continuation
                }
            }
        } onCancel: {
            Task { await self.cancelPause(id) }
        }
    }

    private func cancelPause(_ id: Int) {
        if machine.cancelPause(id: id) { pauseContinuations.removeValue(forKey: id)?.resume(throwing: CancellationError()) }
    }

    /// Restarts a paused view; retries a failed one from its last committed checkpoint.
    func resume() async throws {
        let (action, wakeups) = machine.resume()
        resumeWaiters(wakeups)
        switch action {
        case .none:
            return
        case .reloadAndWake:
            if let storage = view.stateStorage {
                progress = try CoreStore.decodeProgress(try await storage.fetchState() ?? [])
            } else {
                progress = try database.withConnection { try CoreStore.checkpoint($0, view: name)?.progress ?? [:] }
            }
            wake()
        case .wake:
            wake()
        }
    }

    /// Ends the loop after the batch in flight.
    func stop() {
        resumeWaiters(machine.stop())
        wake()
    }
}
