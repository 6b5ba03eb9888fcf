import Glibc
import Hypercore
import HypercoreProtocol
import KappaTesting
import Synchronization

// Support for `ReplicationTamperTests`: recorded sessions, a replay transport that keeps what the session
// answered, seeded damage, and the checks that bad input left the feeds unharmed.

// MARK: Transports

/// Replays recorded messages from a peer (possibly tampered), then ends; keeps every message the session sent.
final class AnsweringReplayTransport: MessageTransport {
    let isInitiator: Bool
    let handshakeHash: [UInt8]
    let messages: AsyncThrowingStream<[UInt8], any Error>
    private let sent = Mutex<[[UInt8]]>([])

    /// Every message the session sent.
    var recorded: [[UInt8]] { sent.withLock { $0 } }

    init(isInitiator: Bool, handshakeHash: [UInt8] = TamperFixture.handshakeHash, replaying recorded: [[UInt8]]) {
        self.isInitiator = isInitiator
        self.handshakeHash = handshakeHash
        let (stream, continuation) = AsyncThrowingStream.makeStream(of: [UInt8].self)
        for message in recorded { continuation.yield(message) }
        continuation.finish()
        messages = stream
    }

    func send(contentsOf messages: [[UInt8]]) async throws {
        sent.withLock { $0 += messages }
    }

    func close() async {}
}

// MARK: Scenarios and the fixture

/// A recorded session: a writer of ``TamperFixture/blockCount`` blocks serving a replica.
enum TamperScenario: String, CaseIterable, Sendable, CustomStringConvertible {
    /// A fresh replica downloads the whole feed (the writer connects).
    case fullDownload
    /// A replica holding the first ``TamperFixture/resyncLength`` blocks catches up (the replica connects).
    case incrementalResync
    /// A fresh sparse replica fetches the one block a reader waits for (the writer connects).
    case sparseGet

    var description: String { rawValue }

    /// True when the replica's side started the handshake.
    var replicaIsInitiator: Bool { self == .incrementalResync }
    var mode: ReplicationMode { self == .sparseGet ? .sparse : .full }
    /// The block a sparse replica waits for.
    var wantedBlock: UInt64? { self == .sparseGet ? 13 : nil }
    /// Mixed into the seed of each case so that scenarios draw different damage.
    var salt: UInt64 {
        switch self {
        case .fullDownload: 0x0F00
        case .incrementalResync: 0x5E5E
        case .sparseGet: 0x5BA5
        }
    }
}

/// What one recorded session sent each way.
struct TamperRecording: Sendable {
    /// The frames the serving writer sent (what the downloading replica receives).
    var served: [[UInt8]]
    /// The frames the downloading replica sent (what the writer receives).
    var requests: [[UInt8]]
}

/// Session options for replays: the reader hands the session one message per pass, so a replayed frame is
/// handled after the session answered the previous one, in the order of the recording.
let lockstepOptions = ReplicationSession.Options(maxQueuedBytes: 1)

/// The writer, the reference tree hashes and the recorded sessions, built once per test process.
struct TamperFixture: Sendable {
    static let blockCount = 20
    static let resyncLength = 12
    static let handshakeHash = [UInt8](repeating: 7, count: 64)
    /// Generous: a session ends in milliseconds, but this machine is shared and loaded.
    static let deadline: Duration = .seconds(30)
    /// In memory, without flushes: the cases test the replicator, not durability.
    static let feedOptions = FeedOptions(durability: .relaxed)

    /// Built on first use.
    static let shared = Task<TamperFixture, any Error> { try await TamperFixture() }

    /// The writer of blocks `testBlock(0..<blockCount)` under a fixed key pair.
    let writer: Feed
    /// The writer's tree hash at each length `0...blockCount`.
    let treeHashes: [Bytes32]
    /// `testBlock(i)` for each block.
    let blocks: [[UInt8]]
    /// Proofs that bring a fresh replica to the first ``resyncLength`` blocks (applied in one batch).
    let resyncProofs: [Proof]
    let recordings: [TamperScenario: TamperRecording]

