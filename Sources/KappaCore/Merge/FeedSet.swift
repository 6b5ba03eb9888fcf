import Hypercore
import Synchronization

/// The feeds of a database, shared with every merged sequence: it only grows, and every change to it or to
/// one of its feeds bumps ``changes``. It also remembers, per feed, how often the feed changed (so a reader
/// can skip feeds with nothing new without asking them) and where a feed is held back by a block that does
/// not read (damage: reported once, then treated like a gap).
final class FeedSet: Sendable {
    private struct State {
        var feeds: [Feed] = []
        var versions: [PublicKey: UInt64] = [:]
        var damage: [PublicKey: UInt64] = [:]
    }

    private let state = Mutex(State())
    /// Bumped on every append, verified download, and new feed.
    let changes = ChangeSignal()
    /// Bumped on every new feed only.
    let membership = ChangeSignal()
    /// Where damage is reported (the database's `errors`).
    private let report: @Sendable (KappaError) -> Void

    init(report: @escaping @Sendable (KappaError) -> Void = { _ in }) {
        self.report = report
    }

    /// The feeds, in the order they were added.
    var feeds: [Feed] { state.withLock { $0.feeds } }

    /// How many times `key` changed (appends and downloads) since it was added.
    func version(of key: PublicKey) -> UInt64 {
        state.withLock { $0.versions[key] ?? 0 }
    }

    /// Adds `feed` (ignored if present) and wakes the sequences.
    func add(_ feed: Feed) {
        let key = feed.key
        let added = state.withLock { s -> Bool in
            guard s.versions[key] == nil else { return false }
            s.feeds.append(feed)
            s.versions[key] = 0
            return true
        }
        guard added else { return }
        let changes = self.changes
        feed.onChange { [weak self] in
            self?.state.withLock { $0.versions[key, default: 0] += 1 }
            changes.notify()
        }
        changes.notify()
        membership.notify()
    }

    /// The first block of `key` that could not be read, if any: readers stop there.
    func damage(of key: PublicKey) -> UInt64? {
        state.withLock { $0.damage[key] }
    }

    /// Records that block `index` of `feed` does not read; reports it the first time. Returns true when new.
    @discardableResult
    func recordDamage(_ feed: Feed, at index: UInt64, _ error: any Error) -> Bool {
        let new = state.withLock { s -> Bool in
            if s.damage[feed.key] == index { return false }
            s.damage[feed.key] = index
            return true
        }
        guard new else { return false }
        report(KappaError(.damagedFeed,
                          "feed \(feed.key) (\(feed.location)) block \(index) does not read; its later entries wait",
                          cause: error))
        return true
    }

    /// Clears recorded damage of `key` once blocks at or past it read again.
    func clearDamage(_ key: PublicKey, readingFrom start: UInt64, count: Int) {
        state.withLock { s in
            if let at = s.damage[key], at >= start, at < start + UInt64(count) { s.damage[key] = nil }
        }
    }
}
