import Hypercore
public import HypercoreProtocol
public import KappaCore
public import Logging

/// A database's TCP listener, from ``KappaCore/Kappa/listen(host:port:live:mode:events:logger:)``.
///
/// The database owns it: ``KappaCore/Kappa/close()`` stops it and every session it accepted. ``close()`` stops
/// it earlier.
public struct KappaListener: Sendable {
    /// The host it listens on, as given.
    public let host: String
    /// The port it listens on (the one the system picked when 0 was given).
    public let port: Int
    private let task: Task<Void, any Error>

    init(host: String, port: Int, task: Task<Void, any Error>) {
        self.host = host
        self.port = port
        self.task = task
    }

    /// Stops listening, ends every session it accepted, and returns once they have ended.
    public func close() async {
        task.cancel()
        _ = await task.result
    }
}

extension Kappa {
    /// Accepts peers over TCP on `host:port` and replicates with each (as the responder), many at once, until
    /// the listener or the database is closed.
    ///
    /// ```swift
    /// let listener = try await server.listen(host: "127.0.0.1", port: 0)
    /// print("listening on port", listener.port)
    /// ```
    ///
    /// It returns once the port is bound. A session that fails (a peer with another shared key, a broken
    /// connection, data that does not verify) ends only itself and is logged at warning; nothing of what it
    /// sent that did not verify is stored.
    ///
    /// - Parameters:
    ///   - host: the address to listen on (`"127.0.0.1"`, `"0.0.0.0"`, `"::1"`, a host name).
    ///   - port: the TCP port; 0 lets the system pick one (read ``KappaListener/port``).
    ///   - live: sessions keep replicating new appends and new feeds while the peer stays connected (the default
    ///     for a server); without it each ends once both sides are in sync.
    ///   - mode: `.full` or `.sparse`, as in ``KappaCore/Kappa/replicate(over:isInitiator:live:mode:events:logger:)``.
    ///   - events: where every session reports its events (each names its peer); finished when the listener stops.
    ///   - logger: where the listener (info: peers connected, sessions ended) and failed sessions (warning) log;
    ///     by default nothing is logged.
    /// - Returns: the listener.
    /// - Throws: ``HypercoreProtocol/ReplicationError`` `.transport` when the address cannot be bound;
    ///   ``KappaCore/KappaError`` `.closed` when the database is closed.
    public func listen(
        host: String = "127.0.0.1", port: Int, live: Bool = true, mode: ReplicationMode = .full,
        events: AsyncStream<ReplicationEvent>.Continuation? = nil,
        logger: Logger = .kappaNIODisabled
    ) async throws -> KappaListener {
        let (bound, boundContinuation) = AsyncThrowingStream.makeStream(of: Int.self)
        // The listener does not keep the database alive: a database released without close() cancels it.
        let database = WeakReference(self)
        let task = sessions.start {
            defer { events?.finish() }
            do {
                try await TCPServer.withServer(host: host, port: port, logger: logger) { server in
                    boundContinuation.yield(server.port)
                    boundContinuation.finish()
                    try await server.serve { stream in
                        guard let self = database.value else { return }
                        logger.info("peer connected", metadata: ["peer": "\(stream.peer)"])
                        do {
                            let summary = try await self.replicate(
                                over: stream, isInitiator: false, live: live, mode: mode, events: events,
                                finishingEvents: false, logger: logger)
                            logger.info("session ended", metadata: [
                                "peer": "\(stream.peer)", "feeds": "\(summary.feeds.count)",
                                "blocksReceived": "\(summary.feeds.reduce(0) { $0 + $1.blocksReceived })",
                                "blocksSent": "\(summary.feeds.reduce(0) { $0 + $1.blocksSent })",
                            ])
                        } catch {
                            logger.warning("session failed", metadata: ["peer": "\(stream.peer)", "error": "\(error)"])
                        }
                    }
                }
            } catch {
                boundContinuation.finish(throwing: error)
                throw error
            }
        }
        guard let task else { throw KappaError(.closed, "the database is closed") }
        var iterator = bound.makeAsyncIterator()
        do {
            guard let boundPort = try await iterator.next() else {
                throw KappaError(.closed, "the database was closed before the listener started")
            }
            return KappaListener(host: host, port: boundPort, task: task)
        } catch {
            task.cancel()
            throw error
        }
    }

    /// Connects to a peer over TCP and replicates with it (as the initiator): ``KappaCore/Kappa/replicate(over:isInitiator:live:mode:events:logger:)``
    /// on a TCP connection.
    ///
    /// ```swift
    /// let summary = try await client.connect(host: "127.0.0.1", port: listener.port)
    /// ```
    ///
    /// - Parameters:
    ///   - host: the peer's host name or address; `port` its port.
    ///   - live: keep replicating until cancelled or closed, instead of ending once in sync.
    ///   - mode: `.full` or `.sparse`.
    ///   - connectTimeout: how long connecting may take.
    ///   - events: where the session reports its events; finished when the call returns.
    ///   - logger: where the connection and the session log; by default nothing is logged.
    /// - Returns: what moved, per feed.
    /// - Throws: ``HypercoreProtocol/ReplicationError`` `.transport` naming `host:port` when the connection
    ///   cannot be made, and everything ``KappaCore/Kappa/replicate(over:isInitiator:live:mode:events:logger:)``
    ///   throws.
    @discardableResult
    public func connect(
        host: String, port: Int, live: Bool = false, mode: ReplicationMode = .full,
        connectTimeout: Duration = .seconds(10),
        events: AsyncStream<ReplicationEvent>.Continuation? = nil,
        logger: Logger = .kappaNIODisabled
    ) async throws -> ReplicationSummary {
        do {
            return try await TCPClient.withConnection(host: host, port: port, connectTimeout: connectTimeout,
                                                      logger: logger) { stream in
                try await self.replicate(over: stream, isInitiator: true, live: live, mode: mode, events: events,
                                         logger: logger)
            }
        } catch {
            events?.finish()  // the connection may have failed before a session existed
            throw error
        }
    }
}

/// A reference that does not keep its object alive.
private struct WeakReference<Object: AnyObject & Sendable>: Sendable {
    weak let value: Object?

    init(_ value: Object) {
        self.value = value
    }
}
