import HypercoreProtocol
public import Logging
import NIOCore

/// What the client and the server share: how a raw channel becomes an `NIOAsyncChannel`, how a connection is
/// scoped, how addresses read in logs.
enum TCPChannel {
    /// The async wrapper every connection gets. Outbound half-closure lets ``TCPByteStream/close()`` end only
    /// the outbound direction.
    static let configuration = NIOAsyncChannel<ByteBuffer, ByteBuffer>.Configuration(
        isOutboundHalfClosureEnabled: true
    )

    /// Wraps a freshly made connection channel; call it from a channel initializer (on the channel's loop).
    @Sendable
    static func wrap(_ channel: any Channel) -> EventLoopFuture<NIOAsyncChannel<ByteBuffer, ByteBuffer>> {
        channel.eventLoop.makeCompletedFuture {
            try NIOAsyncChannel<ByteBuffer, ByteBuffer>(
                wrappingChannelSynchronously: channel,
                configuration: configuration
            )
        }
    }

    /// `host:port`, or `[host]:port` for IPv6; the address's own description for other kinds.
    static func describe(_ address: SocketAddress?) -> String {
        guard let address else { return "an unknown peer" }
        guard let ip = address.ipAddress, let port = address.port else { return "\(address)" }
        if case .v6 = address { return "[\(ip)]:\(port)" }
        return "\(ip):\(port)"
    }

    /// `host:port` as the caller spelled it, `[host]:port` when the host is an IPv6 literal.
    static func describe(host: String, port: Int) -> String {
        host.contains(":") ? "[\(host)]:\(port)" : "\(host):\(port)"
    }

    /// Runs `body` with the connection as a ``TCPByteStream`` and closes the connection when `body` returns or
    /// throws; returns once the connection is closed.
    static func withStream<Result>(
        _ connection: NIOAsyncChannel<ByteBuffer, ByteBuffer>,
        peer: String,
        isolation: isolated (any Actor)? = #isolation,
        _ body: (TCPByteStream) async throws -> sending Result
    ) async throws -> sending Result {
        let channel = connection.channel
        do {
            return try await connection.executeThenClose(isolation: isolation) { inbound, outbound in
                try await body(
                    TCPByteStream(inbound: inbound, outbound: outbound, allocator: channel.allocator, peer: peer)
                )
            }
        } catch {
            // When the body threw, `executeThenClose` waits for the close only if it started it; a close already
            // under way (a cancellation, the peer) may still be running. Wait for it: nothing outlives the scope.
            try? await channel.closeFuture.get()
            throw error
        }
    }
}

extension Logger {
    /// The logger KappaNIO uses when the caller passes none: it drops everything, so a library never prints.
    @usableFromInline
    static let kappaNIODisabled = Logger(label: "kappa.nio", factory: { _ in SwiftLogNoOpLogHandler() })
}
