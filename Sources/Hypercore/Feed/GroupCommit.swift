import Dispatch
import Synchronization

/// Shares one `fdatasync` among concurrent appends (group commit).
///
/// The feed calls ``wrote()`` after each write and awaits ``waitDurable(_:)`` with the ticket it got. One sync
/// at a time runs on a private dispatch queue, never on the cooperative pool; it covers every write that
/// finished before it started, and resumes all waiters those writes belong to.
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

    private func runSyncs() {
        while true {
            let target = state.withLock { $0.written }
            var error: (any Error)?
            do {
                for file in files { try file.sync() }
            } catch let e {
                error = e
            }
            let (ready, failed, again) = state.withLock { s -> ([CheckedContinuation<Void, any Error>], [CheckedContinuation<Void, any Error>], Bool) in
                if let error {
                    s.failure = error
                    let all = s.waiters.map(\.continuation)
                    s.waiters.removeAll()
                    s.syncing = false
                    return ([], all, false)
                }
                s.synced = max(s.synced, target)
                var ready = [CheckedContinuation<Void, any Error>]()
                s.waiters.removeAll { w in
                    if w.ticket <= target {
                        ready.append(w.continuation)
                        return true
                    }
                    return false
                }
                if s.waiters.isEmpty { s.syncing = false }
                return (ready, [], !s.waiters.isEmpty)
            }
            for c in ready { c.resume() }
            for c in failed { c.resume(throwing: error!) }
            if !again { return }
        }
    }
}
