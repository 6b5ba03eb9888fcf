package import Hypercore

/// One more protomux protocol carried by a ``ReplicationSession`` beside its `hypercore/alpha` channels (a
/// database's feed-list exchange, for example).
///
/// The session opens one channel for ``protocolName`` and ``channelID`` when ``ReplicationSession/run()`` starts,
/// with the handshake from ``openHandshake(_:)``, and routes that channel's events to the handler. Each call
/// returns what the session should do next (``SessionChannelAction``): send messages on the channel, replicate
/// more feeds in the session, close the channel. A handler that throws ends the session with its error.
///
/// Without ``ReplicationSession/Options/live`` the session ends only when every feed channel is closed *and* this
/// channel is closed (by either side); a remote reject closes it too (``closed(rejected:)`` decides whether that is
/// an error). The calls come one at a time, from the session's actor, in the order the events happened.
package protocol SessionChannelHandler: Sendable {
    /// The protomux protocol name of the channel.
    var protocolName: String { get }
    /// The channel id within the protocol.
    var channelID: [UInt8] { get }
    /// The handshake sent with the channel's open (it may bind a capability to the connection).
    func openHandshake(_ connection: SessionConnection) async -> [UInt8]
    /// The peer opened the same channel; `remoteHandshake` is its handshake. Throw to refuse it (the session ends).
    func opened(remoteHandshake: [UInt8], _ connection: SessionConnection) async throws -> [SessionChannelAction]
    /// A message from the peer on the channel (only after ``opened(remoteHandshake:_:)``).
    func received(type: UInt64, payload: [UInt8]) async throws -> [SessionChannelAction]
    /// Called after every pass of the session while the channel is paired and open (feeds may have progressed).
    func pass() async throws -> [SessionChannelAction]
    /// The peer closed the channel, or rejected it (`rejected`: it never paired). Throw to end the session
    /// with an error.
    func closed(rejected: Bool) async throws
}

/// What a ``SessionChannelHandler`` learns about the connection its channel runs on.
package struct SessionConnection: Sendable {
    /// True on the Noise initiator's side.
    package var isInitiator: Bool
    /// The connection's handshake hash (capabilities are bound to it).
    package var handshakeHash: [UInt8]
    /// Asks the session for a pass soon (``SessionChannelHandler/pass()`` is called then), from any thread: how a
    /// handler that learns something outside the session's events (a new local feed) gets to say it.
    package var wake: @Sendable () -> Void

    /// Describes a connection.
    package init(isInitiator: Bool, handshakeHash: [UInt8], wake: @escaping @Sendable () -> Void = {}) {
        self.isInitiator = isInitiator
        self.handshakeHash = handshakeHash
        self.wake = wake
    }
}

/// What a ``SessionChannelHandler`` asks its session to do.
package enum SessionChannelAction: Sendable {
    /// Sends a message of `type` on the handler's channel.
    case send(type: UInt64, payload: [UInt8])
    /// Replicates `feed` in the session (as ``ReplicationSession/add(_:mode:)``).
    case add(Feed, ReplicationMode)
    /// Closes the handler's channel (in a non-live session, the handler's part is done).
    case close
}

/// The session's state of its extra channel.
struct ExtraChannel {
    let handler: any SessionChannelHandler
    var channel: Protomux.Channel?
    var paired = false
    var closed = false
}

extension ReplicationSession {
    /// Carries `handler`'s channel in this session (one per session); call before ``run()``.
    /// - Throws: ``ReplicationError`` `.closed` once the session has started.
    package func setChannelHandler(_ handler: any SessionChannelHandler) throws(ReplicationError) {
        guard !started else { throw ReplicationError(.closed, "a channel handler is set before run()") }
        extra = ExtraChannel(handler: handler)
    }

    var connection: SessionConnection {
        let inbox = self.inbox
        return SessionConnection(isInitiator: transport.isInitiator, handshakeHash: transport.handshakeHash,
                                 wake: { inbox.push(.tick) })
    }

    /// Opens the handler's channel (at the start of ``run()``).
    func openExtraChannel() async throws {
        guard let handler = extra?.handler else { return }
        let handshake = await handler.openHandshake(connection)
        let result = try mux.open(protocol: handler.protocolName, id: handler.channelID, handshake: handshake)
        extra?.channel = result.channel
        if let frame = result.frame { pendingFrames.append(frame) }
        var dirty = Set<ObjectIdentifier>()
        for event in result.events { try await handle(event, dirty: &dirty) }
    }

    /// True when `channel` is the handler's.
    func isExtraChannel(_ channel: Protomux.Channel) -> Bool {
        extra?.channel == channel
    }

    /// Routes an event of the handler's channel.
    func handleExtra(_ event: ProtomuxEvent, dirty: inout Set<ObjectIdentifier>) async throws {
        guard let state = extra else { return }
        switch event {
        case .opened(_, let handshake):
            extra?.paired = true
            try await perform(try await state.handler.opened(remoteHandshake: handshake, connection), dirty: &dirty)
        case .message(_, let type, let payload):
            guard state.paired, !state.closed else { return }
            try await perform(try await state.handler.received(type: type, payload: Array(payload)), dirty: &dirty)
        case .closed:
            extra?.closed = true
            try await state.handler.closed(rejected: false)
        case .rejected:
            extra?.closed = true
            try await state.handler.closed(rejected: true)
        case .remoteOpened:
            break
        }
    }

    /// Lets the handler look at the session after a pass.
    func passExtra() async throws {
        guard let state = extra, state.paired, !state.closed else { return }
        var dirty = Set<ObjectIdentifier>()
        try await perform(try await state.handler.pass(), dirty: &dirty)
        for peer in peers where dirty.contains(ObjectIdentifier(peer)) && !peer.closed { try await update(peer) }
    }

    private func perform(_ actions: [SessionChannelAction], dirty: inout Set<ObjectIdentifier>) async throws {
        for action in actions {
            switch action {
            case .send(let type, let payload):
                guard let channel = extra?.channel, extra?.closed == false else { continue }
                if let frame = mux.send(channel, type: type, payload: payload) { pendingFrames.append(frame) }
            case .add(let feed, let mode):
                guard !peers.contains(where: { $0.feed === feed }) else { continue }
                let peer = Peer(feed: feed, mode: mode)
                peers.append(peer)
                for event in try openChannel(peer) { try await handle(event, dirty: &dirty) }
                dirty.insert(ObjectIdentifier(peer))
            case .close:
                closeExtraChannel()
            }
        }
    }

    func closeExtraChannel() {
        guard let channel = extra?.channel, extra?.closed == false else { return }
        extra?.closed = true
        if let frame = mux.close(channel) { pendingFrames.append(frame) }
    }

    /// True when the handler's part of a non-live session is over (or there is no handler).
    var extraFinished: Bool { extra.map(\.closed) ?? true }
}