    private init() async throws {
        let keyPair = try KeyPair.fromSeed([UInt8](repeating: 0x4B, count: 32))
        writer = try Feed.create(storage: ZeroFillMemoryDirectory(), keyPair: keyPair, options: Self.feedOptions)
        blocks = (0..<Self.blockCount).map { testBlock($0) }
        var hashes = [await writer.treeHash]
        let short = try Feed.create(storage: ZeroFillMemoryDirectory(), keyPair: keyPair, options: Self.feedOptions)
        for i in 0..<Self.blockCount {
            _ = try await writer.append(blocks[i])
            hashes.append(await writer.treeHash)
            if i < Self.resyncLength { _ = try await short.append(blocks[i]) }
        }
        treeHashes = hashes

        // A replica of the short writer, block by block, each proof asking for the nodes it lacks.
        let scratch = try Feed.replica(key: writer.key, storage: ZeroFillMemoryDirectory(), options: Self.feedOptions)
        var proofs = [
            try await short.proof(for: ProofRequest(upgrade: .init(start: 0, length: UInt64(Self.resyncLength))))
        ]
        try await scratch.receive(proofs[0])
        for i in 0..<UInt64(Self.resyncLength) {
            let nodes = try await scratch.missingNodes(2 * i)
            let proof = try await short.proof(for: ProofRequest(block: .init(index: i, nodes: nodes)))
            try await scratch.receive(proof)
            proofs.append(proof)
        }
        resyncProofs = proofs

        var recordings: [TamperScenario: TamperRecording] = [:]
        for scenario in TamperScenario.allCases {
            recordings[scenario] = try await Self.record(scenario, writer: writer, resyncProofs: proofs)
        }
        self.recordings = recordings
    }

    /// A replica in the state `scenario` starts from.
    func makeReplica(_ scenario: TamperScenario) async throws -> Feed {
        try await Self.makeReplica(scenario, key: writer.key, resyncProofs: resyncProofs)
    }

    private static func makeReplica(_ scenario: TamperScenario, key: PublicKey, resyncProofs: [Proof]) async throws
        -> Feed
    {
        let replica = try Feed.replica(key: key, storage: ZeroFillMemoryDirectory(), options: feedOptions)
        if scenario == .incrementalResync { try await replica.receive(contentsOf: resyncProofs) }
        return replica
    }

    /// Records `scenario` again (the recordings are deterministic: this gives the same bytes).
    func record(_ scenario: TamperScenario) async throws -> TamperRecording {
        try await Self.record(scenario, writer: writer, resyncProofs: resyncProofs)
    }

    /// Runs a clean session of `scenario` over a plain message pipe and keeps what each side sent.
    private static func record(_ scenario: TamperScenario, writer: Feed, resyncProofs: [Proof]) async throws
        -> TamperRecording
    {
        let replica = try await makeReplica(scenario, key: writer.key, resyncProofs: resyncProofs)
        let (a, b) = PlainMessageTransport.pair(hashes: (handshakeHash, handshakeHash))
        let (replicaSide, writerSide) = scenario.replicaIsInitiator ? (a, b) : (b, a)
        let writerSession = ReplicationSession(transport: writerSide, options: lockstepOptions)
        try await writerSession.add(writer)
        async let served = Result { try await writerSession.run() }
        let received = await runReplicaSession(
            replica, scenario: scenario, transport: replicaSide, options: lockstepOptions)
        guard case .success(let summary) = received, summary.feeds.first?.isComplete == true,
            case .success = await served
        else {
            throw TamperFailure("recording \(scenario) did not complete: \(String(describing: received))")
        }
        return TamperRecording(served: writerSide.recorded, requests: replicaSide.recorded)
    }
}

struct TamperFailure: Error, CustomStringConvertible {
    var description: String
    init(_ description: String) { self.description = description }
}

// MARK: Running sessions

/// Runs `body`, giving up after `limit` (the task is cancelled; `nil` means it did not end in time).
func withDeadline<T: Sendable>(_ limit: Duration, _ body: @escaping @Sendable () async -> T) async -> T? {
    await withTaskGroup(of: T?.self) { group in
        group.addTask { await body() }
        group.addTask {
            try? await Task.sleep(for: limit)
            return nil
        }
        let first = await group.next() ?? nil
        group.cancelAll()
        return first
    }
}

