import HypercoreProtocol
public import Logging
public import NIOCore
public import NIOPosix
import Synchronization

/// A TCP listener that hands every accepted connection to a handler, scoped to a closure.
///
/// ```swift
/// try await TCPServer.withServer(host: "127.0.0.1", port: 0) { server in
///     print(server.port)                       // the port picked for port 0
///     try await server.serve { stream in       // runs until the task is cancelled
///         for try await chunk in stream.inbound { try await stream.write(chunk) }
///     }
/// }
/// ```
///
/// ``withServer(host:port:group:logger:isolation:_:)`` binds the listener and closes it, and every connection
/// it accepted, when its closure returns. ``serve(_:)`` runs each connection's handler in a child task of the
/// calling task, concurrently; cancelling that task stops the server: the listener and every connection close
/// and `serve` returns once every handler has.
public final class TCPServer: Sendable {
    /// The host the listener was bound to, as given.
    public let host: String
    /// The port the listener is bound to; the one the system picked when ``withServer(host:port:group:logger:isolation:_:)``
    /// was given port 0.
    public let port: Int
    /// The address the listener is bound to.
    public let localAddress: SocketAddress?

    private let listener: NIOAsyncChannelInboundStream<NIOAsyncChannel<ByteBuffer, ByteBuffer>>
    private let channel: any Channel
    private let registry: ConnectionRegistry
    private let logger: Logger
    private let served = Atomic<Bool>(false)

    private init(
        host: String,
        listener: NIOAsyncChannelInboundStream<NIOAsyncChannel<ByteBuffer, ByteBuffer>>,
        channel: any Channel,
        registry: ConnectionRegistry,
        logger: Logger
    ) {
        self.host = host
        self.localAddress = channel.localAddress
        self.port = channel.localAddress?.port ?? 0
        self.listener = listener
        self.channel = channel
        self.registry = registry
        self.logger = logger
    }

    /// The connections accepted and still open (handled or waiting to be), for tests and monitoring.
    public var openConnections: Int { registry.count }

    /// Binds a listener on `host:port`, runs `body` with it, and closes the listener and every connection it
    /// accepted when `body` returns or throws.
    ///
    /// Everything is closed, and awaited, before this method returns: once it returned, the port can be bound
    /// again.
    ///
    /// - Parameters:
    ///   - host: The address to listen on (`"127.0.0.1"`, `"::1"`, `"0.0.0.0"`, or a host name).
    ///   - port: The TCP port; 0 lets the system pick a free one (read it from ``port``).
    ///   - group: The event loops that run the listener and its connections; NIO's shared singleton by default.
    ///   - logger: Where the listener (info), accepts and closes (debug) and failures (warning) go; by default
    ///     nothing is logged.
    ///   - isolation: The actor `body` runs on: the caller's, by default.
    ///   - body: Works with the server, usually by calling ``serve(_:)``; its result is returned.
    /// - Returns: What `body` returned.
    /// - Throws: ``HypercoreProtocol/ReplicationError`` with code `.transport` naming `host:port` when the
    ///   listener cannot be bound (the address is in use, the host does not resolve); otherwise what `body`
    ///   throws.
    @discardableResult
    public static func withServer<Result>(
        host: String,
        port: Int,
        group: any EventLoopGroup = MultiThreadedEventLoopGroup.singleton,
        logger: Logger = .kappaNIODisabled,
        isolation: isolated (any Actor)? = #isolation,
        _ body: (TCPServer) async throws -> sending Result
    ) async throws -> sending Result {
        let registry = ConnectionRegistry()
        let target = TCPChannel.describe(host: host, port: port)
        let listener: NIOAsyncChannel<NIOAsyncChannel<ByteBuffer, ByteBuffer>, Never>
        do {
            listener = try await ServerBootstrap(group: group)
                .serverChannelOption(.socketOption(.so_reuseaddr), value: 1)
                .childChannelOption(.allowRemoteHalfClosure, value: true)
                .childChannelOption(.tcpOption(.tcp_nodelay), value: 1)
                .bind(host: host, port: port) { channel in
                    guard registry.register(channel) else {
                        return channel.eventLoop.makeFailedFuture(ChannelError.ioOnClosedChannel)
                    }
                    return TCPChannel.wrap(channel)
                }
        } catch {
            logger.warning("listening failed", metadata: ["address": "\(target)", "error": "\(error)"])
            throw ReplicationError(.transport, "listening on \(target) failed", cause: error)
        }
        let address = TCPChannel.describe(listener.channel.localAddress)
        logger.info("listening", metadata: ["address": "\(address)"])
        do {
            let result = try await listener.executeThenClose(isolation: isolation) { inbound in
                let server = TCPServer(
                    host: host,
                    listener: inbound,
                    channel: listener.channel,
                    registry: registry,
                    logger: logger
                )
                return try await body(server)
            }
            await registry.closeAll()
            logger.info("stopped listening", metadata: ["address": "\(address)"])
            return result
        } catch {
            await registry.closeAll()
            logger.info("stopped listening", metadata: ["address": "\(address)"])
            throw error
        }
    }

