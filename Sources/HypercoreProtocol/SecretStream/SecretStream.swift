public import Hypercore

/// An encrypted, authenticated connection to a peer: hyperswarm secret-stream as hypercore 10 uses it
/// (spec D.1–D.2), over any ``ByteStream``.
///
/// A Noise XX handshake with Ed25519 keys authenticates both peers' identities and agrees on keys; each side
/// then sends a header frame (a stream id bound to the handshake and a libsodium secretstream header), and
/// every message after that is one `crypto_secretstream_xchacha20poly1305` message in one `u24le`-prefixed
/// frame. Message boundaries are kept: each ``send(_:)`` arrives as one element of the peer's ``messages``.
///
/// Open one with ``withSecretStream(over:isInitiator:identity:options:isolation:_:)``; the stream lives for the
/// duration of the closure:
///
/// ```swift
/// try await SecretStream.withSecretStream(over: transport, isInitiator: true, identity: keyPair) { stream in
///     try await stream.send(hello)
///     for try await message in stream.messages { handle(message) }
/// }
/// ```
///
/// Empty messages are keep-alives: one is sent when nothing was sent for ``Options/keepAliveInterval``, and the
/// receiver drops them. When nothing at all arrives for ``Options/idleTimeout``, ``messages`` ends with
/// ``ReplicationError/Code/timeout``. A tampered, truncated or malformed byte anywhere ends ``messages`` with a
/// ``ReplicationError`` (after the authentic messages that came before it) and closes the transport; a tampered
/// message is never delivered.
public struct SecretStream: Sendable {
    /// Settings of a secret stream.
    public struct Options: Sendable {
        /// An empty message is sent when nothing was sent for this long; `nil` (or a duration that is not
        /// positive) sends none. Default 5 seconds, as hypercore's protocol stream does.
        public var keepAliveInterval: Duration?
        /// When nothing arrives from the peer for this long (keep-alives count), ``SecretStream/messages`` ends
        /// with ``ReplicationError/Code/timeout`` and the stream closes; `nil` (or a duration that is not
        /// positive) waits forever. The handshake is bounded by it too. Default 20 seconds.
        public var idleTimeout: Duration?
        /// Decrypted bytes buffered for ``SecretStream/messages`` before reading from the transport pauses
        /// (back-pressure); reading resumes when the buffer is half empty. Default 1 MiB.
        public var receiveBufferSize: Int

        /// Creates options; the defaults match hypercore 10.
        public init(
            keepAliveInterval: Duration? = .seconds(5), idleTimeout: Duration? = .seconds(20),
            receiveBufferSize: Int = 1 << 20
        ) {
            self.keepAliveInterval = keepAliveInterval
            self.idleTimeout = idleTimeout
            self.receiveBufferSize = receiveBufferSize
        }
    }

    /// The largest message, `2^24 − 1 − 17` bytes: a frame holds at most `2^24 − 1` bytes, and each message
    /// carries 17 bytes of tag and MAC.
    public static let maximumMessageLength = Framing.maximumFrameLength - SecretStreamPushCipher.overhead

    let storage: SecretStreamStorage

    /// True when this side started the handshake (the Noise initiator).
    public let isInitiator: Bool
    /// The 64-byte Noise handshake hash, equal on both sides; hypercore binds capabilities to it (spec A.5).
    public let handshakeHash: [UInt8]
    /// This side's identity (the static key of the handshake).
    public let localPublicKey: PublicKey
    /// The peer's identity, authenticated by the handshake.
    public let remotePublicKey: PublicKey

    init(storage: SecretStreamStorage, session: EstablishedSession) {
        self.storage = storage
        self.isInitiator = session.isInitiator
        self.handshakeHash = session.handshakeHash
        self.localPublicKey = session.localPublicKey
        self.remotePublicKey = session.remotePublicKey
    }

    /// Runs the handshake over `transport`, calls `body` with the open stream, and closes the stream when
    /// `body` returns or throws.
    ///
    /// Everything the stream starts (the task reading the transport, the keep-alive and idle timers) runs in a
    /// task group inside this call and has ended when it returns. The transport is closed on return. Cancelling
    /// the calling task closes the stream: a handshake in progress and any wait on the stream end.
    ///
    /// The transport's inbound sequence must end when the task iterating it is cancelled (as
    /// `AsyncThrowingStream` and ``FileDescriptorStream`` do), so that this call can return.
    ///
    /// - Parameters:
    ///   - transport: the connection to the peer; this call owns it from now on.
    ///   - isInitiator: true on the side that connected (it writes the first handshake message).
    ///   - identity: this peer's Ed25519 key pair, the handshake's static key.
    ///   - options: keep-alive, idle timeout and buffering.
    ///   - isolation: the actor `body` runs on (the caller's by default).
    ///   - body: works with the open stream.
    /// - Returns: what `body` returns.
    /// - Throws: ``ReplicationError`` when the handshake fails (`handshakeFailed`, `streamIdMismatch`,
    ///   `malformedFrame`, `timeout`, `connectionClosed`, `transport`), `CancellationError` when cancelled
    ///   during the handshake, or what `body` throws.
    public static func withSecretStream<Result>(
        over transport: some ByteStream,
        isInitiator: Bool,
        identity: KeyPair,
        options: Options = Options(),
        isolation: isolated (any Actor)? = #isolation,
        _ body: (SecretStream) async throws -> Result
    ) async throws -> Result {
        let storage = SecretStreamStorage(
            transport: transport, isInitiator: isInitiator, identity: identity, options: options)
        return try await withThrowingTaskGroup(of: Void.self, returning: Result.self, isolation: isolation) { group in
            group.addTask { await storage.run() }
            let result: Result
            do {
                let session = try await storage.established()
                result = try await body(SecretStream(storage: storage, session: session))
            } catch {
                await storage.close()
                throw error
            }
            await storage.close()
            return result
        }
    }

    /// The decrypted messages from the peer, one element per message the peer sent (keep-alives dropped).
    ///
    /// Iterate it once, from one task at a time. It ends (`nil`) when the peer closes the connection at a
    /// message boundary or after ``close()``; it throws ``ReplicationError`` when the stream failed (after
    /// delivering the messages that arrived before the failure), and `CancellationError` when the waiting task
    /// is cancelled.
    public var messages: Messages { Messages(storage: storage) }

    /// Encrypts and sends one message. Returns when the transport accepted it.
    ///
    /// An empty message is a keep-alive: the peer drops it.
    /// - Throws: ``ReplicationError`` with code ``ReplicationError/Code/frameTooLarge`` for a message longer
    ///   than ``maximumMessageLength``, ``ReplicationError/Code/closed`` after ``close()``, the error that ended
    ///   the stream after a failure; `CancellationError` when cancelled while another send is in progress.
    public func send(_ message: [UInt8]) async throws {
        try await storage.send([message])
    }

    /// Encrypts `messages` (each one secret-stream message, boundaries kept) and sends them in one transport
    /// write. Faster than one ``send(_:)`` per message.
    /// - Throws: as ``send(_:)``; nothing is sent when a message is too long.
    public func send(contentsOf messages: [[UInt8]]) async throws {
        try await storage.send(messages)
    }

    /// Closes the stream: ``messages`` ends, sends throw ``ReplicationError/Code/closed``, the transport is
    /// closed and the stream's tasks end. Safe to call more than once.
    public func close() async {
        await storage.close()
    }
}
