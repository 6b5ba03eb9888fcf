import Hypercore
import Synchronization

/// The feeds of a database, shared with every merged sequence: it only grows, and every change to it or to
/// one of its feeds bumps ``changes``.
final class FeedSet: Sendable {
    private let list = Mutex<[Feed]>([])
    /// Bumped on every append, verified download, and new feed.
    let changes = ChangeSignal()

    /// The feeds, in the order they were added.
    var feeds: [Feed] { list.withLock { $0 } }

    /// Adds `feed` (ignored if present) and wakes the sequences.
    func add(_ feed: Feed) {
        let added = list.withLock { feeds -> Bool in
            guard !feeds.contains(where: { $0.key == feed.key }) else { return false }
            feeds.append(feed)
            return true
        }
        guard added else { return }
        let changes = self.changes
        feed.onChange { changes.notify() }
        changes.notify()
    }
}