/// Runs a session replicating `replica` over `transport` as `scenario` does (a sparse replica wants its block for
/// the whole session), or in `mode` without wants. `nil` when it did not end in time.
func runReplicaSession(
    _ replica: Feed, scenario: TamperScenario, mode: ReplicationMode? = nil, transport: some MessageTransport,
    options: ReplicationSession.Options
) async -> SessionResult? {
    // The want `get(block)` registers, held for the whole session: a real `get` drops it when the block arrives,
    // racing the session's next `sync` (whose `downloading` flag follows the wants), which would make the
    // recording differ from run to run.
    let want = scenario.wantedBlock.flatMap { block in mode == nil ? replica.wants.add(block..<(block + 1)) : nil }
    defer { want.map(replica.wants.remove) }
    let session = ReplicationSession(transport: transport, options: options)
    let result = await withDeadline(TamperFixture.deadline) {
        await Result {
            try await session.add(replica, mode: mode ?? scenario.mode)
            return try await session.run()
        }
    }
    return result
}

/// Runs a session serving `writer` over `transport`. `nil` when it did not end in time.
func runWriterSession(_ writer: Feed, transport: some MessageTransport, options: ReplicationSession.Options) async
    -> SessionResult?
{
    let session = ReplicationSession(transport: transport, options: options)
    return await withDeadline(TamperFixture.deadline) {
        await Result {
            try await session.add(writer)
            return try await session.run()
        }
    }
}

/// What is wrong with how a session ended: nothing when it ended normally or with a ``ReplicationError``.
func endingProblems(_ result: SessionResult?) -> [String] {
    switch result {
    case nil: ["the session did not end within \(TamperFixture.deadline)"]
    case .success: []
    case .failure(let error as ReplicationError): error.code == .closed ? ["ended as closed: \(error)"] : []
    case .failure(let error): ["ended with \(type(of: error)), not a ReplicationError: \(error)"]
    }
}

// MARK: Checks

extension TamperFixture {
    /// What is wrong with `replica` after a session: a block that differs from the writer's, a tree that is not
    /// the writer's at its length, a claim left behind.
    func replicaProblems(_ replica: Feed) async -> [String] {
        var problems: [String] = []
        let length = await replica.length
        let contiguous = await replica.contiguousLength
        guard length <= UInt64(Self.blockCount), await replica.fork == 0 else {
            return ["length \(length), fork \(await replica.fork): beyond the writer's"]
        }
        if await replica.treeHash != treeHashes[Int(length)] {
            problems.append("tree hash at length \(length) is not the writer's")
        }
        if contiguous > length { problems.append("contiguous length \(contiguous) beyond length \(length)") }
        for i in 0..<length where await replica.has(i) {
            do {
                if try await replica.get(i) != blocks[Int(i)] {
                    problems.append("block \(i) differs from the writer's")
                }
            } catch {
                problems.append("block \(i) is marked held but does not read: \(error)")
            }
        }
        for i in 0..<contiguous where !(await replica.has(i)) {
            problems.append("block \(i) below contiguous is missing")
        }
        let claimed = (0..<UInt64(Self.blockCount)).filter { replica.claims.isClaimed($0) }
        if !claimed.isEmpty { problems.append("blocks \(claimed) are still claimed after the session ended") }
        return problems
    }

    /// What is wrong with the writer: anything changed.
    func writerProblems() async -> [String] {
        var problems: [String] = []
        if await writer.length != UInt64(Self.blockCount) { problems.append("writer length \(await writer.length)") }
        if await writer.treeHash != treeHashes[Self.blockCount] { problems.append("writer tree hash changed") }
        if await writer.fork != 0 { problems.append("writer fork \(await writer.fork)") }
        if (try? await allBlocks(writer)) != blocks { problems.append("writer blocks changed") }
        return problems
    }

