import Foundation
import Testing
import KappaTesting
@testable import Hypercore

/// Kills a writing child process with SIGKILL at random moments and checks what reopens.
@Suite(.serialized) struct CrashTests {
    static var childPath: String {
        let exe = (try? FileManager.default.destinationOfSymbolicLink(atPath: "/proc/self/exe")) ?? CommandLine.arguments[0]
        return URL(fileURLWithPath: exe).deletingLastPathComponent().appendingPathComponent("CrashWriter").path
    }

    /// Reads the child's output lines until it reports ready, then lets it run `millis` and kills it.
    /// Returns the last length the child acknowledged.
    static func runChild(directory: String, mode: String, durability: String, millis: Int) throws -> UInt64 {
        let process = Process()
        process.executableURL = URL(fileURLWithPath: childPath)
        process.arguments = [directory, mode, durability]
        let pipe = Pipe()
        process.standardOutput = pipe
        try process.run()
        let start = Date()
        var output = Data()
        // Wait for "ready" so the kill lands during appends, not during start-up.
        while !String(decoding: output, as: UTF8.self).contains("\n"), Date().timeIntervalSince(start) < 30 {
            output.append(pipe.fileHandleForReading.availableData)
        }
        usleep(UInt32(millis * 1000))
        kill(process.processIdentifier, SIGKILL)
        process.waitUntilExit()
        output.append(pipe.fileHandleForReading.readDataToEndOfFile())
        let lines = String(decoding: output, as: UTF8.self).split(separator: "\n")
        // The last complete line (the final one may be cut mid-write).
        let numbers = lines.dropLast().compactMap { UInt64($0) }
        return numbers.last ?? 0
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
