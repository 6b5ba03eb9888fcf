import Hypercore
import HypercoreProtocol
import KappaTesting
import Synchronization

/// Block `i` of the test feeds: `u32be(i)` and some letters, as the interop peer builds its blocks.
func testBlock(_ i: Int, size: Int = 64) -> [UInt8] {
    var block: [UInt8] = [UInt8(truncatingIfNeeded: i >> 24), UInt8(truncatingIfNeeded: i >> 16),
                          UInt8(truncatingIfNeeded: i >> 8), UInt8(truncatingIfNeeded: i)]
    block += [UInt8](repeating: 0x61 + UInt8(i % 26), count: max(0, size - 4))
    return Array(block.prefix(size))
}

/// A writable feed in memory holding blocks `0..<count`.
func makeWriter(count: Int, size: Int = 64) async throws -> Feed {
    let feed = try Feed.create()
    var i = 0
    while i < count {
        let n = min(1_000, count - i)
        _ = try await feed.append(contentsOf: (i..<(i + n)).map { testBlock($0, size: size) })
        i += n
    }
    return feed
}

/// The result of one side of a session: its summary, or the error that ended it.
typealias SessionResult = Result<ReplicationSummary, any Error>

/// Runs two sessions against each other over an in-process connection (with optional faults): the initiator
/// replicates `left`, the responder `right`. `body`s run with each session before `run()` (to add feeds later,
/// or to cancel).
func replicatePair(
    _ left: [(Feed, ReplicationMode)], _ right: [(Feed, ReplicationMode)],
    options: ReplicationSession.Options = .init(),
    faults: (InProcessStream.Faults, InProcessStream.Faults) = (.none, .none),
    streamOptions: SecretStream.Options = .init(keepAliveInterval: nil, idleTimeout: .seconds(120))
) async -> (left: SessionResult, right: SessionResult) {
    let (a, b) = InProcessStream.pair(faults: faults)
    async let l = runSide(a, isInitiator: true, feeds: left, options: options, streamOptions: streamOptions)
    async let r = runSide(b, isInitiator: false, feeds: right, options: options, streamOptions: streamOptions)
    return await (l, r)
}

func runSide(
    _ transport: some ByteStream, isInitiator: Bool, feeds: [(Feed, ReplicationMode)],
    options: ReplicationSession.Options, streamOptions: SecretStream.Options = .init()
) async -> SessionResult {
    do {
        return .success(try await SecretStream.withSecretStream(
            over: transport, isInitiator: isInitiator, identity: .random(), options: streamOptions
        ) { stream in
            let session = ReplicationSession(stream: stream, options: options)
            for (feed, mode) in feeds { try await session.add(feed, mode: mode) }
            return try await session.run()
        })
    } catch {
        return .failure(error)
    }
}

/// All blocks of `feed` below its length, in order (throws for a missing one).
func allBlocks(_ feed: Feed) async throws -> [[UInt8]] {
    let length = await feed.length
    return try await feed.getBatch(from: 0, limit: Int(length))
}

/// A message transport without encryption, for tests of the replicator alone: a pair of in-process message
/// queues. `record` keeps every message one side sent.
final class PlainMessageTransport: MessageTransport {
    let isInitiator: Bool
    let handshakeHash: [UInt8]
    let messages: AsyncThrowingStream<[UInt8], any Error>
    private let outbound: AsyncThrowingStream<[UInt8], any Error>.Continuation
    private let inbound: AsyncThrowingStream<[UInt8], any Error>.Continuation
    private let sent = Mutex<[[UInt8]]>([])

    /// Every message this side sent.
    var recorded: [[UInt8]] { sent.withLock { $0 } }

    private init(isInitiator: Bool, handshakeHash: [UInt8],
                 messages: (AsyncThrowingStream<[UInt8], any Error>, AsyncThrowingStream<[UInt8], any Error>.Continuation),
                 outbound: AsyncThrowingStream<[UInt8], any Error>.Continuation) {
        self.isInitiator = isInitiator
        self.handshakeHash = handshakeHash
        self.messages = messages.0
        self.inbound = messages.1
        self.outbound = outbound
    }

    /// A connected pair; the hashes may differ to test capability checks.
    static func pair(hashes: ([UInt8], [UInt8]) = ([UInt8](repeating: 7, count: 64), [UInt8](repeating: 7, count: 64)))
        -> (PlainMessageTransport, PlainMessageTransport) {
        let toA = AsyncThrowingStream.makeStream(of: [UInt8].self)
        let toB = AsyncThrowingStream.makeStream(of: [UInt8].self)
        let a = PlainMessageTransport(isInitiator: true, handshakeHash: hashes.0, messages: toA, outbound: toB.continuation)
        let b = PlainMessageTransport(isInitiator: false, handshakeHash: hashes.1, messages: toB, outbound: toA.continuation)
        return (a, b)
    }

    func send(contentsOf messages: [[UInt8]]) async throws {
        sent.withLock { $0 += messages }
        for message in messages { outbound.yield(message) }
    }

    func close() async {
        outbound.finish()
        inbound.finish()
    }
}

/// A transport that replays recorded messages from a peer (possibly tampered) and drops what is sent.
struct ReplayTransport: MessageTransport {
    let isInitiator: Bool
    let handshakeHash: [UInt8]
    let messages: AsyncThrowingStream<[UInt8], any Error>

    init(isInitiator: Bool, handshakeHash: [UInt8], replaying recorded: [[UInt8]]) {
        self.isInitiator = isInitiator
        self.handshakeHash = handshakeHash
        let (stream, continuation) = AsyncThrowingStream.makeStream(of: [UInt8].self)
        for message in recorded { continuation.yield(message) }
        continuation.finish()
        messages = stream
    }

    func send(contentsOf messages: [[UInt8]]) async throws {}
    func close() async {}
}

