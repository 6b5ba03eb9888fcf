/// An error raised by the database layer.
///
/// Catch by ``code``; the ``message`` is for people; ``cause`` keeps the underlying error (a view's own error,
/// a `HypercoreError` or a `StorageError` of the Hypercore module).
public struct KappaError: Error, Sendable, CustomStringConvertible {
    /// What went wrong, comparable with `==`.
    public struct Code: Hashable, Sendable, CustomStringConvertible {
        private enum Base: String, Hashable, Sendable {
            case closed, locked, invalidKey, unknownView, duplicateView, viewFailed, viewNotAttached
            case undecodableEntry, encoding, store, invalidName, invalidPath, damagedFeed, feedUnavailable
            case tooManyFeeds, invalidEntry, invalidQuery
        }
        private let base: Base
        private init(_ base: Base) { self.base = base }

        /// The database was closed.
        public static let closed = Code(.closed)
        /// Another process (or another `Kappa` in this one) has the directory open.
        public static let locked = Code(.locked)
        /// A feed key that is not 32 bytes or 64 hex characters.
        public static let invalidKey = Code(.invalidKey)
        /// No view is registered under the name.
        public static let unknownView = Code(.unknownView)
        /// A view is already registered under the name.
        public static let duplicateView = Code(.duplicateView)
        /// The view's `map` (or its state storage) threw; the view stopped until `Kappa.resume(_:)`.
        public static let viewFailed = Code(.viewFailed)
        /// A ``ViewStore`` used before its view was registered with ``Kappa/use(_:version:_:)``.
        public static let viewNotAttached = Code(.viewNotAttached)
        /// A block that does not decode as the database's value type (skipped by views).
        public static let undecodableEntry = Code(.undecodableEntry)
        /// A value that could not be encoded.
        public static let encoding = Code(.encoding)
        /// The view store (SQLite) failed.
        public static let store = Code(.store)
        /// A writer or view name that is empty.
        public static let invalidName = Code(.invalidName)
        /// A database path that cannot be used (an empty one).
        public static let invalidPath = Code(.invalidPath)
        /// A feed whose files do not open or whose block does not read. The database keeps working; the feed is
        /// unavailable (or held back at the block). The message names the feed, its directory and the block.
        public static let damagedFeed = Code(.damagedFeed)
        /// A feed that is known but could not be opened (see ``Kappa/info()``), asked for by writer name or key.
        public static let feedUnavailable = Code(.feedUnavailable)
        /// A replication peer offered more feeds than the database accepts (``KappaOptions/maxFeedsFromPeer``) or
        /// put more in one message than ``KappaOptions/maxFeedsPerMessage``; the session ended, the database
        /// keeps working.
        public static let tooManyFeeds = Code(.tooManyFeeds)
        /// An entry a view cannot index (a malformed id, a link in the wrong format, bad coordinates, a field of
        /// the wrong type): reported and skipped; the view goes on. The message names the view, feed and seq.
        public static let invalidEntry = Code(.invalidEntry)
        /// A query a view cannot run (a full-text query with a syntax error, a box with NaN coordinates).
        public static let invalidQuery = Code(.invalidQuery)

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
        if let cause { return "KappaError(\(code)): \(message) (cause: \(cause))" }
        return "KappaError(\(code)): \(message)"
    }
}
