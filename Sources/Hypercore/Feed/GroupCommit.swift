import Dispatch
import Synchronization

/// Shares one flush among concurrent appends (group commit).
///
/// The feed calls ``wrote()`` after each write and awaits ``waitDurable(_:)`` with the ticket it got. One flush
/// at a time runs off the cooperative pool; it syncs the files in parallel and covers every write that
/// finished before it started.
final class GroupCommit: Sendable {
    private struct State {
        var written: UInt64 = 0
        var synced: UInt64 = 0
        var syncing = false
        var waiters: [(ticket: UInt64, continuation: CheckedContinuation<Void, any Error>)] = []
        var failure: (any Error)?
    }

    private let files: [any RandomAccessStorage]
    private let state = Mutex(State())
    private let queue = DispatchQueue(label: "kappa.feed.group-commit")

    init(files: [any RandomAccessStorage]) {
        self.files = files
    }

    /// Records a finished write; returns its ticket.
    func wrote() -> UInt64 {
        state.withLock {
            $0.written += 1
            return $0.written
        }
    }

    /// The ticket of the latest write.
    var latest: UInt64 { state.withLock { $0.written } }

    /// Returns once the write with `ticket` is durable; throws the sync error if syncing failed.
    func waitDurable(_ ticket: UInt64) async throws {
        enum Action { case done, fail(any Error), wait, startSync }
        try await withCheckedThrowingContinuation { (continuation: CheckedContinuation<Void, any Error>) in
            let action: Action = state.withLock { s in
                if let failure = s.failure { return .fail(failure) }
                if s.synced >= ticket { return .done }
                s.waiters.append((ticket, continuation))
                if s.syncing { return .wait }
                s.syncing = true
                return .startSync
            }
            switch action {
            case .done: continuation.resume()
            case .fail(let error): continuation.resume(throwing: error)
            case .wait: break
            case .startSync: queue.async { self.runSyncs() }
            }
        }
    }

    private func syncAll() throws {
        if files.count == 1 {
            try files[0].sync()
            return
        }
        let errors = Mutex<[any Error]>([])
        DispatchQueue.concurrentPerform(iterations: files.count) { i in
            do { try files[i].sync() } catch { errors.withLock { $0.append(error) } }
        }
        if let first = errors.withLock({ $0.first }) { throw first }
    }

    private func runSyncs() {
        while true {
            let target = state.withLock { $0.written }
            var error: (any Error)?
            do { try syncAll() } catch let e { error = e }
            typealias Continuation = CheckedContinuation<Void, any Error>
            let (ready, failed, again) = state.withLock { s -> ([Continuation], [Continuation], Bool) in
                if let error {
                    s.failure = error
                    let all = s.waiters.map(\.continuation)
                    s.waiters.removeAll()
                    s.syncing = false
                    return ([], all, false)
                }
                s.synced = max(s.synced, target)
                var ready = [Continuation]()
                s.waiters.removeAll { w in
                    guard w.ticket <= target else { return false }
                    ready.append(w.continuation)
                    return true
                }
                if s.waiters.isEmpty { s.syncing = false }
                return (ready, [], !s.waiters.isEmpty)
            }
            for c in ready { c.resume() }
            if let error { for c in failed { c.resume(throwing: error) } }
            if !again { return }
        }
    }
}
