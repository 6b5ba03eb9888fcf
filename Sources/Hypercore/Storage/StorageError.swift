/// An I/O error from a storage backend. Keeps the `errno` of a failed system call.
public struct StorageError: Error, Sendable, CustomStringConvertible {
    /// What went wrong, comparable with `==`.
    public struct Code: Hashable, Sendable, CustomStringConvertible {
        private enum Base: String, Hashable, Sendable { case io, notFound, closed, locked, shortRead, invalidPath }
        private let base: Base
        private init(_ base: Base) { self.base = base }

        /// A system call failed; see ``StorageError/errno``.
        public static let io = Code(.io)
        /// A file or directory does not exist.
        public static let notFound = Code(.notFound)
        /// The storage was closed.
        public static let closed = Code(.closed)
        /// Another process holds the lock on the storage.
        public static let locked = Code(.locked)
        /// A path that cannot name storage (an empty one).
        public static let invalidPath = Code(.invalidPath)
        /// Fewer bytes were stored than the metadata promised.
        public static let shortRead = Code(.shortRead)

        public var description: String { base.rawValue }
    }

    /// What went wrong.
    public var code: Code
    /// A description for people: the operation and the path.
    public var message: String
    /// The `errno` of the failed system call, if any.
    public var errno: Int32?

    /// Creates an error.
    public init(_ code: Code, _ message: String, errno: Int32? = nil) {
        self.code = code
        self.message = message
        self.errno = errno
    }

    public var description: String {
        if let errno { return "StorageError(\(code)): \(message) (errno \(errno))" }
        return "StorageError(\(code)): \(message)"
    }
}
