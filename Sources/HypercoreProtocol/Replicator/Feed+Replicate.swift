public import Hypercore
public import Logging

extension Feed {
    /// Replicates this feed with the peer at the other end of `connection`: runs the secret-stream handshake,
    /// then a ``ReplicationSession`` for this feed, and closes the connection when it ends.
    ///
    /// The peer may be another KappaCore peer or a JavaScript hypercore 10 peer. Without `options.live` it
    /// returns once both sides hold everything the other offered; with it, it follows appends until the task is
    /// cancelled or the connection ends.
    ///
    /// - Parameters:
    ///   - connection: the byte stream to the peer (a TCP connection from `KappaNIO`, a pipe, …).
    ///   - isInitiator: true on the side that connected (the Noise initiator); the other side passes false.
    ///   - identity: this peer's static key pair for the handshake (its identity on the network).
    ///   - mode: download everything (``ReplicationMode/full``) or only what readers wait for.
    ///   - options: the session's options; `streamOptions` the secret stream's (keep-alive, idle timeout).
    ///   - logger: where the session logs (debug and trace).
    ///   - events: where the session reports its progress (``ReplicationEvent``); finished when it ends.
    /// - Returns: what moved.
    /// - Throws: ``ReplicationError`` (handshake, transport, a peer that breaks the protocol or sends data that does
    ///   not verify — nothing of it is stored).
    @discardableResult
    public nonisolated func replicate(
        over connection: some ByteStream, isInitiator: Bool, identity: KeyPair = .random(),
        mode: ReplicationMode = .full, options: ReplicationSession.Options = .init(),
        streamOptions: SecretStream.Options = .init(), logger: Logger = Logger(label: "kappa.replication"),
        events: AsyncStream<ReplicationEvent>.Continuation? = nil
    ) async throws -> ReplicationSummary {
        // The stream ends however the call ends (the handshake may fail before a session exists).
        defer { events?.finish() }
        return try await SecretStream.withSecretStream(
            over: connection, isInitiator: isInitiator, identity: identity, options: streamOptions
        ) { stream in
            let session = ReplicationSession(stream: stream, options: options, logger: logger)
            if let events { await session.setEvents(events, peer: stream.remotePublicKey) }
            try await session.add(self, mode: mode)
            return try await session.run()
        }
    }
}
