import Foundation
import Hypercore
import HypercoreProtocol
import KappaNIO
import KappaCore
import KappaTesting
import Testing

/// The documentation shows code that compiles and does what it says.
@Suite struct SnippetTests {
    /// Every Swift block in the README, `docs/` and the DocC articles is a marked region of compiled source.
    @Test func swiftBlocksQuoteCompiledSource() throws {
        let regions = try Snippets.regions()
        var quoted = Set<String>()
        let files = Snippets.markdownFiles()
        #expect(files.contains { $0.hasSuffix("Documentation.docc/GettingStarted.md") })
        for file in files {
            for block in try Snippets.swiftBlocks(in: file) {
                guard let name = block.name else {
                    Issue.record("\(block.location): a Swift block needs `<!-- snippet: name -->` on the line before")
                    continue
                }
                guard let region = regions[name] else {
                    Issue.record("\(block.location): no region `// snippet: \(name)` in Sources/ or Tests/")
                    continue
                }
                quoted.insert(name)
                #expect(block.text == region.text, "\(block.location) differs from \(region.location)")
            }
        }
        #expect(quoted.contains("quick-start"))
        for (name, region) in regions where !quoted.contains(name) {
            Issue.record("\(region.location): region `\(name)` is quoted by no document")
        }
    }

    /// The README's example: two databases on disk replicate over TCP and print equal sums; a second run reopens
    /// them, appends again, replicates only what is new, and both sums go on.
    @Test(.timeLimit(.minutes(1))) func exampleContinuesOnTheNextRun() async throws {
        try await withTemporaryDirectory { directory in
            let example = ChildProcess.sibling(named: "kappa-example")
            let first = try ChildProcess.run(example, in: directory)
            #expect(first.status == 0)
            #expect(first.output == "a: sum 16 in 2 feeds\nb: sum 16 in 2 feeds\n")
            let second = try ChildProcess.run(example, in: directory)
            #expect(second.status == 0)
            #expect(second.output == "a: sum 32 in 2 feeds\nb: sum 32 in 2 feeds\n")
        }
    }

    @Test(.timeLimit(.minutes(1))) func replicateOverTCP() async throws {
        let feed = try Feed.create()
        try await feed.append(Array("hello".utf8))
        // snippet: replicate-tcp
        let replica = try Feed.replica(key: feed.key)                              // elsewhere: only the key is known
        try await TCPServer.withServer(host: "127.0.0.1", port: 0) { server in     // serve `feed` to every peer
            let serving = Task { try await server.serve { peer in try await feed.replicate(over: peer, isInitiator: false) } }
            try await TCPClient.withConnection(host: "127.0.0.1", port: server.port) { connection in
                try await replica.replicate(over: connection, isInitiator: true)    // returns once in sync
            }
            serving.cancel()                                                       // stop serving
            try await serving.value
        }
        print(try await replica.get(0))                                            // the writer's block, verified
        // snippet: end
        #expect(try await replica.get(0) == Array("hello".utf8))
    }

    @Test(.timeLimit(.minutes(1))) func replicateDatabasesWithProgress() async throws {
        let server = try await Kappa<Int>(storage: .memory)
        try await server.writer("alice").append(contentsOf: [1, 2, 3])
        let listener = try await server.listen(port: 0)
        let core = try await Kappa<Int>(storage: .memory, options: KappaOptions(sharedKey: server.sharedKey))
        let (host, port) = ("127.0.0.1", listener.port)
        // snippet: replicate-progress
        let (events, progress) = AsyncStream.makeStream(of: ReplicationEvent.self, bufferingPolicy: .bufferingNewest(256))
        async let summary = core.connect(host: host, port: port, events: progress)   // live: false: ends in sync
        for await event in events {
            switch event.kind {
            case .feedLearned(let key): print("new feed \(key)")
            case .progress(let feed): print("\(feed.key): \(feed.length)/\(feed.remoteLength) blocks")
            default: break
            }
        }
        let received = try await summary.feeds.reduce(0) { $0 + $1.blocksReceived }
        // snippet: end
        #expect(received == 3)
        try await core.close()
        try await server.close()
    }

    @Test func inMemory() async throws {
        // snippet: in-memory
        let core = try await Kappa<String>(storage: .memory, encoding: .utf8)   // gone when closed
        let notes = try await core.writer("notes")
        let seq = try await notes.append("hello")                             // 0: its sequence number
        try await core.close()
        // snippet: end
        #expect(seq == 0)
    }

    @Test func feeds() async throws {
        // snippet: feeds
        let feed = try Feed.create()                                   // in memory; on disk: storage: FileDirectory(path:)
        try await feed.append(contentsOf: [[1], [2], [3]])             // one signature for the batch
        let replica = try Feed.replica(key: feed.key)                  // no secret key: it only accepts proofs
        let request = ProofRequest(block: .init(index: 0, nodes: 0), upgrade: .init(start: 0, length: 3))
        try await replica.receive(try await feed.proof(for: request))   // checked against the signed tree
        let block = try await replica.get(0)                           // [1]
        // snippet: end
        #expect(block == [1])
        #expect(await replica.length == 3)
    }
}
