import Synchronization

/// The tasks a database starts (view indexers now; replication sessions and listeners later), owned in one
/// place: ``cancelAll()`` cancels them (the database does that when it is closed or released), ``waitAll()``
/// awaits them. A task's body holds what it needs, including what holds the database's lock, so the lock is
/// released only after the last task has ended.
package final class OwnedTasks: Sendable {
    /// A running task, whatever it returns.
    private struct Entry {
        let cancel: @Sendable () -> Void
        let wait: @Sendable () async -> Void

        init<T: Sendable, E: Error>(_ task: Task<T, E>) {
            cancel = { task.cancel() }
            wait = { _ = await task.result }
        }
    }

    private struct State {
        var nextID = 0
        var running: [Int: Entry] = [:]
        var closed = false
    }

    private let state = Mutex(State())

    /// Starts `body` as an owned task; returns `false` (and starts nothing) once ``cancelAll()`` was called.
    @discardableResult
    func spawn(_ body: @escaping @Sendable () async -> Void) -> Bool {
        state.withLock { s in
            guard !s.closed else { return false }
            s.nextID += 1
            let id = s.nextID
            // The task removes itself when done; registering happens under the same lock, before it can end.
            s.running[id] = Entry(Task { [weak self] in
                await body()
                self?.finished(id)
            })
            return true
        }
    }

    /// Starts `body` as an owned task and returns it (to await its value, or cancel it); `nil` (and nothing
    /// started) once ``cancelAll()`` or ``waitAll()`` was called.
    package func start<T: Sendable>(_ body: @escaping @Sendable () async throws -> T) -> Task<T, any Error>? {
        state.withLock { s in
            guard !s.closed else { return nil }
            s.nextID += 1
            let id = s.nextID
            let task = Task { [weak self] () async throws -> T in
                defer { self?.finished(id) }
                return try await body()
            }
            s.running[id] = Entry(task)
            return task
        }
    }

    private func finished(_ id: Int) {
        _ = state.withLock { $0.running.removeValue(forKey: id) }
    }

    /// Cancels every owned task and refuses new ones.
    func cancelAll() {
        let tasks = state.withLock { s in
            s.closed = true
            return Array(s.running.values)
        }
        for task in tasks { task.cancel() }
    }

    /// Refuses new tasks and waits for every owned task to end (without cancelling them).
    func waitAll() async {
        let tasks = state.withLock { s in
            s.closed = true
            return Array(s.running.values)
        }
        for task in tasks { await task.wait() }
    }

    /// How many owned tasks are running.
    var count: Int { state.withLock { $0.running.count } }
}
