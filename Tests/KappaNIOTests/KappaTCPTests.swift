import Foundation
import Hypercore
import HypercoreProtocol
import KappaCore
import KappaNIO
import Testing

/// The total and count of all Int entries, kept in the core's store.
struct Sum: KappaView {
    let store = ViewStore()
    func map(_ entries: [KappaEntry<Int>], _ transaction: ViewTransaction) throws {
        try transaction.put("sum", (try transaction.get("sum") ?? 0) + entries.reduce(0) { $0 + $1.value })
        try transaction.put("count", (try transaction.get("count") ?? 0) + entries.count)
    }
    var value: Int { get throws { try store.get("sum") ?? 0 } }
    var count: Int { get throws { try store.get("count") ?? 0 } }
}

/// Databases replicating over TCP loopback: `listen` and `connect`.
@Suite(.timeLimit(.minutes(3))) struct KappaTCPTests {
    static let sharedKey = try! Bytes32([UInt8](repeating: 3, count: 32))

    static func database(sharedKey: Bytes32 = sharedKey) async throws -> (Kappa<Int>, Sum) {
        let core = try await Kappa<Int>(storage: .memory, options: KappaOptions(sharedKey: sharedKey))
        let sum = Sum()
        try await core.use("sum", sum)
        return (core, sum)
    }

    @Test func twoClientsSyncWithAServerAndAllThreeEndWithTheSameSum() async throws {
        let (server, serverSum) = try await Self.database()
        let (b, sumB) = try await Self.database()
        let (c, sumC) = try await Self.database()
        try await server.writer("s").append(contentsOf: Array(1...1_000))
        try await b.writer("b1").append(contentsOf: Array(repeating: 2, count: 300))
        try await b.writer("b2").append(7)
        try await c.writer("c").append(contentsOf: Array(repeating: 5, count: 200))
        let total = 500_500 + 600 + 7 + 1_000

        let listener = try await server.listen(host: "127.0.0.1", port: 0, live: false)
        #expect(listener.port > 0)
        // Both at once, then B again to fetch C's feed through the server.
        async let fromB = b.connect(host: "127.0.0.1", port: listener.port)
        async let fromC = c.connect(host: "127.0.0.1", port: listener.port)
        let (summaryB, summaryC) = try await (fromB, fromC)
        #expect(summaryB.feeds.allSatisfy(\.isComplete) && summaryC.feeds.allSatisfy(\.isComplete))
        try await b.connect(host: "127.0.0.1", port: listener.port)
        try await c.connect(host: "127.0.0.1", port: listener.port)
        for core in [server, b, c] { try await core.ready() }
        #expect(try serverSum.value == total && sumB.value == total && sumC.value == total)
        #expect(try sumB.count == 1_501 && sumC.count == 1_501)
        await listener.close()
        for core in [server, b, c] { try await core.close() }
    }

    @Test func aLiveClientFollowsTheServerAndClosingTheServerDatabaseEndsEverything() async throws {
        let (server, _) = try await Self.database()
        let (client, clientSum) = try await Self.database()
        let writer = try await server.writer("s")
        try await writer.append(1)
        let listener = try await server.listen(port: 0)
        let (events, continuation) = AsyncStream.makeStream(of: ReplicationEvent.self)
        let session = Task {
            try await client.connect(host: "127.0.0.1", port: listener.port, live: true, events: continuation)
        }
        var learned = false
        for await event in events {
            if case .feedLearned(let key) = event.kind, key == writer.key { learned = true; break }
        }
        #expect(learned)
        // A new writer on the server, after the session started, reaches the client.
        let late = try await server.writer("late")
        try await late.append(contentsOf: [10, 20])
        try await writer.append(100)
        let deadline = ContinuousClock.now + .seconds(120)
        while try clientSum.value != 131 {
            guard ContinuousClock.now < deadline else { Issue.record("the live appends did not arrive"); break }
            try await Task.sleep(for: .milliseconds(20))
            try await client.ready()
        }
        // Closing the server's database ends the listener and the session; the client's call returns.
        try await server.close()
        _ = await session.result
        await #expect(throws: ReplicationError.self) {
            try await client.connect(host: "127.0.0.1", port: listener.port)
        }
        try await client.close()
    }

    @Test func aClientWithAnotherSharedKeyLearnsNothingAndTheServerGoesOn() async throws {
        let (server, _) = try await Self.database()
        let (stranger, _) = try await Self.database(sharedKey: try Bytes32([UInt8](repeating: 4, count: 32)))
        let (friend, friendSum) = try await Self.database()
        try await server.writer("s").append(contentsOf: [1, 2, 3])
        let listener = try await server.listen(port: 0, live: false)
        let error = await #expect(throws: ReplicationError.self) {
            try await stranger.connect(host: "127.0.0.1", port: listener.port)
        }
        #expect(error?.code == .channelRejected)
        #expect(await stranger.feeds().isEmpty)
        try await friend.connect(host: "127.0.0.1", port: listener.port)
        try await friend.ready()
        #expect(try friendSum.value == 6)
        try await server.close()  // closes the listener too
        for core in [stranger, friend] { try await core.close() }
    }

    @Test func listeningOnAPortInUseFailsWithATransportError() async throws {
        let (a, _) = try await Self.database()
        let (b, _) = try await Self.database()
        let listener = try await a.listen(port: 0)
        let error = await #expect(throws: ReplicationError.self) {
            try await b.listen(port: listener.port)
        }
        #expect(error?.code == .transport)
        try await a.close()
        try await b.close()
    }
}