    /// Runs a clean session with `replica` after a damaged one of `scenario`; it must end complete.
    ///
    /// When the damaged session stored nothing, the replica is in the recording's starting state and the clean
    /// recording is replayed to it (the cheaper clean session); otherwise, or without a scenario, the writer
    /// serves it a full download live.
    func cleanSessionProblems(_ replica: Feed, after scenario: TamperScenario?) async -> [String] {
        if let scenario, await isInStartingState(replica, of: scenario), let recording = recordings[scenario] {
            let transport = AnsweringReplayTransport(
                isInitiator: scenario.replicaIsInitiator, replaying: recording.served)
            let received = await runReplicaSession(
                replica, scenario: scenario, transport: transport, options: lockstepOptions)
            var problems: [String] = []
            switch received {
            case .success(let summary)?:
                if summary.feeds.first?.isComplete != true { problems.append("clean replay ended incomplete") }
            default:
                problems.append("clean replay: \(received.map { "\($0)" } ?? "did not end")")
            }
            let expected = scenario.wantedBlock.map { $0 + 1 } ?? UInt64(Self.blockCount)
            let (length, holdsLast) = (await replica.length, await replica.has(expected - 1))
            if length != UInt64(Self.blockCount) || !holdsLast {
                problems.append(
                    "after a clean replay the replica has length \(length), block \(expected - 1): \(holdsLast)")
            }
            return problems + (await replicaProblems(replica)).map { "after a clean replay: \($0)" }
        }
        let (a, b) = PlainMessageTransport.pair(hashes: (Self.handshakeHash, Self.handshakeHash))
        async let served = runWriterSession(writer, transport: a, options: .init())
        let received = await runReplicaSession(
            replica, scenario: .fullDownload, mode: .full, transport: b, options: .init())
        var problems = endingProblems(await served).map { "clean session, writer: \($0)" }
        switch received {
        case .success(let summary)?:
            if summary.feeds.first?.isComplete != true { problems.append("clean session ended incomplete") }
        default:
            problems.append("clean session, replica: \(received.map { "\($0)" } ?? "did not end")")
        }
        if await replica.contiguousLength != UInt64(Self.blockCount) {
            problems.append("after a clean session the replica holds \(await replica.contiguousLength) blocks")
        }
        return problems + (await replicaProblems(replica)).map { "after a clean session: \($0)" }
    }

    /// True when `replica` holds exactly what a replica of `scenario` starts with (the damaged session stored
    /// nothing).
    func isInStartingState(_ replica: Feed, of scenario: TamperScenario) async -> Bool {
        let held = UInt64(scenario == .incrementalResync ? Self.resyncLength : 0)
        guard await replica.length == held, await replica.contiguousLength == held else { return false }
        for i in held..<UInt64(Self.blockCount) where await replica.has(i) { return false }
        return true
    }
}

// MARK: Damage

/// Seeded damage to a recorded session: edits to the bytes of one message, or to the payload of one protomux
/// entry of it (re-framed, so the damage reaches the hypercore message rather than the batch framing), or a
/// message dropped, duplicated or moved.
struct Tamper: CustomStringConvertible {
    enum Edit: CustomStringConvertible {
        case flip(at: Int, bit: Int)
        case set(at: Int, to: UInt8)
        /// The byte at `at` becomes the 9-byte `uint` encoding of `value` (a one-byte `uint` widened in place).
        case bigUInt(at: Int, value: UInt64)
        case truncate(at: Int)
        case insert(at: Int, bytes: [UInt8])
        case delete(at: Int, count: Int)

        var description: String {
            switch self {
            case .flip(let at, let bit): "flip bit \(bit) of byte \(at)"
            case .set(let at, let value): "set byte \(at) to \(value)"
            case .bigUInt(let at, let value): "write uint \(value) over byte \(at)"
            case .truncate(let at): "truncate at \(at)"
            case .insert(let at, let bytes): "insert \(Hex.encode(bytes)) at \(at)"
            case .delete(let at, let count): "delete \(count) bytes at \(at)"
            }
        }

