import HypercoreProtocol
public import Logging
public import NIOCore
public import NIOPosix

/// Opens TCP connections to peers, each scoped to a closure.
///
/// ```swift
/// try await TCPClient.withConnection(host: "127.0.0.1", port: 7000) { stream in
///     try await stream.write(hello)
///     for try await chunk in stream.inbound { … }
/// }
/// ```
public enum TCPClient {
    /// Connects to `host:port`, runs `body` with the connection, and closes the connection when `body` returns
    /// or throws.
    ///
    /// The connection is closed, and awaited, before this method returns: nothing outlives the call. When the
    /// calling task is cancelled, reads of the stream's inbound and writes waiting for the socket end with
    /// `CancellationError`.
    ///
    /// - Parameters:
    ///   - host: A host name or an IPv4 or IPv6 address.
    ///   - port: The TCP port.
    ///   - group: The event loops that run the connection; NIO's shared singleton by default.
    ///   - connectTimeout: How long connecting may take.
    ///   - logger: Where connects and closes (debug) and failures (warning) go; by default nothing is logged.
    ///   - isolation: The actor `body` runs on: the caller's, by default.
    ///   - body: Works with the connection; its result is returned.
    /// - Returns: What `body` returned.
    /// - Throws: ``HypercoreProtocol/ReplicationError`` with code `.transport` naming `host:port` when the
    ///   connection cannot be made (refused, unknown host, timeout), the underlying error as its `cause`;
    ///   otherwise what `body` throws.
    @discardableResult
    public static func withConnection<Result>(
        host: String,
        port: Int,
        group: any EventLoopGroup = MultiThreadedEventLoopGroup.singleton,
        connectTimeout: Duration = .seconds(10),
        logger: Logger = .kappaNIODisabled,
        isolation: isolated (any Actor)? = #isolation,
        _ body: (TCPByteStream) async throws -> sending Result
    ) async throws -> sending Result {
        let target = TCPChannel.describe(host: host, port: port)
        let connection: NIOAsyncChannel<ByteBuffer, ByteBuffer>
        do {
            connection = try await ClientBootstrap(group: group)
                .connectTimeout(TimeAmount(connectTimeout))
                .channelOption(.allowRemoteHalfClosure, value: true)
                .channelOption(.tcpOption(.tcp_nodelay), value: 1)
                .connect(host: host, port: port, channelInitializer: TCPChannel.wrap)
        } catch {
            logger.warning("connecting failed", metadata: ["peer": "\(target)", "error": "\(error)"])
            throw ReplicationError(.transport, "connecting to \(target) failed", cause: error)
        }
        let peer = TCPChannel.describe(connection.channel.remoteAddress)
        logger.debug("connected", metadata: ["peer": "\(peer)"])
        defer { logger.debug("closed", metadata: ["peer": "\(peer)"]) }
        return try await TCPChannel.withStream(connection, peer: peer, body)
    }
}
