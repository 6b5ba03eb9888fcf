import Hypercore
@testable import HypercoreProtocol
import Testing

/// The session's extension point: one more protocol's channel beside the feed channels.
@Suite(.timeLimit(.minutes(2))) struct SessionChannelHandlerTests {
    struct Refused: Error {}

    /// Sends `hello` once paired; on the peer's `hello` adds its feed (if any) and closes its channel at once.
    actor Greeter: SessionChannelHandler {
        nonisolated let protocolName: String
        nonisolated let channelID: [UInt8] = [1, 2, 3]
        let feed: Feed?
        var greeted = false
        var rejected = false

        init(protocolName: String = "test/greeter", feed: Feed?) {
            self.protocolName = protocolName
            self.feed = feed
        }

        func openHandshake(_ connection: SessionConnection) -> [UInt8] { [connection.isInitiator ? 1 : 0] }

        func opened(remoteHandshake: [UInt8], _ connection: SessionConnection) throws -> [SessionChannelAction] {
            // The peer is the other role.
            guard remoteHandshake == [connection.isInitiator ? 0 : 1] else { throw Refused() }
            return [.send(type: 0, payload: Array("hello".utf8))]
        }

        func received(type: UInt64, payload: [UInt8]) -> [SessionChannelAction] {
            guard type == 0, payload == Array("hello".utf8) else { return [] }
            greeted = true
            return (feed.map { [SessionChannelAction.add($0, .full)] } ?? []) + [.close]
        }

        func pass() -> [SessionChannelAction] { [] }

        func closed(rejected: Bool) throws {
            if rejected {
                self.rejected = true
                throw Refused()
            }
        }
    }

    static func run(_ transport: PlainMessageTransport, _ handler: some SessionChannelHandler) async -> SessionResult {
        do {
            let session = ReplicationSession(transport: transport)
            try await session.setChannelHandler(handler)
            return .success(try await session.run())
        } catch {
            return .failure(error)
        }
    }

    @Test func feedsAddedByTheHandlerReplicateAndTheSessionEndsWhenTheyAreInSync() async throws {
        let writer = try await makeWriter(count: 500)
        let replica = try Feed.replica(key: writer.key)
        let (a, b) = PlainMessageTransport.pair()
        let left = Greeter(feed: writer)
        let right = Greeter(feed: replica)
        async let l = Self.run(a, left)
        async let r = Self.run(b, right)
        let (fromWriter, toReplica) = await (l, r)
        _ = try fromWriter.get()
        #expect(try toReplica.get().feeds.map(\.blocksReceived) == [500])
        #expect(await left.greeted)
        #expect(await right.greeted)
        #expect(try await allBlocks(replica) == allBlocks(writer))
    }

    @Test func aHandlerAloneEndsTheSessionOnceItsChannelCloses() async throws {
        let (a, b) = PlainMessageTransport.pair()
        async let l = Self.run(a, Greeter(feed: nil))
        async let r = Self.run(b, Greeter(feed: nil))
        let (left, right) = await (l, r)
        #expect(try left.get().feeds.isEmpty && right.get().feeds.isEmpty)
    }

    @Test func aChannelThePeerDoesNotOpenIsRejectedAndTheHandlerDecides() async throws {
        let (a, b) = PlainMessageTransport.pair()
        let left = Greeter(protocolName: "test/one", feed: nil)
        let right = Greeter(protocolName: "test/two", feed: nil)
        async let l = Self.run(a, left)
        async let r = Self.run(b, right)
        let (fromLeft, fromRight) = await (l, r)
        #expect(throws: Refused.self) { try fromLeft.get() }
        #expect(throws: Refused.self) { try fromRight.get() }
        #expect(await left.rejected)
        #expect(await right.rejected)
    }
}
