import Synchronization

/// The block ranges local readers wait for on a replica (``Feed/get(_:timeout:)``, ``Feed/download(_:)``),
/// which replication sessions fetch from their peers.
///
/// Shared between the feed and its sessions without an actor hop: sessions read ``ranges`` when they schedule
/// requests and wait on ``signal`` for new wants.
package final class Wants: Sendable {
    private struct State {
        var nextID = 0
        var ranges: [Int: Range<UInt64>] = [:]
    }

    private let state = Mutex(State())
    /// Notified whenever a want is added.
    package let signal = ChangeSignal()

    package init() {}

    /// Adds a wanted range; returns its id for ``remove(_:)``.
    package func add(_ range: Range<UInt64>) -> Int {
        let id = state.withLock { s in
            s.nextID += 1
            s.ranges[s.nextID] = range
            return s.nextID
        }
        signal.notify()
        return id
    }

    /// Removes a want (satisfied, timed out or cancelled).
    package func remove(_ id: Int) {
        state.withLock { _ = $0.ranges.removeValue(forKey: id) }
    }

    /// The wanted ranges, sorted by start.
    package var ranges: [Range<UInt64>] {
        state.withLock { $0.ranges.values.sorted { $0.lowerBound < $1.lowerBound } }
    }

    /// True when some want overlaps `range`.
    package func overlaps(_ range: Range<UInt64>) -> Bool {
        state.withLock { $0.ranges.values.contains { $0.overlaps(range) } }
    }
}

/// The blocks of a feed that some replication session has requested and not yet received, so that a feed
/// replicating with several peers at once fetches each block once.
package final class BlockClaims: Sendable {
    private let claimed = Mutex(Set<UInt64>())
    /// Notified when claims are given up without the block arriving, so other sessions can ask for them.
    package let abandoned = ChangeSignal()

    package init() {}

    /// Claims `index`; false when another request holds it.
    package func claim(_ index: UInt64) -> Bool {
        claimed.withLock { $0.insert(index).inserted }
    }

    /// Claims several indexes under one lock: `body` gets a function that claims one (false when another request
    /// holds it).
    package func claiming(_ body: (_ claim: (UInt64) -> Bool) -> Void) {
        claimed.withLock { set in body { set.insert($0).inserted } }
    }

    /// Releases claims. `abandoned` is true when the blocks did not arrive (the peer had no data, the request
    /// timed out, its session ended): other sessions are told so they can ask their peers. (An array, not any
    /// sequence: the generic version, unspecialised across modules, allocated once per element.)
    package func release(_ indexes: [UInt64], abandoned: Bool = false) {
        let released = claimed.withLock { set in
            var count = 0
            for index in indexes where set.remove(index) != nil { count += 1 }
            return count
        }
        if abandoned && released > 0 { self.abandoned.notify() }
    }

    /// True when `index` is claimed.
    package func isClaimed(_ index: UInt64) -> Bool {
        claimed.withLock { $0.contains(index) }
    }
}
