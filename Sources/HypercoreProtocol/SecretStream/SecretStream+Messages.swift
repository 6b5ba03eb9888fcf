extension SecretStream {
    /// The decrypted messages of a ``SecretStream``: an `AsyncSequence` of byte arrays, one per message.
    public struct Messages: AsyncSequence, Sendable {
        /// A decrypted message.
        public typealias Element = [UInt8]
        /// ``ReplicationError`` when the stream failed, `CancellationError` when the waiting task was cancelled.
        public typealias Failure = any Error

        let storage: SecretStreamStorage

        /// Creates the iterator. Iterate once.
        public func makeAsyncIterator() -> AsyncIterator {
            AsyncIterator(storage: storage)
        }

        /// Returns the messages in the order the peer sent them.
        public struct AsyncIterator: AsyncIteratorProtocol {
            let storage: SecretStreamStorage

            /// The next message, or `nil` when the stream ended normally.
            public mutating func next() async throws -> [UInt8]? {
                try await storage.next()
            }
        }
    }
}

@available(*, unavailable)
extension SecretStream.Messages.AsyncIterator: Sendable {}
