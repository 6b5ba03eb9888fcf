import CSodium
import Foundation
import Testing
import KappaTesting
@testable import Hypercore

/// Feeds written by JavaScript hypercore 10.38.2 (Tests/HypercoreTests/Fixtures, copied from shared/fixtures).
@Suite struct FixtureTests {
    struct Expected: Decodable {
        var seed: String
        var key: String
        var discoveryKey: String
        var length: UInt64
        var byteLength: UInt64
        var fork: UInt64
        var treeHash: String
        var blocksSha256: [String]
        var blocksHex: [String?]?
    }

    static let fixtures = URL(fileURLWithPath: #filePath).deletingLastPathComponent().appendingPathComponent("Fixtures")

    static func expected(_ name: String) throws -> Expected {
        let data = try Data(contentsOf: fixtures.appendingPathComponent(name).appendingPathComponent("expected.json"))
        return try JSONDecoder().decode(Expected.self, from: data)
    }

    static func sha256(_ bytes: [UInt8]) -> String {
        var out = [UInt8](repeating: 0, count: 32)
        _ = bytes.withUnsafeBufferPointer { b in crypto_hash_sha256(&out, b.baseAddress, UInt64(b.count)) }
        return Hex.encode(out)
    }

    /// Opens a copy of the fixture directory.
    static func withFixture<R>(_ name: String, _ body: (URL, Expected) async throws -> R) async throws -> R {
        let expected = try expected(name)
        return try await withTemporaryDirectory { dir in
            let core = dir.appendingPathComponent("core")
            try copyDirectory(fixtures.appendingPathComponent(name).appendingPathComponent("core"), to: core)
            return try await body(core, expected)
        }
    }

    @Test(arguments: ["basic", "json-1007"])
    func opensJavaScriptFeed(name: String) async throws {
        try await Self.withFixture(name) { core, expected in
            let feed = try Feed.open(storage: try FileDirectory(path: core.path), options: .init(durability: .relaxed))
            #expect(feed.key.hex == expected.key)
            #expect(feed.discoveryKey.hex == expected.discoveryKey)
            #expect(await feed.length == expected.length)
            #expect(await feed.byteLength == expected.byteLength)
            #expect(await feed.fork == expected.fork)
            #expect(await feed.treeHash.hex == expected.treeHash)
            let signature = try #require(await feed.signature)
            let signable = Caps.treeSignableCompat(treeHash: await feed.treeHash, length: expected.length, fork: 0)
            #expect(Signer.verify(signature, signable, publicKey: feed.key))
            for (i, hash) in expected.blocksSha256.enumerated() {
                let block = try await feed.get(UInt64(i))
                #expect(Self.sha256(block) == hash, "block \(i)")
                if let hex = expected.blocksHex?[i] { #expect(Hex.encode(block) == hex) }
            }
            try await feed.close()
        }
    }

    @Test func basicBlocksAreAsDocumented() async throws {
        try await Self.withFixture("basic") { core, _ in
            let feed = try Feed.open(storage: try FileDirectory(path: core.path))
            #expect(try await feed.get(0) == Array("Hello".utf8))
            #expect(try await feed.get(5) == [UInt8](repeating: UInt8(ascii: "a"), count: 12288))
            #expect(try await feed.get(10) == [4])
            try await feed.close()
        }
    }

    @Test(arguments: ["basic", "json-1007"])
    func appendingContinuesTheJavaScriptFeed(name: String) async throws {
        try await Self.withFixture(name) { core, expected in
            let pair = try KeyPair.fromSeed(try #require(Hex.decode(expected.seed)))
            #expect(pair.publicKey.hex == expected.key)
            let feed = try Feed.open(storage: try FileDirectory(path: core.path), keyPair: pair)
            #expect(feed.writable)
            let extra = patternBlocks(count: 20, size: 33)
            try await feed.append(contentsOf: Array(extra.prefix(10)))
            for block in extra.suffix(10) { try await feed.append(block) }
            let hash = await feed.treeHash
            try await feed.close()

            let reopened = try Feed.open(storage: try FileDirectory(path: core.path))
            #expect(await reopened.length == expected.length + 20)
            #expect(await reopened.treeHash == hash)
            let signature = try #require(await reopened.signature)
            let signable = Caps.treeSignableCompat(treeHash: hash, length: expected.length + 20, fork: 0)
            #expect(Signer.verify(signature, signable, publicKey: reopened.key))
            #expect(Self.sha256(try await reopened.get(0)) == expected.blocksSha256[0])
            for (i, block) in extra.enumerated() {
                #expect(try await reopened.get(expected.length + UInt64(i)) == block)
            }
            try await reopened.close()
        }
    }

    /// Rebuilding the fixture's blocks here must give JavaScript's tree hash and files byte for byte
    /// (tree, bitfield and data; the oplog differs only in when headers are flushed).
    @Test(arguments: ["basic", "json-1007"])
    func rebuiltFeedMatchesJavaScriptFiles(name: String) async throws {
        try await Self.withFixture(name) { core, expected in
            let original = try Feed.open(storage: try FileDirectory(path: core.path))
            var blocks = [[UInt8]]()
            for i in 0..<expected.length { blocks.append(try await original.get(i)) }
            try await original.close()

            try await withTemporaryDirectory { dir in
                let pair = try KeyPair.fromSeed(try #require(Hex.decode(expected.seed)))
                let rebuilt = try Feed.create(storage: try FileDirectory(path: dir.path), keyPair: pair)
                try await rebuilt.append(contentsOf: blocks)
                #expect(await rebuilt.treeHash.hex == expected.treeHash)
                try await rebuilt.close()
                for file in ["tree", "data", "bitfield"] {
                    let ours = try Data(contentsOf: dir.appendingPathComponent(file))
                    let theirs = try Data(contentsOf: core.appendingPathComponent(file))
                    #expect(ours == theirs, "\(file) differs")
                }
            }
        }
    }
}
