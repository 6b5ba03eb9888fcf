public import HypercoreProtocol
import NIOCore
import Synchronization

/// One TCP connection as the replication protocol sees it: a ``HypercoreProtocol/ByteStream`` over an
/// `NIOAsyncChannel`.
///
/// You do not create one: ``TCPClient/withConnection(host:port:group:connectTimeout:logger:isolation:_:)`` and
/// ``TCPServer/serve(_:)`` hand one to a closure, and the connection closes when that closure returns. A stream
/// kept past its closure is closed: its writes throw and its ``inbound`` has ended.
///
/// Each chunk NIO reads becomes one `[UInt8]` (one copy); each ``write(_:)`` copies its bytes into one
/// `ByteBuffer` and flushes it, which costs a system call. Callers that send many small messages should gather
/// several into one write.
public final class TCPByteStream: ByteStream {
    /// The bytes that arrive from the peer, one chunk per socket read.
    ///
    /// The sequence ends when the peer closes its side of the connection and throws a
    /// ``HypercoreProtocol/ReplicationError`` with code `.transport` when the connection fails. Cancelling the
    /// iterating task ends the iteration with `CancellationError`. It can be iterated once.
    public struct Inbound: AsyncSequence, Sendable {
        /// A chunk of bytes, as read from the socket.
        public typealias Element = [UInt8]
        /// Any error: a ``HypercoreProtocol/ReplicationError`` or `CancellationError`.
        public typealias Failure = any Error

        private let base: NIOAsyncChannelInboundStream<ByteBuffer>
        private let peer: String

        init(base: NIOAsyncChannelInboundStream<ByteBuffer>, peer: String) {
            self.base = base
            self.peer = peer
        }

        /// Makes the one iterator of this sequence.
        public func makeAsyncIterator() -> AsyncIterator {
            AsyncIterator(base: base.makeAsyncIterator(), peer: peer)
        }

        /// Reads the chunks of an ``Inbound`` sequence.
        public struct AsyncIterator: AsyncIteratorProtocol {
            private var base: NIOAsyncChannelInboundStream<ByteBuffer>.AsyncIterator
            private let peer: String

            init(base: NIOAsyncChannelInboundStream<ByteBuffer>.AsyncIterator, peer: String) {
                self.base = base
                self.peer = peer
            }

            /// The next chunk from the peer, or `nil` once the peer closed its side.
            ///
            /// - Throws: ``HypercoreProtocol/ReplicationError`` (`.transport`) when the connection failed;
            ///   `CancellationError` when the task was cancelled.
            public mutating func next() async throws -> [UInt8]? {
                while true {
                    let buffer: ByteBuffer?
                    do {
                        buffer = try await base.next()
                    } catch let error as CancellationError {
                        throw error
                    } catch {
                        throw ReplicationError(.transport, "reading from \(peer) failed", cause: error)
                    }
                    guard let buffer else { return nil }
                    if buffer.readableBytes > 0 { return Array(buffer.readableBytesView) }
                }
            }
        }
    }

    /// The bytes the peer sends, in order.
    public let inbound: Inbound

    /// The peer's address as `host:port` (`[host]:port` for IPv6), for logs and error messages.
    public let peer: String

    private let outbound: NIOAsyncChannelOutboundWriter<ByteBuffer>
    private let allocator: ByteBufferAllocator
    private let closed = Atomic<Bool>(false)

    init(
        inbound: NIOAsyncChannelInboundStream<ByteBuffer>,
        outbound: NIOAsyncChannelOutboundWriter<ByteBuffer>,
        allocator: ByteBufferAllocator,
        peer: String
    ) {
        self.inbound = Inbound(base: inbound, peer: peer)
        self.outbound = outbound
        self.allocator = allocator
        self.peer = peer
    }

    /// Sends `bytes` to the peer.
    ///
    /// The bytes are copied once into a `ByteBuffer`, written and flushed. The call returns once NIO accepted
    /// them, which is at once while the socket is writable and suspends while it is not (NIO's back-pressure):
    /// a return does not mean the peer received them.
    ///
    /// - Parameter bytes: The bytes to send; an empty array sends nothing.
    /// - Throws: ``HypercoreProtocol/ReplicationError`` with code `.closed` after ``close()``, with code
    ///   `.transport` when the connection is gone; `CancellationError` when the task was cancelled while the
    ///   write waited for the socket.
    public func write(_ bytes: [UInt8]) async throws {
        if closed.load(ordering: .relaxed) {
            throw ReplicationError(.closed, "write to \(peer) after the stream was closed")
        }
        if bytes.isEmpty { return }
        var buffer = allocator.buffer(capacity: bytes.count)
        buffer.writeBytes(bytes)
        do {
            try await outbound.write(buffer)
        } catch let error as CancellationError {
            throw error
        } catch {
            if closed.load(ordering: .relaxed) {
                throw ReplicationError(.closed, "write to \(peer) after the stream was closed", cause: error)
            }
            throw ReplicationError(.transport, "writing to \(peer) failed", cause: error)
        }
    }

    /// Ends the outbound direction: the peer's inbound ends after the bytes already written (a TCP half-close).
    ///
    /// The inbound direction stays open until the peer closes its side; the socket itself is released when the
    /// closure that received this stream returns. Later writes throw. Calling it again does nothing.
    public func close() async {
        if closed.exchange(true, ordering: .relaxed) { return }
        outbound.finish()
    }
}

@available(*, unavailable)
extension TCPByteStream.Inbound.AsyncIterator: Sendable {}
