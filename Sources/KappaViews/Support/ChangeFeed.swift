import Synchronization

/// The live changes of a view: every subscriber gets each change committed after it subscribed, in commit
/// order. Changes are published from the view's `indexed` hook, which the core calls only after a batch and its
/// checkpoint have committed.
///
/// Reading without a gap: subscribe first, then query, then apply the changes as they come. A change that the
/// query already saw comes again; changes carry the new state (not a delta), so applying it twice is harmless.
final class ChangeFeed<Element: Sendable>: Sendable {
    private struct State {
        var subscribers: [Int: AsyncStream<Element>.Continuation] = [:]
        var nextID = 0
        /// What the batch being committed touched (filled inside the commit, published after it).
        var pending: [String] = []
    }

    private let state = Mutex(State())
    private let bufferLimit: Int

    /// A feed whose subscribers each buffer up to `bufferLimit` changes (the oldest are dropped beyond it).
    init(bufferLimit: Int = 10_000) {
        self.bufferLimit = bufferLimit
    }

    /// A new subscription; it ends when the stream is dropped or cancelled.
    func subscribe() -> AsyncStream<Element> {
        let (stream, continuation) = AsyncStream.makeStream(of: Element.self, bufferingPolicy: .bufferingNewest(bufferLimit))
        let id = state.withLock { s in
            s.nextID += 1
            s.subscribers[s.nextID] = continuation
            return s.nextID
        }
        continuation.onTermination = { [weak self] _ in
            _ = self?.state.withLock { $0.subscribers.removeValue(forKey: id) }
        }
        return stream
    }

    /// True when someone listens (views skip computing changes otherwise).
    var hasSubscribers: Bool { state.withLock { !$0.subscribers.isEmpty } }

    /// Notes keys touched by the batch being committed.
    func touch(_ keys: some Sequence<String>) {
        state.withLock { $0.pending.append(contentsOf: keys) }
    }

    /// Notes a key touched by the batch being committed.
    func touch(_ key: String) {
        state.withLock { $0.pending.append(key) }
    }

    /// Takes the keys touched since the last call (each once, in first-touched order).
    func takeTouched() -> [String] {
        let keys = state.withLock { s in
            defer { s.pending.removeAll() }
            return s.pending
        }
        var seen = Set<String>()
        return keys.filter { seen.insert($0).inserted }
    }

    /// Sends `changes` to every subscriber.
    func publish(_ changes: [Element]) {
        let subscribers = state.withLock { Array($0.subscribers.values) }
        for continuation in subscribers {
            for change in changes { continuation.yield(change) }
        }
    }
}