        func apply(to bytes: inout [UInt8]) {
            switch self {
            case .flip(let at, let bit): if at < bytes.count { bytes[at] ^= 1 << UInt8(bit) }
            case .set(let at, let value): if at < bytes.count { bytes[at] = value }
            case .bigUInt(let at, let value):
                let at = Swift.min(at, bytes.count)
                let encoded = [0xFF] + (0..<8).map { UInt8(truncatingIfNeeded: value >> (8 * $0)) }
                bytes.replaceSubrange(at..<Swift.min(at + 1, bytes.count), with: encoded)
            case .truncate(let at): bytes.removeSubrange(Swift.min(at, bytes.count)...)
            case .insert(let at, let inserted): bytes.insert(contentsOf: inserted, at: Swift.min(at, bytes.count))
            case .delete(let at, let count):
                let at = Swift.min(at, bytes.count)
                bytes.removeSubrange(at..<Swift.min(at + count, bytes.count))
            }
        }
    }

    enum Kind {
        /// Edits to the raw bytes of a message (framing included).
        case bytes(message: Int, edits: [Edit])
        /// Edits to the payload of one protomux entry of a message, which is then framed again.
        case entry(message: Int, entry: Int, edits: [Edit])
        case drop(message: Int)
        case duplicate(message: Int)
        /// Swaps the message with the next one.
        case swap(message: Int)
    }

    var kind: Kind

    var description: String {
        switch kind {
        case .bytes(let message, let edits): "message \(message): \(edits.map(\.description).joined(separator: ", "))"
        case .entry(let message, let entry, let edits):
            "message \(message) entry \(entry) payload: \(edits.map(\.description).joined(separator: ", "))"
        case .drop(let message): "drop message \(message)"
        case .duplicate(let message): "duplicate message \(message)"
        case .swap(let message): "swap messages \(message) and \(message + 1)"
        }
    }

    func apply(to messages: [[UInt8]]) -> [[UInt8]] {
        var result = messages
        switch kind {
        case .bytes(let m, let edits): for edit in edits { edit.apply(to: &result[m]) }
        case .entry(let m, let e, let edits):
            guard var entries = try? ProtomuxFrame.entries(of: result[m]), e < entries.count else { break }
            var payload = Array(entries[e].payload)
            for edit in edits { edit.apply(to: &payload) }
            entries[e].payload = payload[...]
            result[m] = Self.frame(entries, batch: entries.count > 1 || Self.isBatch(result[m]))
        case .drop(let m): result.remove(at: m)
        case .duplicate(let m): result.insert(result[m], at: m + 1)
        case .swap(let m): if m + 1 < result.count { result.swapAt(m, m + 1) }
        }
        return result
    }

    static func isBatch(_ frame: [UInt8]) -> Bool { frame.count >= 2 && frame[0] == 0 && frame[1] == 0 }

    /// `entries` as one protomux frame: a batch (spec D.3), or a plain frame for a single entry.
    static func frame(_ entries: [ProtomuxFrame.Entry], batch: Bool) -> [UInt8] {
        var e = CompactEncoder(capacity: 64)
        guard batch, let first = entries.first else {
            if let only = entries.first {
                e.uint(only.channel)
                e.uint(only.type)
                e.raw(only.payload)
            }
            return e.bytes
        }
        e.uint(0)
        e.uint(0)
        e.uint(first.channel)
        var channel = first.channel
        for entry in entries {
            if entry.channel != channel {
                e.uint(0)
                e.uint(entry.channel)
                channel = entry.channel
            }
            e.uint(UInt64(CompactEncoder.uintLength(entry.type) + entry.payload.count))
            e.uint(entry.type)
            e.raw(entry.payload)
        }
        return e.bytes
    }

    /// Values that change a `uint`'s width or sit at its edges.
    static let interestingBytes: [UInt8] = [0x00, 0x01, 0x7F, 0x80, 0xFC, 0xFD, 0xFE, 0xFF]
    /// Values that overflow arithmetic on indexes, lengths and sizes.
    static let bigValues: [UInt64] = [.max, .max - 1, 1 << 63, (1 << 63) - 1, 1 << 62, 1 << 32]

