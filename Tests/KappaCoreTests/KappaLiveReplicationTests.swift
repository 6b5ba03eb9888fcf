import Foundation
import Synchronization
import Testing
import Hypercore
import HypercoreProtocol
import KappaTesting
@testable import KappaCore

/// Live sessions (new feeds announced while they run), progress events, and sparse sessions.
@Suite(.timeLimit(.minutes(3))) struct KappaLiveReplicationTests {
    typealias T = KappaReplicationTests

    /// Polls `condition` every 10 ms until it holds; fails after `timeout`.
    static func eventually(
        _ what: String, timeout: Duration = .seconds(120), _ condition: () async throws -> Bool
    ) async throws {
        let deadline = ContinuousClock.now + timeout
        while try await !condition() {
            guard ContinuousClock.now < deadline else {
                Issue.record("timed out waiting until \(what)")
                throw CancellationError()
            }
            try await Task.sleep(for: .milliseconds(10))
        }
    }

    /// Starts a live session between `a` (initiator) and `b`; the tasks end when cancelled or closed.
    static func live(_ a: Kappa<Int>, _ b: Kappa<Int>, mode: ReplicationMode = .full)
        -> (Task<ReplicationSummary, any Error>, Task<ReplicationSummary, any Error>)
    {
        let (left, right) = InProcessStream.pair()
        return (Task { try await a.replicate(over: left, isInitiator: true, live: true, mode: mode) },
                Task { try await b.replicate(over: right, isInitiator: false, live: true, mode: mode) })
    }

    @Test func liveSessionsCarryNewWritersAndFeedsLearnedFromAThirdPeer() async throws {
        let (a, sumA) = try await T.database()
        let (b, sumB) = try await T.database()
        let (c, sumC) = try await T.database()
        let early = try await a.writer("early")
        try await early.append(1)
        let ab = Self.live(a, b)
        let bc = Self.live(b, c)
        try await Self.eventually("C has A's first feed") { await c.feed(early.key) != nil }

        // A writer created after both sessions started reaches C through B.
        let late = try await a.writer("late")
        try await late.append(contentsOf: [10, 20, 30])
        try await Self.eventually("C has A's new feed in full") { await c.feed(late.key)?.contiguousLength == 3 }
        // And one created on C reaches A the other way.
        let fromC = try await c.writer("c")
        try await fromC.append(100)
        try await Self.eventually("A has C's feed in full") { await a.feed(fromC.key)?.contiguousLength == 1 }
        // Appends to known feeds keep flowing.
        try await early.append(1000)
        try await Self.eventually("C has A's append") { await c.feed(early.key)?.contiguousLength == 2 }

        let total = 1 + 60 + 100 + 1000
        for core in [a, b, c] { try await core.ready() }
        #expect(try sumA.value == total && sumB.value == total && sumC.value == total)
        #expect(Set(await b.feeds().map(\.key)) == [early.key, late.key, fromC.key])
        for task in [ab.0, ab.1, bc.0, bc.1] { task.cancel() }
        for task in [ab.0, ab.1, bc.0, bc.1] { _ = await task.result }
        for core in [a, b, c] { try await core.close() }
    }

    @Test func feedLearnedEventsNameOnlyFeedsNewToTheDatabase() async throws {
        let (a, _) = try await T.database()
        let (b, _) = try await T.database()
        let writer = try await a.writer("a")
        try await writer.append(contentsOf: [1, 2])
        let (events, continuation) = AsyncStream.makeStream(of: ReplicationEvent.self)
        let (left, right) = InProcessStream.pair()
        let sideA = Task { try await a.replicate(over: left, isInitiator: true, live: true, events: continuation) }
        let sideB = Task { try await b.replicate(over: right, isInitiator: false, live: true) }
        try await Self.eventually("B has A's feed") { await b.feed(writer.key)?.contiguousLength == 2 }
        // B learning the feed bumps its membership and B offers again; A learns only the feed new to it.
        let newB = try await b.writer("b")
        try await newB.append(5)
        try await Self.eventually("A has B's feed") { await a.feed(newB.key)?.contiguousLength == 1 }
        sideA.cancel()
        sideB.cancel()
        _ = await (sideA.result, sideB.result)
        var learned: [PublicKey] = []
        for await event in events {
            if case .feedLearned(let key) = event.kind { learned.append(key) }
        }
        #expect(learned == [newB.key])
        try await a.close()
        try await b.close()
    }

    @Test func eventsReportTheStartLearnedFeedsProgressAndTheEnd() async throws {
        let (a, _) = try await T.database()
        let (b, _) = try await T.database()
        let one = try await a.writer("one")
        let two = try await a.writer("two")
        try await one.append(contentsOf: Array(1...300))
        try await two.append(contentsOf: Array(1...40))
        let (events, continuation) = AsyncStream.makeStream(of: ReplicationEvent.self)
        let (left, right) = InProcessStream.pair()
        async let sideA = T.result { try await a.replicate(over: left, isInitiator: true) }
        async let sideB = T.result { try await b.replicate(over: right, isInitiator: false, events: continuation) }
        var collected: [ReplicationEvent] = []
        for await event in events { collected.append(event) }  // ends when B's session ends
        let summary = try await sideB.get()
        _ = try await sideA.get()

        #expect(collected.allSatisfy { $0.peer == a.identityKey })
        guard case .started = collected.first?.kind else {
            Issue.record("the first event is not .started: \(String(describing: collected.first))")
            return
        }
        guard case .finished(let finished) = collected.last?.kind else {
            Issue.record("the last event is not .finished: \(String(describing: collected.last))")
            return
        }
        #expect(finished.feeds.map(\.blocksReceived).reduce(0, +) == 340)
        #expect(summary.feeds.map(\.blocksReceived).reduce(0, +) == 340)
        var learned = Set<PublicKey>()
        var last: [PublicKey: ReplicationSummary.Feed] = [:]
        var previous: [PublicKey: Int] = [:]
        for event in collected {
            switch event.kind {
            case .feedLearned(let key): learned.insert(key)
            case .progress(let feed):
                // Running totals never go back.
                #expect(feed.blocksReceived >= previous[feed.key, default: 0])
                previous[feed.key] = feed.blocksReceived
                last[feed.key] = feed
            case .failed(let error): Issue.record("unexpected failure event: \(error)")
            default: break
            }
        }
        #expect(learned == [one.key, two.key])
        #expect(last[one.key]?.blocksReceived == 300 && last[one.key]?.remoteLength == 300)
        #expect(last[two.key]?.blocksReceived == 40 && last[two.key]?.bytesReceived ?? 0 > 0)
        try await a.close()
        try await b.close()
    }

    @Test func aFailedSessionReportsFailedAndFinishesItsEvents() async throws {
        let (a, _) = try await T.database()
        let (b, _) = try await T.database(sharedKey: try Bytes32([UInt8](repeating: 9, count: 32)))
        try await a.writer("a").append(1)
        let (events, continuation) = AsyncStream.makeStream(of: ReplicationEvent.self)
        let (left, right) = InProcessStream.pair()
        async let sideA = T.result { try await a.replicate(over: left, isInitiator: true) }
        async let sideB = T.result { try await b.replicate(over: right, isInitiator: false, events: continuation) }
        var kinds: [ReplicationEvent.Kind] = []
        for await event in events { kinds.append(event.kind) }
        _ = await sideA
        let resultB = await sideB
        #expect(throws: ReplicationError.self) { try resultB.get() }
        guard case .failed(let error) = kinds.last else {
            Issue.record("the last event is not .failed: \(kinds)")
            return
        }
        #expect((error as? ReplicationError)?.code == .channelRejected)
        #expect(!kinds.contains { if case .feedLearned = $0 { true } else { false } })
        try await a.close()
        try await b.close()
    }

    @Test func aSparseSessionLearnsEveryFeedAndItsLengthButDownloadsNothing() async throws {
        let (a, _) = try await T.database()
        let (b, sumB) = try await T.database()
        let writer = try await a.writer("a")
        try await writer.append(contentsOf: Array(1...100))
        let (left, right) = InProcessStream.pair()
        async let sideA = T.result { try await a.replicate(over: left, isInitiator: true, mode: .sparse) }
        async let sideB = T.result { try await b.replicate(over: right, isInitiator: false, mode: .sparse) }
        let (summaryA, summaryB) = try await (sideA.get(), sideB.get())
        #expect(T.received(summaryA) == 0 && T.received(summaryB) == 0)
        let feed = try #require(await b.feed(writer.key))
        #expect(await feed.length == 100)
        #expect(await feed.contiguousLength == 0)
        try await b.ready()
        #expect(try sumB.count == 0)
        try await a.close()
        try await b.close()
    }

    @Test func aLiveSparseSessionDownloadsWhatIsAskedForAndViewsIndexTheContiguousPrefix() async throws {
        let (a, _) = try await T.database()
        let (b, sumB) = try await T.database()
        let writer = try await a.writer("a")
        try await writer.append(contentsOf: Array(1...100))
        let (sideA, sideB) = Self.live(a, b, mode: .sparse)
        try await Self.eventually("B knows A's feed and its length") { await b.feed(writer.key)?.length == 100 }
        let feed = try #require(await b.feed(writer.key))
        // The latest ten only: nothing for the views (the prefix is still empty).
        try await feed.download(90..<100, timeout: .seconds(120))
        #expect(await feed.contiguousLength == 0)
        try await b.ready()
        #expect(try sumB.count == 0)
        // One block on demand, then the first ten: the views see 1...10.
        let value = try await feed.get(0, timeout: .seconds(120))
        #expect(try JSONDecoder().decode(Int.self, from: Data(value)) == 1)
        try await feed.download(0..<10, timeout: .seconds(120))
        #expect(await feed.contiguousLength == 10)
        try await b.ready()
        #expect(try sumB.count == 10 && sumB.value == 55)
        sideA.cancel()
        sideB.cancel()
        _ = await (sideA.result, sideB.result)
        try await a.close()
        try await b.close()
    }

    @Test func aDatabaseReplicatesWhileItsViewsArePausedAndTheyCatchUpOnResume() async throws {
        let (a, _) = try await T.database()
        let (b, sumB) = try await T.database()
        try await a.writer("a").append(contentsOf: Array(repeating: 2, count: 500))
        try await b.pause("sum")
        let (ab, ba) = await T.replicate(a, b)
        _ = try (ab.get(), ba.get())
        #expect(try sumB.count == 0)
        try await b.resume("sum")
        try await b.ready()
        #expect(try sumB.value == 1_000 && sumB.count == 500)
        try await a.close()
        try await b.close()
    }

    @Test func aHundredFeedsOfAHundredEntriesInOneSessionAndAViewAttachedAfterwards() async throws {
        let (a, _) = try await T.database()
        let (b, sumB) = try await T.database()
        for i in 0..<100 {
            try await a.writer("w\(i)").append(contentsOf: Array(repeating: i, count: 100))
        }
        let (ab, ba) = await T.replicate(a, b)
        let (summaryA, summaryB) = try (ab.get(), ba.get())
        #expect(summaryB.feeds.count == 100 && T.received(summaryB) == 10_000)
        #expect(summaryA.feeds.reduce(0) { $0 + $1.blocksSent } == 10_000)
        let total = (0..<100).reduce(0) { $0 + $1 * 100 }
        try await b.ready()
        #expect(try sumB.value == total && sumB.count == 10_000)
        // A view attached after replication indexes everything already there.
        let late = SumView()
        try await b.use("late", late)
        try await b.ready("late")
        #expect(try late.value == total && late.count == 10_000)
        try await a.close()
        try await b.close()
    }
}
