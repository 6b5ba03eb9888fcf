import Foundation
import Hypercore
import HypercoreProtocol
import KappaNIO
import Testing

/// Swift replication against the independent Python peer over TCP, in both roles (spec D.9).
@Suite(.serialized, .timeLimit(.minutes(5))) struct ReplicationInteropTests {
    /// Keep-alives as JavaScript sends them; an idle timeout long enough for a starved test machine.
    static let patient = SecretStream.Options(idleTimeout: .seconds(150))

    /// Connects to `port` and replicates `feed` with the peer there.
    private func replicate(_ feed: Feed, port: Int, mode: ReplicationMode = .full,
                           options: ReplicationSession.Options = .init()) async throws -> ReplicationSummary {
        try await TCPClient.withConnection(host: "127.0.0.1", port: port) { connection in
            try await SecretStream.withSecretStream(over: connection, isInitiator: true, identity: .random(), options: Self.patient) { stream in
                let session = ReplicationSession(stream: stream, options: options)
                try await session.add(feed, mode: mode)
                return try await session.run()
            }
        }
    }

    @Test func aSwiftClientDownloadsAFeedFromThePythonPeer() async throws {
        let peer = try InteropPeer(["serve", "--port", "0", "--blocks", "1000", "--once"])
        let info = try await peer.nextLine()
        let port = try #require(info["port"] as? Int)
        let key = try PublicKey(hex: try #require(info["key"] as? String))
        let replica = try Feed.replica(key: key)
        let summary = try await replicate(replica, port: port)
        #expect(await replica.length == 1_000)
        #expect(await replica.treeHash.description == info["treeHash"] as? String)
        let blocks = try await replica.getBatch(from: 0, limit: 1_000)
        #expect(blocks == (0..<1_000).map { peerBlock($0) })
        #expect(summary.feeds[0].blocksReceived == 1_000)
        #expect(await peer.wait() == 0, "\(peer.stderrText())")
    }

    @Test func aSwiftReplicaResyncsIncrementally() async throws {
        // The same key and content, first 20 blocks, then 37: the second session upgrades 20 → 37.
        let first = try InteropPeer(["serve", "--port", "0", "--blocks", "20", "--once"])
        let info = try await first.nextLine()
        let key = try PublicKey(hex: try #require(info["key"] as? String))
        let replica = try Feed.replica(key: key)
        _ = try await replicate(replica, port: try #require(info["port"] as? Int))
        #expect(await first.wait() == 0)
        #expect(await replica.length == 20)

        let second = try InteropPeer(["serve", "--port", "0", "--blocks", "37", "--once"])
        let info2 = try await second.nextLine()
        let summary = try await replicate(replica, port: try #require(info2["port"] as? Int))
        #expect(await replica.length == 37)
        #expect(await replica.treeHash.description == info2["treeHash"] as? String)
        #expect(summary.feeds[0].blocksReceived == 17)
        #expect(try await replica.getBatch(from: 0, limit: 37) == (0..<37).map { peerBlock($0) })
        #expect(await second.wait() == 0, "\(second.stderrText())")
    }

    @Test func aSwiftReplicaFollowsLiveAppends() async throws {
        let peer = try InteropPeer(["serve", "--port", "0", "--blocks", "10", "--live-append", "15",
                                    "--interval", "30", "--once"])
        let info = try await peer.nextLine()
        let key = try PublicKey(hex: try #require(info["key"] as? String))
        let finalLength = try #require(info["finalLength"] as? Int)
        let replica = try Feed.replica(key: key)
        let port = try #require(info["port"] as? Int)
        let session = Task { try await replicate(replica, port: port, options: .init(live: true)) }
        try await replica.download(0..<UInt64(finalLength), timeout: .seconds(120))
        session.cancel()
        _ = try await session.value
        #expect(await replica.treeHash.description == info["finalTreeHash"] as? String)
        #expect(await peer.wait() == 0, "\(peer.stderrText())")
    }

    @Test func thePythonPeerClonesAFeedFromASwiftServer() async throws {
        let writer = try Feed.create()
        _ = try await writer.append(contentsOf: (0..<1_000).map { peerBlock($0) })
        let treeHash = await writer.treeHash.description
        #expect(treeHash == "20dd1ccdaf2bbf8b0b200bffd13851fc30b390db9786956e26829d6213675547")
        try await TCPServer.withServer(host: "127.0.0.1", port: 0) { server in
            let clone = try InteropPeer(["clone", "--port", "\(server.port)", "--key", writer.key.description,
                                         "--expect-tree", treeHash, "--expect-length", "1000"])
            let serving = Task {
                try await server.serve { connection in
                    try await SecretStream.withSecretStream(over: connection, isInitiator: false, identity: .random(), options: Self.patient) { stream in
                        let session = ReplicationSession(stream: stream)
                        try await session.add(writer)
                        _ = try await session.run()
                    }
                }
            }
            let result = try await clone.nextLine()
            #expect(result["blocks"] as? Int == 1_000)
            #expect(result["treeHash"] as? String == treeHash)
            #expect(await clone.wait() == 0, "\(clone.stderrText())")
            serving.cancel()
            try await serving.value
        }
    }

    @Test func thePythonPeerFollowsLiveAppendsFromASwiftServer() async throws {
        let writer = try Feed.create()
        _ = try await writer.append(contentsOf: (0..<50).map { peerBlock($0) })
        try await TCPServer.withServer(host: "127.0.0.1", port: 0) { server in
            let clone = try InteropPeer(["clone", "--port", "\(server.port)", "--key", writer.key.description,
                                         "--live-until", "80"])
            let serving = Task {
                try await server.serve { connection in
                    try await SecretStream.withSecretStream(over: connection, isInitiator: false, identity: .random(), options: Self.patient) { stream in
                        let session = ReplicationSession(stream: stream, options: .init(live: true))
                        try await session.add(writer)
                        _ = try await session.run()
                    }
                }
            }
            for i in 50..<80 {
                try await Task.sleep(for: .milliseconds(10))
                _ = try await writer.append(peerBlock(i))
            }
            let result = try await clone.nextLine()
            #expect(result["length"] as? Int == 80)
            #expect(result["treeHash"] as? String == (await writer.treeHash.description))
            #expect(await clone.wait() == 0, "\(clone.stderrText())")
            serving.cancel()
            try await serving.value
        }
    }
}
