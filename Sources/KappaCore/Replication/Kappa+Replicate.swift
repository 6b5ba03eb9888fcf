import Hypercore
public import HypercoreProtocol
public import Logging

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
    /// In a live session each side also offers the feeds its database gains while the session runs — new local
    /// writers and feeds learned from other peers — so with A↔B and B↔C live, C gets A's new feeds through B.
    ///
    /// In a sparse session (`mode: .sparse`) both sides learn every feed and its length, but blocks are
    /// downloaded only when a reader waits for them (``Hypercore/Feed/get(_:timeout:)``) or when asked for a range
    /// (``Hypercore/Feed/download(_:timeout:)``, for example the latest 100 blocks of each feed); views index
    /// what is present (each feed's contiguous prefix). It ends once every offered feed is known up to its length.
    ///
    /// - Parameters:
    ///   - connection: the byte stream to the peer; this call owns it and closes it when it returns.
    ///   - isInitiator: true on the side that connected (the Noise initiator); the other side passes false.
    ///   - live: keep replicating (new appends and new feeds) until cancelled or closed, instead of ending once
    ///     in sync.
    ///   - mode: ``HypercoreProtocol/ReplicationMode/full`` (download every block offered) or `.sparse`.
    ///   - events: where the session reports what happens (``HypercoreProtocol/ReplicationEvent``: started,
    ///     feeds added and learned, per-feed progress, finished or failed); finished when the call returns.
    ///   - logger: where the session logs (debug and trace).
    /// - Returns: what moved, per feed.
    /// - Throws: ``ReplicationError`` — `.channelRejected` when the peer does not know the shared key (nothing
    ///   was exchanged), `.invalidCapability`, `.malformedMessage`, `.protocolViolation`, `.connectionClosed`,
    ///   handshake and transport errors; ``KappaError/Code/tooManyFeeds`` when the peer offers more than the
    ///   limits in ``KappaOptions``; ``KappaError/Code/closed``. The database keeps working after any of them.
    @discardableResult
    public func replicate(
        over connection: some ByteStream, isInitiator: Bool, live: Bool = false, mode: ReplicationMode = .full,
        events: AsyncStream<ReplicationEvent>.Continuation? = nil,
        logger: Logger = Logger(label: "kappa.replication")
    ) async throws -> ReplicationSummary {
        try await replicate(over: connection, isInitiator: isInitiator, live: live, mode: mode, events: events,
                            finishingEvents: true, logger: logger)
    }

    /// ``replicate(over:isInitiator:live:mode:events:logger:)``, leaving `events` open when `finishingEvents` is
    /// false (a listener reports all its sessions to one stream).
    package func replicate(
        over connection: some ByteStream, isInitiator: Bool, live: Bool, mode: ReplicationMode,
        events: AsyncStream<ReplicationEvent>.Continuation?, finishingEvents: Bool, logger: Logger
    ) async throws -> ReplicationSummary {
        let finishEvents: @Sendable () -> Void = { if finishingEvents { events?.finish() } }
        do {
            try checkOpen()
        } catch {
            finishEvents()
            throw error
        }
        let exchange = FeedExchange(
            sharedKey: sharedKey, live: live, mode: mode, maxFeedsPerMessage: options.maxFeedsPerMessage,
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
                },
                membership: feedSet.membership))
        let identity = self.identity
        let task = sessions.start {
            defer { finishEvents() }
            do {
                let summary = try await SecretStream.withSecretStream(
                    over: connection, isInitiator: isInitiator, identity: identity
                ) { stream in
                    let session = ReplicationSession(stream: stream, options: ReplicationSession.Options(live: live),
                                                     logger: logger)
                    if let events {
                        let peer = stream.remotePublicKey
                        await session.setEvents(events, peer: peer, finishing: finishingEvents)
                        await exchange.setOnLearned { key in
                            events.yield(ReplicationEvent(peer: peer, kind: .feedLearned(key)))
                        }
                    }
                    try await session.setChannelHandler(exchange)
                    return try await session.run()
                }
                await exchange.finish()
                return summary
            } catch {
                await exchange.finish()
                throw error
            }
        }
        guard let task else {
            finishEvents()
            throw KappaError(.closed, "the database is closed")
        }
        return try await withTaskCancellationHandler {
            try await task.value
        } onCancel: {
            task.cancel()
        }
    }
}