    /// Accepts connections and runs `handler` for each, concurrently, until the calling task is cancelled.
    ///
    /// Each handler runs in a child task with its connection as a ``TCPByteStream``; the connection closes when
    /// the handler returns or throws. A handler's error ends only its connection: it is logged at warning and
    /// the server goes on. Cancelling the calling task closes the listener and every connection, cancels the
    /// handlers, waits for them, and returns.
    ///
    /// A listener is served once; call this once per ``withServer(host:port:group:logger:isolation:_:)``, from its
    /// closure or from a child task of it, so the handlers end within the server's scope.
    ///
    /// - Parameter handler: Works with one connection.
    /// - Throws: ``HypercoreProtocol/ReplicationError`` with code `.closed` when the listener was already
    ///   served, with code `.transport` when the listener failed (its connections are closed first).
    public func serve(_ handler: @escaping @Sendable (TCPByteStream) async throws -> Void) async throws {
        let address = TCPChannel.describe(localAddress)
        if served.exchange(true, ordering: .relaxed) {
            throw ReplicationError(.closed, "the listener on \(address) is already served: serve runs once")
        }
        do {
            try await acceptLoop(address: address, handler: handler)
        } catch {
            await registry.closeAll()
            throw error
        }
        // Connections accepted but still waiting in the listener's buffer have no handler to close them.
        await registry.closeAll()
    }

    /// The accept loop of ``serve(_:)``: one child task per connection until the listener ends, then every
    /// handler is cancelled and awaited.
    private func acceptLoop(
        address: String,
        handler: @escaping @Sendable (TCPByteStream) async throws -> Void
    ) async throws {
        let listener = self.listener
        let channel = self.channel
        let logger = self.logger
        try await withTaskCancellationHandler {
            try await withThrowingDiscardingTaskGroup { group in
                defer { group.cancelAll() }
                do {
                    for try await connection in listener {
                        group.addTask { await Self.handle(connection, handler: handler, logger: logger) }
                    }
                } catch is CancellationError {
                    return
                } catch {
                    if Task.isCancelled { return }
                    logger.warning("accepting failed", metadata: ["address": "\(address)", "error": "\(error)"])
                    throw ReplicationError(.transport, "accepting on \(address) failed", cause: error)
                }
            }
        } onCancel: {
            channel.close(promise: nil)
        }
    }

    /// Runs `handler` on one accepted connection; never throws, so one connection cannot end the server.
    private static func handle(
        _ connection: NIOAsyncChannel<ByteBuffer, ByteBuffer>,
        handler: @Sendable (TCPByteStream) async throws -> Void,
        logger: Logger
    ) async {
        let peer = TCPChannel.describe(connection.channel.remoteAddress)
        var logger = logger
        logger[metadataKey: "peer"] = "\(peer)"
        logger.debug("accepted")
        do {
            // Closing the connection on cancellation ends the handler's reads and writes even when it waits on
            // something else than the connection.
            let channel = connection.channel
            try await withTaskCancellationHandler {
                try await TCPChannel.withStream(connection, peer: peer) { stream in try await handler(stream) }
            } onCancel: {
                channel.close(promise: nil)
            }
            logger.debug("closed")
        } catch {
            if Task.isCancelled {
                logger.debug("closed by cancellation", metadata: ["error": "\(error)"])
            } else {
                logger.warning("connection handler failed", metadata: ["error": "\(error)"])
            }
        }
    }
}
