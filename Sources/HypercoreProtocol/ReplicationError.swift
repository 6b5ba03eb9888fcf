/// An error that ends a replication session: a malformed or tampered frame, a failed handshake or
/// verification, a peer breaking the protocol, a transport failure.
///
/// Such an error ends the session it happened in, never the feed: nothing the peer sent after the fault
/// is stored. Catch by ``code``; the ``message`` is for people and names the peer and feed where known.
/// Codes can be added without breaking callers.
public struct ReplicationError: Error, Sendable, CustomStringConvertible {
    /// What went wrong, comparable with `==`.
    public struct Code: Hashable, Sendable, CustomStringConvertible {
        private enum Base: String, Hashable, Sendable {
            case malformedFrame, frameTooLarge, handshakeFailed, decryptionFailed, streamIdMismatch
            case malformedMessage, unknownChannel, channelRejected, invalidCapability, protocolViolation
            case invalidProof, tooManyRequests, bufferOverflow, timeout, connectionClosed, transport, closed
        }
        private let base: Base
        private init(_ base: Base) { self.base = base }

        /// A secret-stream frame was malformed (bad length prefix, a message shorter than its overhead).
        public static let malformedFrame = Code(.malformedFrame)
        /// A frame, batch or message exceeded its size limit.
        public static let frameTooLarge = Code(.frameTooLarge)
        /// The Noise handshake failed (bad message length, bad tag, an invalid or small-order key).
        public static let handshakeFailed = Code(.handshakeFailed)
        /// A secret-stream message did not authenticate (tampered, reordered or truncated bytes).
        public static let decryptionFailed = Code(.decryptionFailed)
        /// The peer's stream id does not match the handshake.
        public static let streamIdMismatch = Code(.streamIdMismatch)
        /// A protomux frame or a `hypercore/alpha` message did not decode.
        public static let malformedMessage = Code(.malformedMessage)
        /// A message named a channel that is not open.
        public static let unknownChannel = Code(.unknownChannel)
        /// The peer rejected a channel we opened (it does not have the feed).
        public static let channelRejected = Code(.channelRejected)
        /// The peer's capability does not prove it holds the feed key for this connection.
        public static let invalidCapability = Code(.invalidCapability)
        /// The peer broke the protocol's rules (an id that does not grow by one, data nobody asked for, …).
        public static let protocolViolation = Code(.protocolViolation)
        /// Data from the peer did not verify against the feed (proof, hash or signature).
        public static let invalidProof = Code(.invalidProof)
        /// The peer sent more requests than the session serves at once.
        public static let tooManyRequests = Code(.tooManyRequests)
        /// Messages buffered for a channel not yet paired exceeded their budget.
        public static let bufferOverflow = Code(.bufferOverflow)
        /// The peer sent nothing for longer than the idle timeout, or a request was not answered in time.
        public static let timeout = Code(.timeout)
        /// The peer closed the connection before the session ended.
        public static let connectionClosed = Code(.connectionClosed)
        /// The transport failed (see ``ReplicationError/cause``).
        public static let transport = Code(.transport)
        /// The session or stream was closed locally.
        public static let closed = Code(.closed)

        public var description: String { base.rawValue }
    }

    /// What went wrong.
    public var code: Code
    /// A description for people, naming the peer and feed where known.
    public var message: String
    /// The underlying error, if any.
    public var cause: (any Error)?

    /// Creates an error.
    public init(_ code: Code, _ message: String, cause: (any Error)? = nil) {
        self.code = code
        self.message = message
        self.cause = cause
    }

    public var description: String {
        if let cause { return "ReplicationError(\(code)): \(message) (cause: \(cause))" }
        return "ReplicationError(\(code)): \(message)"
    }
}
