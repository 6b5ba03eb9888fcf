import Hypercore
@testable import HypercoreProtocol
import KappaTesting
import Testing

@Suite struct ReplicationSessionTests {
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
}
