import Synchronization

/// Wakes waiters when something changes (a feed's length, a database's feeds). A version counter avoids lost
/// wake-ups: a waiter waits for a version newer than the one it saw.
package final class ChangeSignal: Sendable {
    private struct State {
        var version: UInt64 = 0
        var closed = false
        var nextID = 0
        var waiters: [Int: CheckedContinuation<Bool, Never>] = [:]
        var observers: [Int: @Sendable () -> Void] = [:]
    }

    private let state = Mutex(State())

    /// A signal at version 0.
    package init() {}

    /// The current version.
    package var version: UInt64 { state.withLock { $0.version } }

    /// Bumps the version, wakes every waiter and calls the observers.
    package func notify() {
        let (waiters, observers) = state.withLock { s in
            s.version += 1
            defer { s.waiters.removeAll() }
            return (Array(s.waiters.values), Array(s.observers.values))
        }
        for w in waiters { w.resume(returning: true) }
        for o in observers { o() }
    }

    /// Calls `observer` (synchronously, on the notifying thread) after every change. Keep it short.
    /// - Returns: an id for ``removeObserver(_:)``.
    @discardableResult
    package func observe(_ observer: @escaping @Sendable () -> Void) -> Int {
        state.withLock { s in
            s.nextID += 1
            s.observers[s.nextID] = observer
            return s.nextID
        }
    }

    /// Stops calling the observer `id`.
    package func removeObserver(_ id: Int) {
        state.withLock { _ = $0.observers.removeValue(forKey: id) }
    }

    /// Wakes every waiter for good: further waits return `false` at once.
    package func close() {
        let waiters = state.withLock { s in
            s.closed = true
            defer { s.waiters.removeAll() }
            return Array(s.waiters.values)
        }
        for w in waiters { w.resume(returning: false) }
    }

    /// Waits until the version passes `seen`. Returns `false` when the feed closed or the task was cancelled.
    package func wait(after seen: UInt64) async -> Bool {
        let id = state.withLock { s in
            s.nextID += 1
            return s.nextID
        }
        return await withTaskCancellationHandler {
            await withCheckedContinuation { (continuation: CheckedContinuation<Bool, Never>) in
                let immediate: Bool? = state.withLock { s in
                    if s.closed || Task.isCancelled { return false }
                    if s.version > seen { return true }
                    s.waiters[id] = continuation
                    return nil
                }
                if let immediate { continuation.resume(returning: immediate) }
            }
        } onCancel: {
            let waiter = state.withLock { $0.waiters.removeValue(forKey: id) }
            waiter?.resume(returning: false)
        }
    }

    /// Like ``wait(after:)``, but returns `false` at `deadline` too.
    package func wait(after seen: UInt64, until deadline: ContinuousClock.Instant) async -> Bool {
        await withTaskGroup(of: Bool?.self) { group in
            group.addTask { await self.wait(after: seen) }
            group.addTask {
                try? await Task.sleep(until: deadline, clock: .continuous)
                return nil
            }
            let first = await group.next() ?? nil
            group.cancelAll()
            return first ?? false
        }
    }
}
