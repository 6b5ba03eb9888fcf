import Hypercore
import HypercoreProtocol
import KappaTesting

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
    streamOptions: SecretStream.Options = .init(keepAliveInterval: nil, idleTimeout: .seconds(30))
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
