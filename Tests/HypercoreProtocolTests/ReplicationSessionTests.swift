import Foundation
import Hypercore
@testable import HypercoreProtocol
import KappaTesting
import Testing

@Suite(.timeLimit(.minutes(3))) struct ReplicationSessionTests {
    @Test func aReplicaDownloadsAWholeFeedAndBothSessionsEnd() async throws {
        let writer = try await makeWriter(count: 1_000)
        let replica = try Feed.replica(key: writer.key)
        let (left, right) = await replicatePair([(writer, .full)], [(replica, .full)])
        let sent = try left.get()
        let received = try right.get()
        #expect(await replica.length == 1_000)
        #expect(await replica.contiguousLength == 1_000)
        #expect(await replica.treeHash == writer.treeHash)
        #expect(try await allBlocks(replica) == allBlocks(writer))
        #expect(received.feeds.first?.blocksReceived == 1_000)
        #expect(sent.feeds.first?.blocksSent == 1_000)
        #expect(received.feeds.first?.isComplete == true)
    }

    @Test func aResyncDownloadsOnlyWhatIsNew() async throws {
        let writer = try await makeWriter(count: 300)
        let replica = try Feed.replica(key: writer.key)
        _ = try await replicatePair([(writer, .full)], [(replica, .full)]).right.get()
        _ = try await writer.append(contentsOf: (300..<520).map { testBlock($0) })
        // Roles reversed this time: the replica connects.
        let second = await replicatePair([(replica, .full)], [(writer, .full)])
        let summary = try second.left.get()
        #expect(await replica.length == 520)
        #expect(summary.feeds.first?.blocksReceived == 220)
        #expect(try await allBlocks(replica) == allBlocks(writer))
    }

    @Test func emptyFeedsEndAtOnce() async throws {
        let writer = try Feed.create()
        let replica = try Feed.replica(key: writer.key)
        let (left, right) = await replicatePair([(writer, .full)], [(replica, .full)])
        _ = try left.get()
        _ = try right.get()
        #expect(await replica.length == 0)
    }

    @Test func manyFeedsShareOneStream() async throws {
        var writers: [Feed] = []
        var replicas: [Feed] = []
        for i in 0..<(Int(ProcessInfo.processInfo.environment["NFEEDS"] ?? "20") ?? 20) {
            let writer = try await makeWriter(count: 10 + i * 7)
            writers.append(writer)
            replicas.append(try Feed.replica(key: writer.key))
        }
        let (left, right) = await replicatePair(writers.map { ($0, .full) }, replicas.map { ($0, .full) })
        _ = try left.get()
        let summary = try right.get()
        #expect(summary.feeds.count == writers.count)
        for (writer, replica) in zip(writers, replicas) {
            #expect(await replica.length == writer.length)
            #expect(try await allBlocks(replica) == allBlocks(writer))
        }
    }

    @Test func liveSessionsCarryNewAppendsBothWays() async throws {
        let x = try await makeWriter(count: 5)
        let y = try await makeWriter(count: 3)
        let xReplica = try Feed.replica(key: x.key)
        let yReplica = try Feed.replica(key: y.key)
        let (a, b) = InProcessStream.pair()
        let live = ReplicationSession.Options(live: true)
        let left = Task { await runSide(a, isInitiator: true, feeds: [(x, .full), (yReplica, .full)], options: live) }
        let right = Task { await runSide(b, isInitiator: false, feeds: [(xReplica, .full), (y, .full)], options: live) }
        try await xReplica.download(0..<5, timeout: .seconds(120))
        for round in 0..<5 {
            _ = try await x.append(testBlock(100 + round))
            _ = try await y.append(contentsOf: [testBlock(200 + round), testBlock(300 + round)])
            try await xReplica.download(0..<UInt64(6 + round), timeout: .seconds(120))
            try await yReplica.download(0..<UInt64(5 + 2 * round), timeout: .seconds(120))
        }
        #expect(try await allBlocks(xReplica) == allBlocks(x))
        #expect(try await allBlocks(yReplica) == allBlocks(y))
        left.cancel()
        right.cancel()
        let summaries = [try await left.value.get(), try await right.value.get()]
        #expect(summaries[1].feeds[0].blocksReceived == 10)
    }

    @Test func aSparseReplicaFetchesOnlyTheBlocksReadersWaitFor() async throws {
        let writer = try await makeWriter(count: 1_000)
        let replica = try Feed.replica(key: writer.key)
        let (a, b) = InProcessStream.pair()
        let live = ReplicationSession.Options(live: true)
        let left = Task { await runSide(a, isInitiator: true, feeds: [(writer, .full)], options: live) }
        let right = Task { await runSide(b, isInitiator: false, feeds: [(replica, .sparse)], options: live) }
        #expect(try await replica.get(500, timeout: .seconds(120)) == testBlock(500))
        try await replica.download(10..<20, timeout: .seconds(120))
        #expect(await replica.length == 1_000)
        #expect(!(await replica.has(499)))
        #expect(!(await replica.has(0)))
        #expect(await replica.has(15))
        left.cancel()
        right.cancel()
        let summary = try await right.value.get()
        #expect(summary.feeds[0].blocksReceived == 11)
    }

    /// A sparse peer announces only its contiguous prefix; a full replica asks with `want` and learns the rest
    /// from its `bitfield` answer, then downloads exactly the blocks that peer holds, and both sessions end.
    @Test func aSparsePeerAnswersWantsWithItsBitfield() async throws {
        let writer = try await makeWriter(count: 1_000)
        let sparse = try Feed.replica(key: writer.key)
        let (a, b) = InProcessStream.pair()
        let live = ReplicationSession.Options(live: true)
        let serving = Task { await runSide(a, isInitiator: true, feeds: [(writer, .full)], options: live) }
        let fetching = Task { await runSide(b, isInitiator: false, feeds: [(sparse, .sparse)], options: live) }
        try await sparse.download(0..<10, timeout: .seconds(120))
        try await sparse.download(500..<520, timeout: .seconds(120))
        serving.cancel()
        fetching.cancel()
        _ = try await serving.value.get()
        _ = try await fetching.value.get()
        #expect(await sparse.contiguousLength == 10)

        let full = try Feed.replica(key: writer.key)
        let (left, right) = await replicatePair([(sparse, .sparse)], [(full, .full)])
        _ = try left.get()
        let summary = try right.get()
        #expect(summary.feeds[0].blocksReceived == 30)
        #expect(await full.length == 1_000)
        for index: UInt64 in [0, 9, 500, 519] { #expect(await full.has(index)) }
        for index: UInt64 in [10, 499, 520, 999] { #expect(!(await full.has(index))) }
    }

    @Test func blocksTravelAlongAChainOfPeers() async throws {
        let a = try await makeWriter(count: 400)
        let b = try Feed.replica(key: a.key)
        let c = try Feed.replica(key: a.key)
        let live = ReplicationSession.Options(live: true)
        let (ab1, ab2) = InProcessStream.pair()
        let (bc1, bc2) = InProcessStream.pair()
        let tasks = [
            Task { await runSide(ab1, isInitiator: true, feeds: [(a, .full)], options: live) },
            Task { await runSide(ab2, isInitiator: false, feeds: [(b, .full)], options: live) },
            Task { await runSide(bc1, isInitiator: true, feeds: [(b, .full)], options: live) },
            Task { await runSide(bc2, isInitiator: false, feeds: [(c, .full)], options: live) },
        ]
        try await c.download(0..<400, timeout: .seconds(120))
        _ = try await a.append(contentsOf: (400..<450).map { testBlock($0) })
        try await c.download(0..<450, timeout: .seconds(120))
        #expect(try await allBlocks(c) == allBlocks(a))
        for task in tasks { task.cancel() }
        for task in tasks { _ = try await task.value.get() }
    }

    @Test func aFeedWithTwoPeersFetchesEachBlockOnce() async throws {
        let writer = try await makeWriter(count: 2_000)
        let mirror = try Feed.replica(key: writer.key)
        _ = try await replicatePair([(writer, .full)], [(mirror, .full)]).right.get()
        let replica = try Feed.replica(key: writer.key)
        let (w1, w2) = InProcessStream.pair()
        let (m1, m2) = InProcessStream.pair()
        async let fromWriter = runSide(w2, isInitiator: false, feeds: [(replica, .full)], options: .init())
        async let fromMirror = runSide(m2, isInitiator: false, feeds: [(replica, .full)], options: .init())
        async let writerSide = runSide(w1, isInitiator: true, feeds: [(writer, .full)], options: .init())
        async let mirrorSide = runSide(m1, isInitiator: true, feeds: [(mirror, .full)], options: .init())
        let received = [try await fromWriter.get(), try await fromMirror.get()]
        _ = try await writerSide.get()
        _ = try await mirrorSide.get()
        #expect(received.map { $0.feeds[0].blocksReceived }.reduce(0, +) == 2_000)
        #expect(try await allBlocks(replica) == allBlocks(writer))
    }

    @Test func requestsToASlowPeerTimeOutAndGoToAnother() async throws {
        let writer = try await makeWriter(count: 300)
        let mirror = try Feed.replica(key: writer.key)
        _ = try await replicatePair([(writer, .full)], [(mirror, .full)]).right.get()
        let replica = try Feed.replica(key: writer.key)
        let impatient = ReplicationSession.Options(requestTimeout: .milliseconds(300))
        // Everything the slow writer sends arrives a second late.
        let (slowServer, slowClient) = InProcessStream.pair(faults: (.init(delay: .seconds(1)), .none))
        async let slowSide = runSide(slowServer, isInitiator: false, feeds: [(writer, .full)], options: .init())
        async let fromSlow = runSide(slowClient, isInitiator: true, feeds: [(replica, .full)], options: impatient)
        // Start the fast peer only once the slow one holds requests for blocks.
        while !replica.claims.isClaimed(0) { try await Task.sleep(for: .milliseconds(10)) }
        let (fastServer, fastClient) = InProcessStream.pair()
        async let fastSide = runSide(fastServer, isInitiator: false, feeds: [(mirror, .full)], options: .init())
        async let fromFast = runSide(fastClient, isInitiator: true, feeds: [(replica, .full)], options: impatient)
        let fast = try await fromFast.get()
        let slow = try await fromSlow.get()
        _ = await (slowSide, fastSide)
        #expect(await replica.contiguousLength == 300)
        #expect(try await allBlocks(replica) == allBlocks(writer))
        #expect(fast.feeds[0].blocksReceived + slow.feeds[0].blocksReceived == 300)
        #expect(fast.feeds[0].blocksReceived > 0)
    }

    @Test func aCutSessionFailsWithATypedErrorAndAResumedOneCompletes() async throws {
        let writer = try await makeWriter(count: 3_000)
        let replica = try Feed.replica(key: writer.key)
        // Cut the writer's side after about a third of its bytes.
        let (left, right) = await replicatePair([(writer, .full)], [(replica, .full)],
                                                faults: (.init(cutAfter: 80_000), .none))
        #expect(throws: (any Error).self) { try left.get() }
        #expect(throws: ReplicationError.self) { try right.get() }
        let held = await replica.contiguousLength
        #expect(held < 3_000)
        let resumed = try await replicatePair([(writer, .full)], [(replica, .full)]).right.get()
        #expect(await replica.contiguousLength == 3_000)
        #expect(resumed.feeds[0].blocksReceived <= 3_000 - Int(held))
        #expect(try await allBlocks(replica) == allBlocks(writer))
    }

    @Test func aWrongCapabilityEndsTheSessionAndStoresNothing() async throws {
        let writer = try await makeWriter(count: 10)
        let replica = try Feed.replica(key: writer.key)
        let (a, b) = PlainMessageTransport.pair(hashes: ([UInt8](repeating: 1, count: 64), [UInt8](repeating: 2, count: 64)))
        let writerSession = ReplicationSession(transport: a)
        try await writerSession.add(writer)
        async let left = Result { try await writerSession.run() }
        let session = ReplicationSession(transport: b)
        try await session.add(replica)
        try await session.add(try Feed.create())  // unrelated
        await #expect { _ = try await session.run() } throws: { ($0 as? ReplicationError)?.code == .invalidCapability }
        _ = await left
        #expect(await replica.length == 0)
    }
}

extension Result where Failure == any Error {
    init(catching body: () async throws -> Success) async {
        do { self = .success(try await body()) } catch { self = .failure(error) }
    }
}