    /// Damage drawn from `rng`: mostly 1–3 edits to one message (chosen by message half the time and by byte the
    /// other half, so small control messages and the large data batches both get hit), to its raw bytes or to
    /// one entry's payload; sometimes a whole message dropped, duplicated or moved.
    static func random(for messages: [[UInt8]], using rng: inout SeededGenerator) -> Tamper {
        precondition(!messages.isEmpty)
        let roll = Int.random(in: 0..<100, using: &rng)
        let uniform = Int.random(in: 0..<messages.count, using: &rng)
        if roll < 5 { return Tamper(kind: .drop(message: uniform)) }
        if roll < 10 { return Tamper(kind: .duplicate(message: uniform)) }
        if roll < 15 { return Tamper(kind: .swap(message: Swift.min(uniform, Swift.max(0, messages.count - 2)))) }
        var message = uniform
        if Bool.random(using: &rng) {
            var byte = Int.random(in: 0..<Swift.max(1, messages.reduce(0) { $0 + $1.count }), using: &rng)
            message = 0
            while message < messages.count - 1, byte >= messages[message].count {
                byte -= messages[message].count
                message += 1
            }
        }
        var entry: Int?
        var count = messages[message].count
        if roll < 60, let entries = try? ProtomuxFrame.entries(of: messages[message]), !entries.isEmpty {
            let e = Int.random(in: 0..<entries.count, using: &rng)
            entry = e
            count = entries[e].payload.count
        }
        var edits: [Edit] = []
        for _ in 0..<Int.random(in: 1...3, using: &rng) {
            let at = Int.random(in: 0..<Swift.max(1, count), using: &rng)
            switch Int.random(in: 0..<100, using: &rng) {
            case 0..<45: edits.append(.flip(at: at, bit: Int.random(in: 0..<8, using: &rng)))
            case 45..<62: edits.append(.set(at: at, to: interestingBytes.randomElement(using: &rng) ?? 0xFF))
            case 62..<72: edits.append(.bigUInt(at: at, value: bigValues.randomElement(using: &rng) ?? .max))
            case 72..<82: edits.append(.truncate(at: at))
            case 82..<92:
                let bytes = (0..<Int.random(in: 1...4, using: &rng)).map { _ in UInt8.random(in: 0...255, using: &rng) }
                edits.append(.insert(at: at, bytes: bytes))
            default: edits.append(.delete(at: at, count: Int.random(in: 1...4, using: &rng)))
            }
        }
        if let entry { return Tamper(kind: .entry(message: message, entry: entry, edits: edits)) }
        return Tamper(kind: .bytes(message: message, edits: edits))
    }
}

/// A short fingerprint of a recording, printed with failures: a case replays the same damage only against the
/// same recording.
func fingerprint(_ messages: [[UInt8]]) -> String {
    var hash: UInt64 = 0xCBF2_9CE4_8422_2325
    for message in messages {
        for byte in message { hash = (hash ^ UInt64(byte)) &* 0x0000_0100_0000_01B3 }
        hash = (hash ^ 0xFF) &* 0x0000_0100_0000_01B3
    }
    return String(hash, radix: 16)
}

// MARK: A scripted peer

/// A peer written message by message: a protomux whose `hypercore/alpha` channel for one feed is already paired,
/// producing the frames a peer would send to a session (for the targeted cases).
struct ScriptedPeer {
    private var mux = Protomux()
    private let channel: Protomux.Channel
    /// The peer's channel open, with a capability that is valid for the session's side of the connection.
    let openFrame: [UInt8]

    /// A peer for `feed`'s channel talking to a session whose `isInitiator` is `sessionIsInitiator`.
    init(feed: Feed, sessionIsInitiator: Bool, handshakeHash: [UInt8] = TamperFixture.handshakeHash) throws {
        let capability = Caps.replicate(isInitiator: !sessionIsInitiator, key: feed.key, handshakeHash: handshakeHash)
        let opened = try mux.openHypercore(
            discoveryKey: feed.discoveryKey, handshake: ChannelHandshake(capability: capability))
        channel = opened.channel
        openFrame = opened.frame ?? []
        var other = Protomux()
        let theirs = try other.openHypercore(
            discoveryKey: feed.discoveryKey, handshake: ChannelHandshake(capability: capability))
        _ = try mux.receive(theirs.frame ?? [])
    }

    /// One frame carrying `messages` (a batch when there are several).
    mutating func frame(_ messages: [HypercoreMessage]) -> [UInt8] {
        mux.cork()
        for message in messages { _ = mux.send(message, on: channel) }
        return mux.uncork().flatMap { $0 }
    }

