import Foundation
import Synchronization
import Testing
import Hypercore
import HypercoreProtocol
import KappaTesting
@testable import KappaCore

/// Two databases replicate over one in-process connection: the `kappa/feeds` exchange, then the feeds.
@Suite(.timeLimit(.minutes(3))) struct KappaReplicationTests {
    static let sharedKey = try! Bytes32([UInt8](repeating: 7, count: 32))

    static func database(sharedKey: Bytes32 = sharedKey, options: KappaOptions = KappaOptions()) async throws
        -> (Kappa<Int>, SumView)
    {
        var options = options
        options.sharedKey = sharedKey
        let core = try await Kappa<Int>(storage: .memory, options: options)
        let sum = SumView()
        try await core.use("sum", sum)
        return (core, sum)
    }

    /// Replicates `a` (initiator) with `b` over an in-process pair; each side's result.
    static func replicate(_ a: Kappa<Int>, _ b: Kappa<Int>, live: Bool = false)
        async -> (Result<ReplicationSummary, any Error>, Result<ReplicationSummary, any Error>)
    {
        let (left, right) = InProcessStream.pair()
        async let l = result { try await a.replicate(over: left, isInitiator: true, live: live) }
        async let r = result { try await b.replicate(over: right, isInitiator: false, live: live) }
        return await (l, r)
    }

    static func result<T>(_ body: () async throws -> T) async -> Result<T, any Error> {
        do { return .success(try await body()) } catch { return .failure(error) }
    }

    static func received(_ summary: ReplicationSummary) -> Int { summary.feeds.reduce(0) { $0 + $1.blocksReceived } }

    @Test func twoDatabasesEndWithAllFeedsAndTheirViewsSeeEverything() async throws {
        let (a, sumA) = try await Self.database()
        let (b, sumB) = try await Self.database()
        let a1 = try await a.writer("one")
        let a2 = try await a.writer("two")
        let b1 = try await b.writer("one")
        try await a1.append(contentsOf: Array(1...100))
        try await a2.append(contentsOf: Array(repeating: 1000, count: 20))
        try await b1.append(contentsOf: Array(repeating: 5, count: 50))
        let total = (1...100).reduce(0, +) + 20 * 1000 + 50 * 5

        let (left, right) = await Self.replicate(a, b)
        let summaryA = try left.get()
        let summaryB = try right.get()
        #expect(Self.received(summaryA) == 50)
        #expect(Self.received(summaryB) == 120)
        #expect(summaryA.feeds.allSatisfy(\.isComplete) && summaryB.feeds.allSatisfy(\.isComplete))

        let keys = Set([a1.key, a2.key, b1.key])
        #expect(Set(await a.feeds().map(\.key)) == keys)
        #expect(Set(await b.feeds().map(\.key)) == keys)
        try await a.ready()
        try await b.ready()
        #expect(try sumA.value == total && sumB.value == total)
        #expect(try sumA.count == 170 && sumB.count == 170)

        // Writer names resolve to local feeds only; a remote feed is read-only.
        #expect(await a.writerNames() == ["one", "two"])
        #expect(await b.writerNames() == ["one"])
        #expect(try await b.writer("one").key == b1.key)
        #expect(try await a.writer("one").key == a1.key)
        let bTwo = try await b.writer("two")
        #expect(bTwo.key != a2.key)
        #expect(await b.feed(a1.key)?.writable == false)
        try await a.close()
        try await b.close()
    }

    @Test func replicatingAgainTransfersOnlyWhatIsNew() async throws {
        let (a, sumA) = try await Self.database()
        let (b, sumB) = try await Self.database()
        let a1 = try await a.writer("a")
        let b1 = try await b.writer("b")
        try await a1.append(contentsOf: Array(repeating: 1, count: 30))
        try await b1.append(contentsOf: Array(repeating: 2, count: 40))
        let first = await Self.replicate(a, b)
        _ = try (first.0.get(), first.1.get())

        try await a1.append(contentsOf: Array(repeating: 10, count: 5))
        try await b1.append(contentsOf: Array(repeating: 20, count: 7))
        let (left, right) = await Self.replicate(a, b)
        #expect(Self.received(try left.get()) == 7)
        #expect(Self.received(try right.get()) == 5)
        try await a.ready()
        try await b.ready()
        let total = 30 + 80 + 50 + 140
        #expect(try sumA.value == total && sumB.value == total)
        #expect(try sumA.count == 82 && sumB.count == 82)

        // Nothing new: nothing moves, and the views stay as they are.
        let (again, againB) = await Self.replicate(a, b)
        #expect(try Self.received(again.get()) == 0)
        #expect(try Self.received(againB.get()) == 0)
        #expect(await a.feeds().count == 2)
        #expect(await b.feeds().count == 2)
        try await a.close()
        try await b.close()
    }

    @Test func twoEmptyDatabasesReplicate() async throws {
        let (a, _) = try await Self.database()
        let (b, _) = try await Self.database()
        let (left, right) = await Self.replicate(a, b)
        #expect(try left.get().feeds.isEmpty && right.get().feeds.isEmpty)
        try await a.close()
        try await b.close()
    }

    @Test func aDatabaseWithAnotherSharedKeyLearnsNoFeed() async throws {
        let (a, sumA) = try await Self.database()
        let (b, sumB) = try await Self.database(sharedKey: Bytes32([UInt8](repeating: 8, count: 32)))
        let a1 = try await a.writer("a")
        try await a1.append(contentsOf: [1, 2, 3])
        let b1 = try await b.writer("b")
        try await b1.append(4)

        let (left, right) = await Self.replicate(a, b)
        for result in [left, right] {
            #expect(throws: ReplicationError.self) { try result.get() }
            if case .failure(let error as ReplicationError) = result { #expect(error.code == .channelRejected) }
        }
        #expect(await a.feeds().map(\.key) == [a1.key])
        #expect(await b.feeds().map(\.key) == [b1.key])

        // Both keep working.
        try await a1.append(10)
        try await b1.append(20)
        try await a.ready()
        try await b.ready()
        #expect(try sumA.value == 16 && sumB.value == 24)
        try await a.close()
        try await b.close()
    }

    @Test func aPeerOfferingTooManyFeedsEndsTheSessionAndTheDatabaseKeepsWorking() async throws {
        let (a, _) = try await Self.database()
        let (b, sumB) = try await Self.database(options: KappaOptions(maxFeedsFromPeer: 1))
        for name in ["x", "y"] { try await a.writer(name).append(1) }
        let b1 = try await b.writer("b")
        try await b1.append(5)

        let (_, right) = await Self.replicate(a, b)
        #expect(throws: KappaError.self) { try right.get() }
        if case .failure(let error as KappaError) = right { #expect(error.code == .tooManyFeeds) }
        #expect(await b.feeds().map(\.key) == [b1.key])
        try await b1.append(6)
        try await b.ready()
        #expect(try sumB.value == 11)
        try await a.close()
        try await b.close()
    }

    @Test func closingTheDatabaseEndsALiveSession() async throws {
        let (a, _) = try await Self.database()
        let (b, sumB) = try await Self.database()
        let a1 = try await a.writer("a")
        try await a1.append(contentsOf: [1, 2, 3])
        let (left, right) = InProcessStream.pair()
        let sideA = Task { try await a.replicate(over: left, isInitiator: true, live: true) }
        let sideB = Task { try await b.replicate(over: right, isInitiator: false, live: true) }
        // Live: an append after the feed was learned still arrives.
        while await b.feed(a1.key) == nil { try await Task.sleep(for: .milliseconds(10)) }
        try await a1.append(4)
        while await b.feed(a1.key)?.contiguousLength != 4 { try await Task.sleep(for: .milliseconds(10)) }
        try await b.ready()
        #expect(try sumB.value == 10)

        try await a.close()
        _ = await sideA.result
        #expect(a.sessions.count == 0)
        // The peer's connection ended with it.
        _ = await sideB.result
        #expect(b.sessions.count == 0)
        try await b.close()
    }

    @Test func cancellingTheCallerEndsTheSession() async throws {
        let (a, _) = try await Self.database()
        let (b, _) = try await Self.database()
        try await a.writer("a").append(1)
        let (left, right) = InProcessStream.pair()
        let sideA = Task { try await a.replicate(over: left, isInitiator: true, live: true) }
        let sideB = Task { try await b.replicate(over: right, isInitiator: false, live: true) }
        while await b.feeds().isEmpty { try await Task.sleep(for: .milliseconds(10)) }
        sideB.cancel()
        _ = await sideB.result
        _ = await sideA.result
        #expect(a.sessions.count == 0 && b.sessions.count == 0)
        try await a.close()
        try await b.close()
    }

    @Test func theSharedKeyAndIdentityPersist() async throws {
        try await withTemporaryDirectory { dir in
            let path = dir.path
            let (sharedKey, identity) = try await Kappa<Int>.withCore(at: path) { core in
                (core.sharedKey, core.identityKey)
            }
            try await Kappa<Int>.withCore(at: path, options: KappaOptions(sharedKey: sharedKey)) { core in
                #expect(core.sharedKey == sharedKey && core.identityKey == identity)
            }
            await #expect(throws: KappaError.self) {
                try await Kappa<Int>(path: path, options: KappaOptions(sharedKey: Self.sharedKey))
            }
        }
        let a = try await Kappa<Int>(storage: .memory)
        let b = try await Kappa<Int>(storage: .memory)
        #expect(a.sharedKey != b.sharedKey && a.identityKey != b.identityKey)
        try await a.close()
        try await b.close()
    }

    @Test func feedsTravelThroughAThirdDatabase() async throws {
        let (a, _) = try await Self.database()
        let (b, _) = try await Self.database()
        let (c, sumC) = try await Self.database()
        try await a.writer("a").append(contentsOf: [1, 2, 3])
        try await b.writer("b").append(10)
        try await c.writer("c").append(100)
        _ = try await Self.replicate(a, b).0.get()
        let (bc, cb) = await Self.replicate(b, c)
        _ = try (bc.get(), cb.get())
        #expect(await c.feeds().count == 3)
        try await c.ready()
        #expect(try sumC.value == 116)
        try await a.close()
        try await b.close()
        try await c.close()
    }

    @Test func aSessionCutMidWayEndsWithAnErrorAndTheNextOneCompletesWithoutDuplicates() async throws {
        let (a, _) = try await Self.database()
        let (b, sumB) = try await Self.database()
        let a1 = try await a.writer("a")
        try await a1.append(contentsOf: Array(repeating: 1, count: 2_000))
        let (left, right) = InProcessStream.pair(faults: (.init(cutAfter: 20_000), .none))
        async let l = Self.result { try await a.replicate(over: left, isInitiator: true) }
        async let r = Self.result { try await b.replicate(over: right, isInitiator: false) }
        let (_, cut) = await (l, r)
        #expect(throws: (any Error).self) { try cut.get() }
        let partial = await b.feed(a1.key)?.contiguousLength ?? 0
        #expect(partial < 2_000)

        let (_, resumed) = await Self.replicate(a, b)
        #expect(Self.received(try resumed.get()) == 2_000 - Int(partial))
        try await b.ready()
        #expect(try sumB.value == 2_000 && sumB.count == 2_000)
        try await a.close()
        try await b.close()
    }

    @Test func replicatedFeedsAndViewsPersistOnDisk() async throws {
        try await withTemporaryDirectory { dirA in
            try await withTemporaryDirectory { dirB in
                let options = KappaOptions(sharedKey: Self.sharedKey)
                let a = try await Kappa<Int>(path: dirA.path, options: options)
                let b = try await Kappa<Int>(path: dirB.path, options: options)
                let sumB = SumView()
                try await b.use("sum", sumB)
                let a1 = try await a.writer("a")
                try await a1.append(contentsOf: [5, 6, 7])
                try await b.writer("b").append(1)
                let (l, r) = await Self.replicate(a, b)
                _ = try (l.get(), r.get())
                try await b.ready()
                #expect(try sumB.value == 19)
                try await a.close()
                try await b.close()

                try await Kappa<Int>.withCore(at: dirB.path) { reopened in
                    #expect(await reopened.feeds().count == 2)
                    #expect(await reopened.feed(a1.key)?.contiguousLength == 3)
                    #expect(await reopened.writerNames() == ["b"])
                    let sum = SumView()
                    try await reopened.use("sum", sum)
                    try await reopened.ready()
                    #expect(try sum.value == 19)
                }
            }
        }
    }

    @Test func invalidFeedKeysAreRefused() {
        #expect(!FeedExchange.isValidKey(.zero))
        #expect(FeedExchange.isValidKey(KeyPair.random().publicKey))
    }
}

/// The `kappa/feeds` handler alone: the capability and the checks on each message.
@Suite(.timeLimit(.minutes(1))) struct FeedExchangeTests {
    /// Counts what the exchange asked of its database.
    final class Calls: Sendable {
        let state = Mutex<(listed: Int, added: [PublicKey])>((0, []))
    }

    static let hash = [UInt8](repeating: 3, count: 64)
    static let initiator = SessionConnection(isInitiator: true, handshakeHash: hash)
    static let responder = SessionConnection(isInitiator: false, handshakeHash: hash)

    static func exchange(sharedKey: Bytes32 = KappaReplicationTests.sharedKey, feeds: [Feed] = [], calls: Calls = Calls(),
                         maxFeedsPerMessage: Int = 16) -> FeedExchange {
        FeedExchange(sharedKey: sharedKey, live: false, maxFeedsPerMessage: maxFeedsPerMessage, maxFeedsFromPeer: 64,
                     database: .init(
                        feeds: { calls.state.withLock { $0.listed += 1 }; return feeds },
                        feed: { key in feeds.first { $0.key == key } },
                        addRemote: { key in
                            calls.state.withLock { $0.added.append(key) }
                            return try Feed.replica(key: key)
                        },
                        membership: ChangeSignal()))
    }

    static func have(_ keys: [PublicKey], count: Int? = nil) -> [UInt8] {
        var e = CompactEncoder()
        e.uint(count ?? keys.count)
        for key in keys { e.fixed32(key); e.uint(UInt64(1)) }
        return e.bytes
    }

    static func sent(_ actions: [SessionChannelAction]) -> [UInt64] {
        actions.compactMap { if case .send(let type, _) = $0 { type } else { nil } }
    }

    @Test func aPeerThatProvesTheSharedKeyGetsTheOfferAndOneThatDoesNotGetsNothing() async throws {
        let feed = try Feed.create()
        let calls = Calls()
        let local = Self.exchange(feeds: [feed], calls: calls)
        let peer = Self.exchange()
        let proof = await peer.openHandshake(Self.initiator)
        let actions = try await local.opened(remoteHandshake: proof, Self.responder)
        #expect(Self.sent(actions) == [FeedExchange.MessageType.have.rawValue])

        let strangerCalls = Calls()
        let guarded = Self.exchange(feeds: [feed], calls: strangerCalls)
        let stranger = Self.exchange(sharedKey: try Bytes32([UInt8](repeating: 9, count: 32)))
        let forged = await stranger.openHandshake(Self.initiator)
        await #expect { _ = try await guarded.opened(remoteHandshake: forged, Self.responder) } throws: { error in
            (error as? ReplicationError)?.code == .invalidCapability
        }
        // The capability of the wrong role does not pass either.
        let ownRole = await peer.openHandshake(Self.responder)
        await #expect(throws: ReplicationError.self) { _ = try await guarded.opened(remoteHandshake: ownRole, Self.responder) }
        #expect(strangerCalls.state.withLock { $0.listed } == 0)
        #expect(calls.state.withLock { $0.listed } == 1)
    }

    @Test func malformedAndExcessiveMessagesEndTheExchangeAndAddNothing() async throws {
        let calls = Calls()
        let exchange = Self.exchange(calls: calls, maxFeedsPerMessage: 2)
        _ = try await exchange.opened(remoteHandshake: await Self.exchange().openHandshake(Self.initiator), Self.responder)
        let good = KeyPair.random().publicKey
        let have = FeedExchange.MessageType.have.rawValue
        // An invalid key (not a curve point) among valid ones.
        await #expect { _ = try await exchange.received(type: have, payload: Self.have([good, .zero])) } throws: { error in
            (error as? ReplicationError)?.code == .malformedMessage
        }
        // More keys than a message may hold, whatever follows.
        await #expect { _ = try await exchange.received(type: have, payload: Self.have([], count: 3)) } throws: { error in
            (error as? KappaError)?.code == .tooManyFeeds
        }
        // Truncated.
        await #expect(throws: ReplicationError.self) {
            _ = try await exchange.received(type: have, payload: Array(Self.have([good]).dropLast(2)))
        }
        // A want for a feed never offered, and a done counting haves never sent.
        var want = CompactEncoder()
        want.uint(1)
        want.fixed32(good)
        await #expect { _ = try await exchange.received(type: FeedExchange.MessageType.want.rawValue, payload: want.bytes) } throws: { error in
            (error as? ReplicationError)?.code == .protocolViolation
        }
        await #expect(throws: ReplicationError.self) {
            _ = try await exchange.received(type: FeedExchange.MessageType.done.rawValue, payload: [5])
        }
        #expect(calls.state.withLock { $0.added }.isEmpty)
        // A well-formed offer is taken: the feed is added and asked for.
        let actions = try await exchange.received(type: have, payload: Self.have([good]))
        #expect(Self.sent(actions) == [FeedExchange.MessageType.want.rawValue])
        #expect(calls.state.withLock { $0.added } == [good])
    }
}
