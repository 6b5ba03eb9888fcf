import Hypercore
import HypercoreProtocol
import KappaNIO
import Testing

/// Swift to Swift replication over TCP loopback.
@Suite(.timeLimit(.minutes(3))) struct TCPReplicationTests {
    @Test func fullThenLiveOverTCP() async throws {
        let writer = try Feed.create()
        _ = try await writer.append(contentsOf: (0..<2_000).map { peerBlock($0) })
        let replica = try Feed.replica(key: writer.key)
        try await TCPServer.withServer(host: "127.0.0.1", port: 0) { server in
            let serving = Task {
                try await server.serve { peer in
                    try await writer.replicate(over: peer, isInitiator: false, options: .init(live: true))
                }
            }
            // Non-live first: returns once in sync.
            let first = try await TCPClient.withConnection(host: "127.0.0.1", port: server.port) { connection in
                try await replica.replicate(over: connection, isInitiator: true)
            }
            #expect(first.feeds[0].blocksReceived == 2_000)
            #expect(await replica.treeHash == writer.treeHash)

            // Then live: appends made while connected arrive.
            let following = Task {
                try await TCPClient.withConnection(host: "127.0.0.1", port: server.port) { connection in
                    try await replica.replicate(over: connection, isInitiator: true, options: .init(live: true))
                }
            }
            for i in 2_000..<2_100 {
                _ = try await writer.append(peerBlock(i))
                if i % 10 == 0 { try await Task.sleep(for: .milliseconds(5)) }
            }
            try await replica.download(0..<2_100, timeout: .seconds(120))
            following.cancel()
            let live = try await following.value
            #expect(live.feeds[0].blocksReceived == 100)
            serving.cancel()
            try await serving.value
        }
        #expect(try await replica.getBatch(from: 0, limit: 2_100) == (0..<2_100).map { peerBlock($0) })
    }
}
