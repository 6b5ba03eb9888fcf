import Hypercore
public import HypercoreProtocol

extension Kappa {
    /// Replicates this database with the peer at the other end of `connection`: both sides learn each other's
    /// feeds and their entries, and the views index what arrives.
    ///
    /// It runs the secret-stream handshake with the database's identity (``identityKey``), then one replication
    /// session carrying the `kappa/feeds` channel (see the wire format in DESIGN.md): each side offers all its
    /// feeds, asks for the offered feeds it lacks (added read-only, as with ``addFeed(_:)``; writer names never
    /// resolve to them) and replicates every feed both sides know on the same connection, in full.
    ///
    /// ```swift
    /// let (a, b) = InProcessStream.pair()   // or a TCP connection from KappaNIO
    /// async let left = coreA.replicate(over: a, isInitiator: true)
    /// async let right = coreB.replicate(over: b, isInitiator: false)
    /// _ = try await (left, right)
    /// ```
    ///
    /// Without `live` it returns once both sides hold everything the other offered. Replicating the same pair
    /// again transfers only what is new. The session is owned by the database: cancelling the calling task ends
    /// it, and ``close()`` ends it before the database closes.
    ///
    /// - Parameters:
    ///   - connection: the byte stream to the peer; this call owns it and closes it when it returns.
    ///   - isInitiator: true on the side that connected (the Noise initiator); the other side passes false.
    ///   - live: keep replicating (new appends) until cancelled, instead of ending once in sync. Feeds created or
    ///     learned after the session started are not announced yet.
    /// - Returns: what moved, per feed.
    /// - Throws: ``ReplicationError`` — `.channelRejected` when the peer does not know the shared key (nothing
    ///   was exchanged), `.invalidCapability`, `.malformedMessage`, `.protocolViolation`, `.connectionClosed`,
    ///   handshake and transport errors; ``KappaError/Code/tooManyFeeds`` when the peer offers more than the
    ///   limits in ``KappaOptions``; ``KappaError/Code/closed``. The database keeps working after any of them.
    @discardableResult
    public func replicate(over connection: some ByteStream, isInitiator: Bool, live: Bool = false) async throws
        -> ReplicationSummary
    {
        try checkOpen()
        let exchange = FeedExchange(
            sharedKey: sharedKey, live: live, maxFeedsPerMessage: options.maxFeedsPerMessage,
            maxFeedsFromPeer: options.maxFeedsFromPeer,
            database: FeedExchange.Database(
                feeds: { [weak self] in
                    guard let self else { throw KappaError(.closed, "the database was released") }
                    try await self.checkOpen()
                    return await self.feeds()
                },
                feed: { [weak self] key in await self?.feed(key) },
                addRemote: { [weak self] key in
                    guard let self else { throw KappaError(.closed, "the database was released") }
                    return try await self.addFeed(key)
                }))
        let identity = self.identity
        let task = sessions.start {
            try await SecretStream.withSecretStream(over: connection, isInitiator: isInitiator, identity: identity) { stream in
                let session = ReplicationSession(stream: stream, options: ReplicationSession.Options(live: live))
                try await session.setChannelHandler(exchange)
                return try await session.run()
            }
        }
        guard let task else { throw KappaError(.closed, "the database is closed") }
        return try await withTaskCancellationHandler {
            try await task.value
        } onCancel: {
            task.cancel()
        }
    }
}
