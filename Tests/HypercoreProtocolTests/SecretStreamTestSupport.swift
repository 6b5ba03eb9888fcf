import Hypercore
import HypercoreProtocol
import KappaTesting
import Synchronization

/// What one side of a test session ended with: the messages it received and the error that ended them.
struct SideOutcome: Sendable {
    var received: [[UInt8]] = []
    var error: (any Error)?

    var replicationError: ReplicationError? { error as? ReplicationError }
}

/// Runs an initiator and a responder over `transports` at once; each side runs `body` inside its stream and
/// the result (or the error, from the handshake or the body) is returned per side.
func runPair<T: ByteStream, U: ByteStream>(
    _ transports: (T, U),
    identities: (KeyPair, KeyPair) = (.random(), .random()),
    // No idle timeout by default: on a loaded machine a stall of the cooperative pool could outlast it; the
    // suites' time limits catch hangs.
    options: (SecretStream.Options, SecretStream.Options) = (.init(idleTimeout: nil), .init(idleTimeout: nil)),
    initiator: @escaping @Sendable (SecretStream) async throws -> SideOutcome,
    responder: @escaping @Sendable (SecretStream) async throws -> SideOutcome
) async -> (initiator: SideOutcome, responder: SideOutcome) {
    async let i = side(transports.0, true, identities.0, options.0, initiator)
    async let r = side(transports.1, false, identities.1, options.1, responder)
    return await (i, r)
}

private func side<T: ByteStream>(
    _ transport: T, _ isInitiator: Bool, _ identity: KeyPair, _ options: SecretStream.Options,
    _ body: @Sendable (SecretStream) async throws -> SideOutcome
) async -> SideOutcome {
    do {
        return try await SecretStream.withSecretStream(
            over: transport, isInitiator: isInitiator, identity: identity, options: options, body)
    } catch {
        return SideOutcome(error: error)
    }
}

/// Reads messages until `count` arrived, the stream ends, or it fails.
func collect(_ stream: SecretStream, count: Int = .max) async -> SideOutcome {
    var outcome = SideOutcome()
    do {
        for try await message in stream.messages {
            outcome.received.append(message)
            if outcome.received.count == count { break }
        }
    } catch {
        outcome.error = error
    }
    return outcome
}

/// A transport that records every write of the stream it wraps, and can end its output early: after
/// `endAfter` bytes it writes the part up to that point, then closes cleanly (the peer sees a normal EOF).
final class RecordingStream<Base: ByteStream>: ByteStream {
    let base: Base
    private let endAfter: Int?
    private let state = Mutex<(writes: [[UInt8]], written: Int, ended: Bool)>(([], 0, false))

    init(_ base: Base, endAfter: Int? = nil) {
        self.base = base
        self.endAfter = endAfter
    }

    var inbound: Base.Inbound { base.inbound }

    /// Every write, in order.
    var writes: [[UInt8]] { state.withLock { $0.writes } }

    func write(_ bytes: [UInt8]) async throws {
        let (out, end): ([UInt8], Bool) = state.withLock { state in
            guard !state.ended else { return ([], true) }
            state.writes.append(bytes)
            guard let endAfter, state.written + bytes.count >= endAfter else {
                state.written += bytes.count
                return (bytes, false)
            }
            state.ended = true
            let head = Array(bytes.prefix(endAfter - state.written))
            state.written = endAfter
            return (head, true)
        }
        if !out.isEmpty { try await base.write(out) }
        if end {
            await base.close()
            throw OutputEnded()
        }
    }

    func close() async { await base.close() }
}

/// What a ``RecordingStream`` write throws once its output ended.
struct OutputEnded: Error {}

/// Deterministic payloads: message `i` of `size` bytes.
func payload(_ i: Int, size: Int) -> [UInt8] {
    (0..<size).map { UInt8(truncatingIfNeeded: $0 &* 31 &+ i &* 7 &+ 1) }
}

/// A lock-protected value for test bookkeeping across tasks.
final class Locked<Value: Sendable>: Sendable {
    private let storage: Mutex<Value>
    init(_ value: Value) { storage = Mutex(value) }
    func withLock<R: Sendable>(_ body: (inout Value) -> R) -> R { storage.withLock { body(&$0) } }
}

/// A transport that counts the writes reaching it and the reads in progress on its inbound side, to check
/// that nothing a secret stream started is still running after it returned.
final class ProbeStream<Base: ByteStream>: ByteStream {
    let base: Base
    let writes = Locked(0)
    let activeReads = Locked(0)

    init(_ base: Base) { self.base = base }

    struct Inbound: AsyncSequence, Sendable {
        let base: Base.Inbound
        let activeReads: Locked<Int>
        func makeAsyncIterator() -> Iterator { Iterator(base: base.makeAsyncIterator(), activeReads: activeReads) }
        struct Iterator: AsyncIteratorProtocol {
            var base: Base.Inbound.AsyncIterator
            let activeReads: Locked<Int>
            mutating func next() async throws -> [UInt8]? {
                activeReads.withLock { $0 += 1 }
                defer { activeReads.withLock { $0 -= 1 } }
                return try await base.next()
            }
        }
    }

    var inbound: Inbound { Inbound(base: base.inbound, activeReads: activeReads) }

    func write(_ bytes: [UInt8]) async throws {
        writes.withLock { $0 += 1 }
        try await base.write(bytes)
    }

    func close() async { await base.close() }
}