    /// One frame carrying `message`.
    mutating func frame(_ message: HypercoreMessage) -> [UInt8] { frame([message]) }
}

/// The `hypercore/alpha` messages in `frames` (control messages left out), in order.
func channelMessages(in frames: [[UInt8]]) throws -> [HypercoreMessage] {
    var messages: [HypercoreMessage] = []
    for frame in frames {
        for entry in try ProtomuxFrame.entries(of: frame) where entry.channel != 0 {
            messages.append(try HypercoreMessage.decode(type: entry.type, payload: entry.payload))
        }
    }
    return messages
}

// MARK: Storage

/// In-memory feed storage that grows by doubling and zero-fills with `memset`, for the thousands of fresh
/// replicas the cases need.
///
/// An unoptimised test build pays dearly for zero-filling element by element (`append(contentsOf:
/// repeatElement(0, …))`): ``MemoryDirectory`` does it on every write past the end, and the node store does it
/// for a tree page it creates beyond the end of the `tree` file. So the `tree` file starts as one page of zero
/// bytes, which the node store reads as missing nodes (spec C.2.2), as it would a sparse file.
final class ZeroFillMemoryDirectory: StorageDirectory {
    /// The node store's page: 256 nodes of 40 bytes.
    static let treePageBytes = 256 * 40
    private let files = Mutex<[String: ZeroFillMemoryStorage]>([:])

    func open(_ name: String) throws -> any RandomAccessStorage {
        try files.withLock { files in
            if let existing = files[name] { return existing }
            let storage = ZeroFillMemoryStorage()
            if name == "tree" { try storage.truncate(to: UInt64(Self.treePageBytes)) }
            files[name] = storage
            return storage
        }
    }

    func exists(_ name: String) -> Bool {
        files.withLock { ($0[name].map { $0.count } ?? 0) > 0 }
    }

    var isPersistent: Bool { false }
}

final class ZeroFillMemoryStorage: RandomAccessStorage {
    /// `buffer` is zero beyond `count`.
    private let state = Mutex<(buffer: [UInt8], count: Int)>(([], 0))

    var count: Int { state.withLock { $0.count } }

    func read(into buffer: UnsafeMutableRawBufferPointer, at offset: UInt64) throws -> Int {
        state.withLock { s in
            guard offset < UInt64(s.count) else { return 0 }
            let n = min(buffer.count, s.count - Int(offset))
            s.buffer.withUnsafeBytes { src in
                if n > 0 { buffer.baseAddress!.copyMemory(from: src.baseAddress! + Int(offset), byteCount: n) }
            }
            return n
        }
    }

    func write(_ bytes: UnsafeRawBufferPointer, at offset: UInt64) throws {
        state.withLock { s in
            let end = Int(offset) + bytes.count
            Self.grow(&s, to: end)
            guard bytes.count > 0 else { return }
            s.buffer.withUnsafeMutableBytes { dst in
                (dst.baseAddress! + Int(offset)).copyMemory(from: bytes.baseAddress!, byteCount: bytes.count)
            }
        }
    }

    func truncate(to size: UInt64) throws {
        state.withLock { s in
            let n = Int(size)
            if n < s.count {
                s.buffer.withUnsafeMutableBytes { _ = memset($0.baseAddress! + n, 0, s.count - n) }
                s.count = n
            } else {
                Self.grow(&s, to: n)
            }
        }
    }

    func size() throws -> UInt64 { UInt64(count) }
    func sync() throws {}
    func close() throws {}

    private static func grow(_ s: inout (buffer: [UInt8], count: Int), to end: Int) {
        if end > s.buffer.count {
            let old = s.buffer
            let capacity = max(end, 2 * old.count, 4096)
            s.buffer = [UInt8](unsafeUninitializedCapacity: capacity) { buffer, initialised in
                let raw = UnsafeMutableRawBufferPointer(buffer)
                old.withUnsafeBytes {
                    if !$0.isEmpty { raw.baseAddress!.copyMemory(from: $0.baseAddress!, byteCount: $0.count) }
                }
                _ = memset(raw.baseAddress! + old.count, 0, capacity - old.count)
                initialised = capacity
            }
        }
        s.count = max(s.count, end)
    }
}
