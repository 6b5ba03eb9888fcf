import Foundation
import Testing
import KappaTesting
@testable import Hypercore

/// Kills a writing child process with SIGKILL at random moments and checks what reopens.
@Suite(.serialized) struct CrashTests {
    /// Runs the writer for `millis` after it is ready, kills it, and returns the last length it acknowledged.
    static func runChild(directory: String, mode: String, durability: String, millis: Int) throws -> UInt64 {
        let output = try ChildProcess.runAndKill(ChildProcess.sibling(named: "CrashWriter"),
                                                 arguments: [directory, mode, durability], readyMarker: "\n", millis: millis)
        // The last complete line (the final one may be cut mid-write).
        return output.split(separator: "\n").dropLast().compactMap { UInt64($0) }.last ?? 0
    }

    static func verifyFeed(at directory: String) async throws -> UInt64 {
        let feed = try Feed.open(storage: try FileDirectory(path: directory), options: .init(durability: .relaxed))
        let length = await feed.length
        if length > 0 {
            let signature = try #require(await feed.signature)
            #expect(Signer.verify(signature, Caps.treeSignableCompat(treeHash: await feed.treeHash, length: length, fork: 0),
                                  publicKey: feed.key))
        }
        var i: UInt64 = 0
        while i < length {
            let batch = try await feed.getBatch(from: i, limit: 512)
            #expect(!batch.isEmpty)
            #expect(batch == crashBlocks(from: Int(i), count: batch.count), "blocks from \(i)")
            i += UInt64(batch.count)
        }
        try await feed.close()
        return length
    }

    @Test(.timeLimit(.minutes(5)), arguments: [("single", "relaxed"), ("batch", "relaxed"), ("single", "durable"), ("batch", "durable")])
    func killLoop(mode: String, durability: String) async throws {
        try await withTemporaryDirectory { dir in
            var rng = SystemRandomNumberGenerator()
            var previous: UInt64 = 0
            for _ in 0..<20 {
                let acknowledged = try Self.runChild(directory: dir.path, mode: mode, durability: durability,
                                                     millis: Int.random(in: 5...120, using: &rng))
                let recovered = try await Self.verifyFeed(at: dir.path)
                #expect(recovered >= acknowledged, "an acknowledged append was lost")
                #expect(recovered >= previous, "the feed shrank")
                previous = recovered
            }
            #expect(previous > 0)
        }
    }
}
