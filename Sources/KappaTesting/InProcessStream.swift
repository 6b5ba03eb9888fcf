public import HypercoreProtocol
import Synchronization

/// One end of an in-process connection made by ``InProcessStream/pair(faults:)``: what one end writes,
/// the other end's ``inbound`` yields.
///
/// For tests and benchmarks of the replication protocol without sockets. Faults can be injected on the
/// bytes that leave each end: the connection cut after some bytes, bytes flipped at given offsets, a delay
/// before each write.
public final class InProcessStream: ByteStream {
    /// Faults applied to the bytes one end writes.
    public struct Faults: Sendable {
        /// Cut the connection once this many bytes went out of this end (both directions end with an error).
        public var cutAfter: Int?
        /// Byte offsets (counted over everything this end writes) whose bits are flipped (`xor 0x01`).
        public var flip: Set<Int>
        /// Waited before each write is delivered.
        public var delay: Duration?

        /// No faults.
        public static let none = Faults()

        /// Faults for one end; all optional.
        public init(cutAfter: Int? = nil, flip: Set<Int> = [], delay: Duration? = nil) {
            self.cutAfter = cutAfter
            self.flip = flip
            self.delay = delay
        }
    }

    /// The error with which both ends' inbound sequences end after a cut.
    public struct ConnectionCut: Error, Sendable {}

    /// The error a write throws after ``close()`` or a cut.
    public struct StreamClosed: Error, Sendable {}

    /// The bytes the other end writes; ends when it closes, throws ``ConnectionCut`` after a cut.
    public let inbound: AsyncThrowingStream<[UInt8], any Error>
    private let inboundContinuation: AsyncThrowingStream<[UInt8], any Error>.Continuation
    private let state: Mutex<State>
    private let faults: Faults

    private struct State {
        var peer: InProcessStream?
        var written = 0
        var closed = false
    }

    private init(faults: Faults) {
        (inbound, inboundContinuation) = AsyncThrowingStream.makeStream(of: [UInt8].self)
        state = Mutex(State())
        self.faults = faults
    }

    /// Makes a connected pair. `faults.0` applies to what the first end writes, `faults.1` to the second.
    public static func pair(faults: (Faults, Faults) = (.none, .none)) -> (InProcessStream, InProcessStream) {
        let a = InProcessStream(faults: faults.0)
        let b = InProcessStream(faults: faults.1)
        a.state.withLock { $0.peer = b }
        b.state.withLock { $0.peer = a }
        return (a, b)
    }

    /// Bytes written through this end so far (after faults, before a cut).
    public var bytesWritten: Int { state.withLock { $0.written } }

    /// Delivers `bytes` to the other end (after this end's faults). Throws ``StreamClosed`` after ``close()``
    /// and ``ConnectionCut`` when the cut happens.
    public func write(_ bytes: [UInt8]) async throws {
        if let delay = faults.delay { try await Task.sleep(for: delay) }
        enum Outcome { case deliver([UInt8], InProcessStream), cut([UInt8], InProcessStream?), closed }
        let outcome: Outcome = state.withLock { state in
            guard !state.closed, let peer = state.peer else { return .closed }
            var out = bytes
            let start = state.written
            for offset in faults.flip where offset >= start && offset < start + out.count {
                out[offset - start] ^= 0x01
            }
            if let limit = faults.cutAfter, start + out.count >= limit {
                state.closed = true
                state.peer = nil
                state.written = limit
                return .cut(Array(out.prefix(limit - start)), peer)
            }
            state.written += out.count
            return .deliver(out, peer)
        }
        switch outcome {
        case .deliver(let out, let peer):
            peer.inboundContinuation.yield(out)
        case .cut(let head, let peer):
            if let peer {
                if !head.isEmpty { peer.inboundContinuation.yield(head) }
                peer.inboundContinuation.finish(throwing: ConnectionCut())
                peer.cutFromPeer()
            }
            inboundContinuation.finish(throwing: ConnectionCut())
            throw ConnectionCut()
        case .closed:
            throw StreamClosed()
        }
    }

    private func cutFromPeer() {
        state.withLock { $0.closed = true; $0.peer = nil }
    }

    /// Ends this end's outbound direction: the peer's ``inbound`` finishes after the bytes already written.
    public func close() async {
        let peer: InProcessStream? = state.withLock { state in
            defer { state.closed = true; state.peer = nil }
            return state.closed ? nil : state.peer
        }
        peer?.inboundContinuation.finish()
    }
}
