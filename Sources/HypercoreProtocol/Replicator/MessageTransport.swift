/// What a replication session runs over: whole messages in both directions, bound to one authenticated
/// handshake. ``SecretStream`` is the real one; tests may run sessions over a plain message pipe.
package protocol MessageTransport: Sendable {
    /// The messages from the peer, boundaries kept.
    associatedtype Messages: AsyncSequence<[UInt8], any Error> & Sendable

    /// True on the side that started the handshake; capabilities depend on it (spec A.5).
    var isInitiator: Bool { get }
    /// The handshake hash both sides share; capabilities are bound to it (spec A.5).
    var handshakeHash: [UInt8] { get }
    /// The messages from the peer. Iterated once.
    var messages: Messages { get }
    /// Sends `messages` in order, each as one message.
    func send(contentsOf messages: [[UInt8]]) async throws
    /// Ends the connection.
    func close() async
}
