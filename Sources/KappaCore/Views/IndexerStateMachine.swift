import Hypercore

/// The control state of one view indexer, kept apart from the actor that runs it (in the style of
/// swift-async-algorithms' state machines): each event is a `mutating` method that returns what to do. Waiters
/// (`ready` and `pause` callers) are kept here by id; the actor owns their continuations and resumes the ones
/// an event returns.
struct IndexerStateMachine {
    enum State: Sendable {
        /// Waiting for the next batch.
        case waiting
        /// A batch is being mapped and committed.
        case mapping
        /// A batch is being mapped and committed, and a pause was asked for: pause after the commit.
        case pausing
        /// Stopped by a pause; ``resume()`` restarts.
        case paused
        /// Stopped by an error; ``resume()`` retries from the last checkpoint.
        case failed(KappaError)
        /// Stopped for good.
        case stopped
    }

    /// How a `ready` call ends.
    enum ReadyResult: Sendable {
        case ready
        case failed(KappaError)
        case closed
    }

    /// What the loop does next.
    enum LoopAction: Equatable {
        /// Read and map the next batch.
        case index
        /// Wait until resumed (paused or failed).
        case waitForResume
        /// End.
        case stop
    }

    /// What to resume after an event.
    struct Wakeups {
        var ready: [(id: Int, result: ReadyResult)] = []
        var pauses: [Int] = []
        var isEmpty: Bool { ready.isEmpty && pauses.isEmpty }
    }

    /// Progress check: true when everything in the target (next sequence per feed) is indexed.
    typealias IsIndexed = ([PublicKey: UInt64]) -> Bool

    private(set) var state: State = .waiting
    private var readyWaiters: [(id: Int, target: [PublicKey: UInt64])] = []
    private var pauseWaiters: [Int] = []

    var loopAction: LoopAction {
        switch state {
        case .waiting, .mapping, .pausing: .index
        case .paused, .failed: .waitForResume
        case .stopped: .stop
        }
    }

    // MARK: Events of the loop

    /// A batch arrived. Returns true when it is to be mapped (false: paused or stopped meanwhile; the batch is
    /// dropped and read again from the checkpoint later).
    mutating func batchArrived() -> Bool {
        guard case .waiting = state else { return false }
        state = .mapping
        return true
    }

    /// The batch in flight committed (or there was nothing to map but progress may count differently).
    mutating func batchCommitted(_ isIndexed: IsIndexed) -> Wakeups {
        var wakeups = Wakeups()
        switch state {
        case .mapping:
            state = .waiting
        case .pausing:
            state = .paused
            wakeups.pauses = takePauseWaiters()
        case .waiting, .paused, .failed, .stopped:
            break
        }
        wakeups.ready = settleReady(isIndexed)
        return wakeups
    }

    /// The batch in flight, or reading, failed: the view stops until resumed.
    mutating func batchFailed(_ error: KappaError, _ isIndexed: IsIndexed) -> Wakeups {
        if case .stopped = state { return Wakeups() }
        state = .failed(error)
        return Wakeups(ready: settleReady(isIndexed), pauses: takePauseWaiters())
    }

    /// The loop ended: fails every waiter for good.
    mutating func stop() -> Wakeups {
        state = .stopped
        return Wakeups(ready: settleReady { _ in false }, pauses: takePauseWaiters())
    }

    // MARK: Control

    enum PauseAction: Equatable {
        case done
        case wait
    }

    /// A pause was asked for by waiter `id`.
    mutating func pause(id: Int, _ isIndexed: IsIndexed) -> (action: PauseAction, wakeups: Wakeups) {
        switch state {
        case .waiting:
            state = .paused
            return (.done, Wakeups(ready: settleReady(isIndexed)))
        case .mapping, .pausing:
            state = .pausing
            pauseWaiters.append(id)
            return (.wait, Wakeups())
        case .paused, .failed, .stopped:
            return (.done, Wakeups())
        }
    }

    enum ResumeAction: Equatable {
        case none
        /// Wake the loop.
        case wake
        /// Reload the checkpoint, then wake the loop (retrying after a failure).
        case reloadAndWake
    }

    mutating func resume() -> (action: ResumeAction, wakeups: Wakeups) {
        switch state {
        case .pausing:
            state = .mapping
            return (.none, Wakeups(pauses: takePauseWaiters()))
        case .paused:
            state = .waiting
            return (.wake, Wakeups())
        case .failed:
            state = .waiting
            return (.reloadAndWake, Wakeups())
        case .waiting, .mapping, .stopped:
            return (.none, Wakeups())
        }
    }

    /// A `ready` call by waiter `id` for `target`. `nil`: wait (the waiter is kept).
    mutating func ready(id: Int, target: [PublicKey: UInt64], _ isIndexed: IsIndexed) -> ReadyResult? {
        if let result = immediateResult(target, isIndexed) { return result }
        readyWaiters.append((id, target))
        return nil
    }

    /// Removes a cancelled `ready` waiter; true when it was still waiting.
    mutating func cancelReady(id: Int) -> Bool {
        guard let i = readyWaiters.firstIndex(where: { $0.id == id }) else { return false }
        readyWaiters.remove(at: i)
        return true
    }

    /// Removes a cancelled `pause` waiter; true when it was still waiting.
    mutating func cancelPause(id: Int) -> Bool {
        guard let i = pauseWaiters.firstIndex(of: id) else { return false }
        pauseWaiters.remove(at: i)
        return true
    }

    /// Settles ready waiters after progress that did not come from a batch (damage found, feeds changed).
    mutating func progressed(_ isIndexed: IsIndexed) -> Wakeups {
        Wakeups(ready: settleReady(isIndexed))
    }

    // MARK: Helpers

    private func immediateResult(_ target: [PublicKey: UInt64], _ isIndexed: IsIndexed) -> ReadyResult? {
        switch state {
        case .paused: .ready
        case .failed(let error): .failed(error)
        case .stopped: .closed
        case .waiting, .mapping, .pausing: isIndexed(target) ? .ready : nil
        }
    }

    private mutating func settleReady(_ isIndexed: IsIndexed) -> [(id: Int, result: ReadyResult)] {
        var settled = [(id: Int, result: ReadyResult)]()
        var waiting = [(id: Int, target: [PublicKey: UInt64])]()
        for waiter in readyWaiters {
            if let result = immediateResult(waiter.target, isIndexed) {
                settled.append((waiter.id, result))
            } else {
                waiting.append(waiter)
            }
        }
        readyWaiters = waiting
        return settled
    }

    private mutating func takePauseWaiters() -> [Int] {
        defer { pauseWaiters.removeAll() }
        return pauseWaiters
    }
}
