import Hypercore

/// How a session replicates a feed.
public enum ReplicationMode: Sendable, Hashable {
    /// Download every block the peer has, and keep up with its length.
    case full
    /// Learn the peer's length, but download only blocks local readers wait for (``Feed/get(_:timeout:)``,
    /// ``Feed/download(_:timeout:)``).
    case sparse
}

/// One feed replicated with the session's peer: the channel, what the peer told us, what we told it, and our
/// requests in flight. Owned by the ``ReplicationSession`` actor.
final class Peer {
    struct Inflight {
        var block: UInt64?
        var upgrade: Bool
        var deadline: ContinuousClock.Instant
        /// The request's `nodes` when its proof is anchored by the proof of an earlier request
        /// (``Feed/ClaimedBlock/anchoredByEarlierClaim``).
        var anchoredLater: UInt64? = nil
    }

    let feed: Feed
    let id: FeedID
    let mode: ReplicationMode
    var channel: Protomux.Channel?

    // The channel.
    var paired = false
    /// Closed by either side (or rejected): nothing more flows.
    var closed = false
    var closedByRemote = false

    // What the peer told us.
    var synced = false
    var remoteFork: UInt64 = 0
    var remoteLength: UInt64 = 0
    /// The peer's echo of our length (`remoteLength` of its sync), 0 on another fork.
    var lengthAcked: UInt64 = 0
    var remoteCanUpgrade = false
    var remoteDownloading = true
    /// Blocks the peer announced (`range`, `bitfield`) and did not refuse (`noData`).
    var remoteHas = RangeSet()
    /// `want` segments sent.
    var wantedSegments = Set<UInt64>()

    // What we told the peer.
    var lastSync: SyncMessage?
    var needSync = false
    /// Blocks we told the peer we hold (`range`).
    var announced = RangeSet()
    /// Our held blocks as of the last pass (`nil`: too fragmented to list).
    var held: [Range<UInt64>]? = []
    /// A `want` was sent and no `bitfield` or `range` has come since.
    var awaitingWantAnswer = false

    // Requests.
    private(set) var inflight: [UInt64: Inflight] = [:]
    /// Requests that timed out, kept so that a late answer is still accepted once (bounded).
    var expired: [UInt64: Inflight] = [:]
    static let maxExpired = 4_096
    /// Block requests in ``inflight``.
    private(set) var inflightBlocks = 0
    var upgradeInflight = false
    /// The last scheduling pass found nothing more to request from this peer.
    var nothingToRequest = false
    /// The last pass had blocks to request but the session's window was full.
    var waitsForCapacity = false

    // Received and not yet handled (handled once per batch of events).
    var proofs: [Proof] = []
    /// The request each of ``proofs`` answers.
    var proofRequestIds: [UInt64] = []
    var requests: [RequestMessage] = []
    /// Cancels received since ``requests`` were last served: per request id, how many of ``requests`` had
    /// arrived when its latest cancel did. Those with the id are dropped when served; a later request may
    /// reuse the id (hypercore reuses freed ids).
    var cancels: [UInt64: Int] = [:]
    var wants: [WantMessage] = []

    // Counters.
    var blocksReceived = 0
    var bytesReceived = 0
    var blocksSent = 0
    var bytesSent = 0
    var lastStatus = Feed.ReplicationStatus(length: 0, fork: 0, contiguousLength: 0)
    /// The figures last reported as a ``ReplicationEvent/Kind/progress(_:)`` event.
    var reported: (blocksReceived: Int, blocksSent: Int, contiguousLength: UInt64, remoteLength: UInt64)?

    init(feed: Feed, mode: ReplicationMode) {
        self.feed = feed
        self.id = feed.discoveryKey.bytes
        self.mode = mode
    }

    func addInflight(_ id: UInt64, _ request: Inflight) {
        inflight[id] = request
        if request.block != nil { inflightBlocks += 1 }
    }

    func removeInflight(_ id: UInt64) -> Inflight? {
        guard let request = inflight.removeValue(forKey: id) else { return nil }
        if request.block != nil { inflightBlocks -= 1 }
        return request
    }

    /// Releases this peer's block claims on the feed (its requests will not be answered any more).
    func releaseAll() {
        feed.claims.release(inflight.values.compactMap(\.block), abandoned: true)
        inflight.removeAll()
        inflightBlocks = 0
        upgradeInflight = false
    }
}
