import Foundation
import Testing
import KappaTesting
@testable import Hypercore

/// Truncated or bit-flipped files give a typed error or a clean recovery to a good state — never a crash or a
/// wrong block.
@Suite struct CorruptionTests {
    static let total = 60

    /// A feed directory copied while the feed was open: tree/bitfield checkpointed, a tail in the oplog.
    static func snapshot(into dir: URL) async throws -> (checkpointed: UInt64, full: UInt64) {
        let live = dir.appendingPathComponent("live")
        let feed = try Feed.create(storage: try FileDirectory(path: live.path),
                                   keyPair: try KeyPair.fromSeed([UInt8](repeating: 0x42, count: 32)),
                                   options: .init(durability: .relaxed, checkpointBytes: 2048))
        for block in crashBlocks(from: 0, count: 30) { try await feed.append(block) }
        try await feed.append(contentsOf: crashBlocks(from: 30, count: 20))
        let checkpointed = await feed.length
        for block in crashBlocks(from: 50, count: 10) { try await feed.append(block) }
        try copyDirectory(live, to: dir.appendingPathComponent("snapshot"))
        try await feed.close()
        return (checkpointed, await feed.length)
    }

    enum Outcome { case rejected, opened(UInt64) }

    /// Opens a corrupted copy; every block it then returns must be the right one.
    static func openAndCheck(_ dir: URL) async -> Outcome {
        let feed: Feed
        do {
            feed = try Feed.open(storage: try FileDirectory(path: dir.path), options: .init(durability: .relaxed))
        } catch is HypercoreError {
            return .rejected
        } catch is StorageError {
            return .rejected
        } catch {
            Issue.record("untyped error \(error)")
            return .rejected
        }
        let length = await feed.length
        for i in 0..<length {
            do {
                let block = try await feed.get(i)
                #expect(block == crashBlocks(from: Int(i), count: 1)[0], "wrong block \(i) returned")
            } catch let error as HypercoreError {
                #expect(error.code == .corrupt || error.code == .blockNotAvailable, "block \(i): \(error)")
            } catch {
                Issue.record("untyped error \(error)")
            }
        }
        try? await feed.close()
        return .opened(length)
    }

    static func variant(_ base: URL, _ name: String, _ corrupt: (URL) throws -> Void) async throws -> Outcome {
        let dir = base.appendingPathComponent(name)
        try copyDirectory(base.appendingPathComponent("snapshot"), to: dir)
        try corrupt(dir)
        let outcome = await openAndCheck(dir)
        try? FileManager.default.removeItem(at: dir)
        return outcome
    }

    @Test func truncatedOplogRecoversToALastGoodState() async throws {
        try await withTemporaryDirectory { base in
            let (checkpointed, full) = try await Self.snapshot(into: base)
            let oplog = base.appendingPathComponent("snapshot/oplog")
            let size = try FileManager.default.attributesOfItem(atPath: oplog.path)[.size] as! Int
            #expect(size > 8192, "the snapshot has oplog entries")
            var lengths = Set<UInt64>()
            for cut in Array(stride(from: 8192, to: size, by: 11)) + [size] {
                let outcome = try await Self.variant(base, "cut\(cut)") { try truncateFile($0.appendingPathComponent("oplog"), to: cut) }
                guard case .opened(let length) = outcome else {
                    Issue.record("truncating the oplog at \(cut) lost the feed")
                    continue
                }
                #expect(length >= checkpointed && length <= full)
                lengths.insert(length)
            }
            #expect(lengths.contains(full) && lengths.count > 2)
        }
    }

    @Test func flippedOplogBitsNeverGiveWrongBlocks() async throws {
        try await withTemporaryDirectory { base in
            let (_, full) = try await Self.snapshot(into: base)
            let oplog = base.appendingPathComponent("snapshot/oplog")
            let size = try FileManager.default.attributesOfItem(atPath: oplog.path)[.size] as! Int
            var rng = SeededGenerator(seed: 7)
            let offsets = (0..<60).map { _ in Int.random(in: 8192..<size, using: &rng) }
                + (0..<30).map { _ in Int.random(in: 0..<400, using: &rng) }
                + (0..<30).map { _ in Int.random(in: 4096..<4496, using: &rng) }
            for offset in offsets {
                let outcome = try await Self.variant(base, "flip\(offset)") {
                    try flipBit(in: $0.appendingPathComponent("oplog"), at: offset, bit: offset % 8)
                }
                if case .opened(let length) = outcome { #expect(length <= full) }
            }
        }
    }

    @Test func flippedTreeBitsNeverGiveWrongBlocks() async throws {
        try await withTemporaryDirectory { base in
            _ = try await Self.snapshot(into: base)
            let tree = base.appendingPathComponent("snapshot/tree")
            let size = try FileManager.default.attributesOfItem(atPath: tree.path)[.size] as! Int
            var rng = SeededGenerator(seed: 11)
            var rejected = 0
            for _ in 0..<80 {
                let offset = Int.random(in: 0..<size, using: &rng)
                let outcome = try await Self.variant(base, "tree\(offset)") {
                    try flipBit(in: $0.appendingPathComponent("tree"), at: offset, bit: offset % 8)
                }
                if case .rejected = outcome { rejected += 1 }
            }
            #expect(rejected > 0, "some flips hit roots and must be detected at open")
        }
    }

    @Test func flippedDataBitIsDetectedOnRead() async throws {
        try await withTemporaryDirectory { base in
            _ = try await Self.snapshot(into: base)
            let dir = base.appendingPathComponent("snapshot")
            try flipBit(in: dir.appendingPathComponent("data"), at: 0)
            let feed = try Feed.open(storage: try FileDirectory(path: dir.path))
            await #expect { try await feed.get(0) } throws: { ($0 as? HypercoreError)?.code == .corrupt }
            #expect(try await feed.get(1) == crashBlocks(from: 1, count: 1)[0])
            try await feed.close()
        }
    }

    @Test func emptyOrGarbageOplogIsHandled() async throws {
        try await withTemporaryDirectory { base in
            _ = try await Self.snapshot(into: base)
            // Both header slots destroyed: the feed cannot be trusted any more.
            let outcome = try await Self.variant(base, "headers") { dir in
                let url = dir.appendingPathComponent("oplog")
                var bytes = try [UInt8](Data(contentsOf: url))
                for i in 0..<8192 { bytes[i] = 0xAB }
                try Data(bytes).write(to: url)
            }
            guard case .rejected = outcome else {
                Issue.record("a feed without a valid header opened")
                return
            }
        }
    }

    /// Our header encoding reproduces the JavaScript header bytes exactly.
    @Test func headerRoundTripsJavaScriptBytes() throws {
        let url = FixtureTests.fixtures.appendingPathComponent("basic/core/oplog")
        let bytes = try [UInt8](Data(contentsOf: url))
        for slot in [0, 4096] {
            let word = UInt32(bytes[slot + 4]) | UInt32(bytes[slot + 5]) << 8 | UInt32(bytes[slot + 6]) << 16
            let payload = Array(bytes[(slot + 8)..<(slot + 8 + Int(word >> 2))])
            let header = try CompactDecoder.decode(payload) { try OplogHeader.decode(&$0) }
            #expect(header.encode() == payload)
            #expect(header.manifest == Manifest.defaultCompat(publicKey: header.key))
        }
    }
}
