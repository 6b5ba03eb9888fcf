/// An error raised by the feed layer: malformed input, failed verification, misuse.
///
/// Catch by ``code``; the ``message`` is for people. Codes can be added without breaking callers.
public struct HypercoreError: Error, Sendable, CustomStringConvertible {
    /// What went wrong, comparable with `==`.
    public struct Code: Hashable, Sendable, CustomStringConvertible {
        private enum Base: String, Hashable, Sendable {
            case invalidLength, invalidHex, malformed, invalidProof, invalidSignature, invalidChecksum
            case outOfRange, blockNotAvailable, readOnly, closed, corrupt, unsupported, invalidOperation
            case staleUpgrade, forkMismatch, wrongKey, timeout
        }
        private let base: Base
        private init(_ base: Base) { self.base = base }

        /// A byte string had the wrong length (a key, hash or signature).
        public static let invalidLength = Code(.invalidLength)
        /// A hexadecimal string was malformed.
        public static let invalidHex = Code(.invalidHex)
        /// Bytes did not decode (compact encoding, oplog entry, wire message).
        public static let malformed = Code(.malformed)
        /// A proof did not have the expected shape (wrong sibling, missing node, wrong roots).
        public static let invalidProof = Code(.invalidProof)
        /// A signature did not verify against the feed's key.
        public static let invalidSignature = Code(.invalidSignature)
        /// A proof's hashes did not match the verified tree.
        public static let invalidChecksum = Code(.invalidChecksum)
        /// A sequence number or range beyond the feed's length.
        public static let outOfRange = Code(.outOfRange)
        /// The block is within the feed's length but not stored locally (sparse feed).
        public static let blockNotAvailable = Code(.blockNotAvailable)
        /// A write to a feed that has no secret key.
        public static let readOnly = Code(.readOnly)
        /// The feed was closed.
        public static let closed = Code(.closed)
        /// Stored files are inconsistent beyond what recovery can repair.
        public static let corrupt = Code(.corrupt)
        /// A valid but unsupported feature (manifest cores, forks, seeks).
        public static let unsupported = Code(.unsupported)
        /// An operation whose arguments cannot be satisfied (bad proof request).
        public static let invalidOperation = Code(.invalidOperation)
        /// An upgrade proof that does not start at the local length.
        public static let staleUpgrade = Code(.staleUpgrade)
        /// A proof or request for another fork.
        public static let forkMismatch = Code(.forkMismatch)
        /// A key pair that does not belong to the feed.
        public static let wrongKey = Code(.wrongKey)
        /// A wait for blocks from peers ended before they arrived.
        public static let timeout = Code(.timeout)

        public var description: String { base.rawValue }
    }

    /// What went wrong.
    public var code: Code
    /// A description for people.
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
        if let cause { return "HypercoreError(\(code)): \(message) (cause: \(cause))" }
        return "HypercoreError(\(code)): \(message)"
    }
}
