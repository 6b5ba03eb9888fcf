public import Hypercore
package import Logging

/// Replicates feeds with one peer over one connection, speaking hypercore 10's replication protocol
/// (`hypercore/alpha` channels over protomux over a ``SecretStream``), so the peer may be another
/// ``ReplicationSession`` or a JavaScript hypercore 10 peer.
///
/// Add the feeds to replicate with ``add(_:mode:)``, then ``run()``:
///
/// ```swift
/// try await SecretStream.withSecretStream(over: connection, isInitiator: true, identity: identity) { stream in
///     let session = ReplicationSession(stream: stream)
///     try await session.add(feed)
///     let summary = try await session.run()
/// }
/// ```
///
/// Every block and length that arrives is verified by the ``Feed`` before anything is stored; a peer that
/// sends anything malformed or unverifiable ends the session with a ``ReplicationError`` and nothing it sent
/// after the fault is kept. The feed and other sessions are not affected.
///
/// Without ``Options/live`` the session ends when both sides hold everything the other offered for every feed
/// (or the peer closed its channels); with it, new appends flow both ways until the task running ``run()`` is
/// cancelled, ``close()`` is called or the connection ends.
public actor ReplicationSession {
    /// Settings of a session.
    public struct Options: Sendable {
        /// Keep replicating new appends until cancelled or closed, instead of ending once in sync.
        public var live: Bool
        /// Block requests in flight to the peer at once (the pipeline window).
        public var maxInflightRequests: Int
        /// A request not answered in this time is dropped and its block asked for again (from any peer).
        public var requestTimeout: Duration
        /// Requests from the peer queued for answering at once; more end the session (`tooManyRequests`).
        public var maxQueuedRequests: Int
        /// Separate block ranges the peer may announce per feed; more end the session (`protocolViolation`).
        public var maxAnnouncedRanges: Int
        /// Message bytes read ahead from the connection before reading pauses.
        public var maxQueuedBytes: Int

        /// Creates options; the defaults suit servers and command-line tools.
        public init(
            live: Bool = false, maxInflightRequests: Int = 512, requestTimeout: Duration = .seconds(30),
            maxQueuedRequests: Int = 65_536, maxAnnouncedRanges: Int = 65_536, maxQueuedBytes: Int = 4 << 20
        ) {
            self.live = live
            self.maxInflightRequests = maxInflightRequests
            self.requestTimeout = requestTimeout
            self.maxQueuedRequests = maxQueuedRequests
            self.maxAnnouncedRanges = maxAnnouncedRanges
            self.maxQueuedBytes = maxQueuedBytes
        }
    }

    let transport: any MessageTransport
    let options: Options
    let logger: Logger
    let inbox: SessionInbox

    var mux = Protomux()
    var peers: [Peer] = []
    var peersByChannel: [Int: Peer] = [:]
    var nextRequestId: UInt64 = 1
    /// Block requests in flight to the peer, all feeds together.
    var totalInflight: Int { peers.reduce(0) { $0 + $1.inflightBlocks } }
    var started = false
    var finished = false
    var closedLocally = false
    /// Frames produced outside a pass (by ``add(_:mode:)`` during ``run()``), sent with the next pass.
    var pendingFrames: [[UInt8]] = []
    /// Observers registered on feeds' change signals, removed when the session ends.
    var observers: [(signal: ChangeSignal, id: Int)] = []
    /// Called for a channel the peer opens for a feed this session does not replicate (a database adds it).
    var resolver: (@Sendable (Bytes32) async -> (Feed, ReplicationMode)?)?
    /// One more protocol's channel on this connection (see ``SessionChannelHandler``).
    var extra: ExtraChannel?
    /// Where events go (see ``ReplicationEvent``), the peer they name, and whether the session finishes the stream.
    var events: (continuation: AsyncStream<ReplicationEvent>.Continuation, peer: PublicKey, finishing: Bool)?

    /// A session over any message transport (tests run sessions over plain message pipes).
    package init(transport: any MessageTransport, options: Options = Options(), logger: Logger = Logger(label: "kappa.replication")) {
        self.transport = transport
        self.options = options
        self.logger = logger
        self.inbox = SessionInbox(maxQueuedBytes: options.maxQueuedBytes)
    }

    /// Replicates `feed` in this session: opens its channel (now, or when ``run()`` starts). A feed is
    /// replicated once per session; adding it again does nothing.
    public func add(_ feed: Feed, mode: ReplicationMode = .full) async throws {
        guard !finished else { throw ReplicationError(.closed, "the session has ended") }
        guard !peers.contains(where: { $0.feed === feed }) else { return }
        let peer = Peer(feed: feed, mode: mode)
        peers.append(peer)
        guard started else { return }
        var dirty = Set<ObjectIdentifier>()
        for event in try openChannel(peer) { try await handle(event, dirty: &dirty) }
        inbox.push(.feedChanged(peer.id))  // a pass sends the open (and answers a waiting peer)
    }

    /// Sets what answers a channel the peer opens for a feed this session does not replicate: the feed with
    /// that discovery key and how to replicate it, or `nil` to reject the channel.
    package func setResolver(_ resolver: @escaping @Sendable (Bytes32) async -> (Feed, ReplicationMode)?) {
        self.resolver = resolver
    }

    /// Reports this session's events to `continuation` (call before ``run()``), naming `peer` (the remote static
    /// key); the session finishes the stream when it ends, unless `finishing` is false (a stream shared by many
    /// sessions).
    package func setEvents(_ continuation: AsyncStream<ReplicationEvent>.Continuation, peer: PublicKey,
                           finishing: Bool = true) {
        events = (continuation, peer, finishing)
    }

    /// Reports an event, if someone listens.
    package func emit(_ kind: ReplicationEvent.Kind) {
        guard let events else { return }
        events.continuation.yield(ReplicationEvent(peer: events.peer, kind: kind))
    }

    /// Reports `peer`'s totals if they changed since they were last reported.
    func reportProgress(_ peer: Peer) {
        guard events != nil else { return }
        let now = (peer.blocksReceived, peer.blocksSent, peer.lastStatus.contiguousLength, peer.remoteLength)
        if let last = peer.reported, last == now { return }
        peer.reported = now
        emit(.progress(feedSummary(peer)))
    }

    /// Wakes the session for a pass (its channel handler has something new to say); safe from any thread.
    package nonisolated func wake() {
        inbox.push(.tick)
    }

    /// Ends ``run()``: channels are closed and the connection too.
    public func close() {
        closedLocally = true
        inbox.close()
    }

    /// Replicates until done (see the type's description); returns what moved.
    ///
    /// - Throws: ``ReplicationError`` when the peer misbehaves, verification fails, the connection fails, or
    ///   (without ``Options/live``) the peer goes away before the feeds are in sync; `CancellationError` is not
    ///   thrown: cancelling the task ends the session like ``close()``.
    public func run() async throws -> ReplicationSummary {
        guard !started else { throw ReplicationError(.closed, "run() was already called on this session") }
        started = true
        emit(.started)
        let result: Result<ReplicationSummary, any Error>
        do {
            result = .success(try await replicate())
        } catch where Task.isCancelled || closedLocally {
            // Ending a session by cancelling it or calling close() is not a failure, whatever the stream said.
            result = .success(summary())
        } catch {
            result = .failure(error)
        }
        await finish()
        switch result {
        case .success(let summary):
            emit(.finished(summary))
        case .failure(let error):
            logger.debug("session ended with an error", metadata: ["error": "\(error)"])
            emit(.failed(error))
        }
        if let events, events.finishing { events.continuation.finish() }
        return try result.get()
    }

    private func replicate() async throws -> ReplicationSummary {
        try await withThrowingTaskGroup(of: Void.self, returning: ReplicationSummary.self) { group in
            let transport = self.transport
            let inbox = self.inbox
            group.addTask { await Self.read(transport, into: inbox) }
            let tick = Swift.min(options.requestTimeout / 4, .seconds(1))
            group.addTask {
                while !Task.isCancelled {
                    try? await Task.sleep(for: tick)
                    inbox.push(.tick)
                }
            }
            defer {
                inbox.close()
                group.cancelAll()
            }
            mux.cork()
            for peer in peers { _ = try openChannel(peer) }  // nothing from the peer can be waiting yet
            try await openExtraChannel()
            try await flush()
            return try await loop()
        }
    }

    private static func read(_ transport: some MessageTransport, into inbox: SessionInbox) async {
        do {
            for try await message in transport.messages {
                inbox.push(.message(message))
                await inbox.waitForRoom()
            }
            inbox.push(.ended(nil))
        } catch {
            inbox.push(.ended(error))
        }
    }

    private func loop() async throws -> ReplicationSummary {
        var muxEvents: [ProtomuxEvent] = []
        while true {
            let events = await inbox.next()
            if events.isEmpty {
                // Closed or cancelled: say goodbye on every open channel.
                mux.cork()
                closeAllChannels()
                try? await flush()
                return summary()
            }
            mux.cork()
            var dirty = Set<ObjectIdentifier>()
            var ended: (error: (any Error)?, happened: Bool) = (nil, false)
            for event in events {
                switch event {
                case .message(let frame):
                    muxEvents.removeAll(keepingCapacity: true)
                    try mux.receive(frame, into: &muxEvents)
                    for muxEvent in muxEvents { try await handle(muxEvent, dirty: &dirty) }
                case .ended(let error):
                    ended = (error, true)
                case .feedChanged(let id):
                    for peer in peers where peer.id == id { dirty.insert(ObjectIdentifier(peer)) }
                case .tick:
                    expireRequests(dirty: &dirty)
                }
            }
            for peer in peers where dirty.contains(ObjectIdentifier(peer)) && !peer.closed {
                try await update(peer)
            }
            if self.events != nil {
                for peer in peers where dirty.contains(ObjectIdentifier(peer)) { reportProgress(peer) }
            }
            // Feeds that waited for room in the request window get it now.
            for peer in peers where peer.waitsForCapacity && !peer.closed && !dirty.contains(ObjectIdentifier(peer)) {
                guard totalInflight < options.maxInflightRequests else { break }
                try await update(peer)
            }
            try await passExtra()
            if ended.happened {
                _ = mux.uncork()
                return try endOfStream(ended.error)
            }
            if !options.live, !peers.isEmpty || extra != nil, peers.allSatisfy(\.closed), extraFinished {
                try await flush()
                return summary()
            }
            try await flush()
        }
    }

    /// Sends what the pass produced in one transport write, and starts the next batch.
    func flush() async throws {
        var frames = pendingFrames
        pendingFrames.removeAll()
        frames += mux.uncork()
        guard !frames.isEmpty else { return }
        do {
            try await transport.send(contentsOf: frames)
        } catch let error as ReplicationError {
            throw error
        } catch {
            throw ReplicationError(.transport, "sending to the peer failed", cause: error)
        }
    }

    private func endOfStream(_ error: (any Error)?) throws -> ReplicationSummary {
        if let error {
            if let error = error as? ReplicationError { throw error }
            throw ReplicationError(.transport, "the connection to the peer failed", cause: error)
        }
        if !options.live, let peer = peers.first(where: { !$0.closed && !isLocallyComplete($0) }) {
            throw ReplicationError(.connectionClosed,
                                   "the peer closed the connection before feed \(peer.feed.key) was in sync")
        }
        if !options.live, let extra, !extra.closed {
            throw ReplicationError(.connectionClosed,
                                   "the peer closed the connection before the \(extra.handler.protocolName) channel was done")
        }
        return summary()
    }

    private func finish() async {
        finished = true
        inbox.close()
        for peer in peers { peer.releaseAll() }
        for observer in observers { observer.signal.removeObserver(observer.id) }
        observers.removeAll()
        await transport.close()
    }

    // MARK: Channels

    /// Opens `peer`'s channel with its capability and starts watching its feed. Returns the events of the
    /// peer's open if it was already waiting (the pairing and messages buffered for the channel).
    func openChannel(_ peer: Peer) throws -> [ProtomuxEvent] {
        let capability = Caps.replicate(isInitiator: transport.isInitiator, key: peer.feed.key,
                                        handshakeHash: transport.handshakeHash)
        let result = try mux.openHypercore(discoveryKey: peer.feed.discoveryKey,
                                           handshake: ChannelHandshake(seeks: true, capability: capability))
        peer.channel = result.channel
        peersByChannel[result.channel.index] = peer
        if let frame = result.frame { pendingFrames.append(frame) }
        let inbox = self.inbox
        let id = peer.id
        observers.append((peer.feed.changes, peer.feed.changes.observe { inbox.push(.feedChanged(id)) }))
        observers.append((peer.feed.wants.signal, peer.feed.wants.signal.observe { inbox.push(.feedChanged(id)) }))
        observers.append((peer.feed.claims.abandoned, peer.feed.claims.abandoned.observe { inbox.push(.feedChanged(id)) }))
        logger.debug("opened channel", metadata: ["feed": "\(peer.feed.key)"])
        emit(.feedAdded(peer.feed.key))
        return result.events
    }

    /// Checks the peer's capability for the feed (spec A.5) and marks the channel paired.
    func pair(_ peer: Peer, remoteHandshake: [UInt8]) throws {
        let handshake = try ChannelHandshake(remoteHandshake)
        let expected = Caps.replicate(isInitiator: !transport.isInitiator, key: peer.feed.key,
                                      handshakeHash: transport.handshakeHash)
        guard handshake.capability == expected else {
            throw ReplicationError(.invalidCapability,
                                   "the peer's capability for feed \(peer.feed.key) does not match this connection")
        }
        peer.paired = true
        peer.needSync = true
    }

    func closeAllChannels() {
        closeExtraChannel()
        for peer in peers where !peer.closed {
            if let channel = peer.channel, let frame = mux.close(channel) { pendingFrames.append(frame) }
            peer.closed = true
            peer.releaseAll()
        }
    }

    func summary() -> ReplicationSummary {
        ReplicationSummary(feeds: peers.map(feedSummary))
    }

    func feedSummary(_ peer: Peer) -> ReplicationSummary.Feed {
        ReplicationSummary.Feed(
            key: peer.feed.key, blocksReceived: peer.blocksReceived, bytesReceived: peer.bytesReceived,
            blocksSent: peer.blocksSent, bytesSent: peer.bytesSent, length: peer.lastStatus.length,
            contiguousLength: peer.lastStatus.contiguousLength, remoteLength: peer.remoteLength, isComplete: isLocallyComplete(peer))
    }
}

/// What a replication session moved, per feed.
public struct ReplicationSummary: Sendable {
    /// One feed's figures.
    public struct Feed: Sendable {
        /// The feed's key.
        public var key: PublicKey
        /// Blocks received and verified.
        public var blocksReceived: Int
        /// Bytes of those blocks.
        public var bytesReceived: Int
        /// Blocks sent to the peer.
        public var blocksSent: Int
        /// Bytes of those blocks.
        public var bytesSent: Int
        /// The feed's length when the session ended (the signed length it knows; a sparse replica may hold less).
        public var length: UInt64
        /// How many blocks from the start the feed holds without a gap.
        public var contiguousLength: UInt64
        /// The peer's length as it last said.
        public var remoteLength: UInt64
        /// True when the feed held everything the peer offered when the session ended.
        public var isComplete: Bool
    }

    /// Per feed, in the order they were added.
    public var feeds: [Feed]
}
