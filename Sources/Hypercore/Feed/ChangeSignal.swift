import Synchronization

/// Wakes live readers when a feed changes. A version counter avoids lost wake-ups: a reader waits for a
/// version newer than the one it saw.
final class ChangeSignal: Sendable {
    private struct State {
        var version: UInt64 = 0
        var closed = false
        var nextID = 0
        var waiters: [Int: CheckedContinuation<Bool, Never>] = [:]
    }

    private let state = Mutex(State())

    /// The current version.
    var version: UInt64 { state.withLock { $0.version } }

    /// Bumps the version and wakes every waiter.
    func notify() {
        let waiters = state.withLock { s in
            s.version += 1
            defer { s.waiters.removeAll() }
            return Array(s.waiters.values)
        }
        for w in waiters { w.resume(returning: true) }
    }

    /// Wakes every waiter for good: further waits return `false` at once.
    func close() {
        let waiters = state.withLock { s in
            s.closed = true
            defer { s.waiters.removeAll() }
            return Array(s.waiters.values)
        }
        for w in waiters { w.resume(returning: false) }
    }

    /// Waits until the version passes `seen`. Returns `false` when the feed closed or the task was cancelled.
    func wait(after seen: UInt64) async -> Bool {
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
}
