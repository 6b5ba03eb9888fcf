public import Hypercore

/// What happens in one replication session, for progress bars, logs and metrics.
///
/// A session reports its events to an `AsyncStream<ReplicationEvent>.Continuation` given when it starts
/// (``Hypercore/Feed/replicate(over:isInitiator:identity:mode:options:streamOptions:logger:events:)``, and
/// `Kappa.replicate(over:isInitiator:live:events:)`) and finishes the stream when the session ends. Progress is
/// reported as running totals once per batch of work, not per block, so a slow reader loses nothing important
/// when the stream keeps only the newest events:
///
/// ```swift
/// let (events, continuation) = AsyncStream.makeStream(of: ReplicationEvent.self,
///                                                     bufferingPolicy: .bufferingNewest(1_024))
/// ```
public struct ReplicationEvent: Sendable {
    /// What happened.
    public enum Kind: Sendable {
        /// The handshake is done; the session starts.
        case started
        /// A feed joined the session (its channel is open on this side).
        case feedAdded(PublicKey)
        /// The peer offered a feed this database did not know; it was added read-only (databases only).
        case feedLearned(PublicKey)
        /// One feed's totals so far: blocks and bytes received and sent, its length here and the peer's.
        /// Reported after a batch of work changed them.
        case progress(ReplicationSummary.Feed)
        /// The session ended normally (in sync, cancelled or closed), with what moved.
        case finished(ReplicationSummary)
        /// The session ended with this error.
        case failed(any Error)
    }

    /// The peer's static public key (its identity from the secret-stream handshake).
    public var peer: PublicKey
    /// What happened.
    public var kind: Kind

    /// An event of the session with `peer`.
    public init(peer: PublicKey, kind: Kind) {
        self.peer = peer
        self.kind = kind
    }
}
