import Foundation
import Testing
import KappaTesting
@testable import Hypercore

@Suite struct FeedTests {
    @Test func appendAndGetInMemory() async throws {
        let feed = try Feed.create()
        #expect(await feed.length == 0)
        #expect(try await feed.append(Array("hello".utf8)) == 0)
        #expect(try await feed.append(contentsOf: [Array("a".utf8), [], Array("ccc".utf8)]) == 1..<4)
        #expect(await feed.length == 4)
        #expect(await feed.byteLength == 9)
        #expect(try await feed.get(0) == Array("hello".utf8))
        #expect(try await feed.get(2) == [])
        #expect(try await feed.get(3) == Array("ccc".utf8))
        #expect(try await feed.getBatch(from: 1, limit: 10) == [Array("a".utf8), [], Array("ccc".utf8)])
        #expect(await feed.has(3))
        #expect(!(await feed.has(4)))
        await #expect(throws: HypercoreError.self) { try await feed.get(4) }
        let signature = try #require(await feed.signature)
        let signable = Caps.treeSignableCompat(treeHash: await feed.treeHash, length: 4, fork: 0)
        #expect(Signer.verify(signature, signable, publicKey: feed.key))
    }

    @Test func emptyBatchAppendsNothing() async throws {
        let feed = try Feed.create()
        #expect(try await feed.append(contentsOf: []) == 0..<0)
        #expect(await feed.length == 0)
    }

    @Test(arguments: [Durability.durable, .relaxed])
    func reopenFromDisk(durability: Durability) async throws {
        try await withTemporaryDirectory { dir in
            let storage = try FileDirectory(path: dir.path)
            let options = FeedOptions(durability: durability, checkpointBytes: 4096)
            let feed = try Feed.create(storage: storage, options: options)
            let blocks = patternBlocks(count: 300, size: 37)
            for block in blocks.prefix(100) { try await feed.append(block) }
            try await feed.append(contentsOf: Array(blocks[100...]))
            let key = feed.key
            let hash = await feed.treeHash
            // Not closed: the oplog holds the tail since the last checkpoint.
            try await feed.close()

            let reopened = try Feed.open(storage: try FileDirectory(path: dir.path), options: options)
            #expect(reopened.key == key)
            #expect(reopened.writable)
            #expect(await reopened.length == 300)
            #expect(await reopened.treeHash == hash)
            for (i, block) in blocks.enumerated() { #expect(try await reopened.get(UInt64(i)) == block) }
            #expect(try await reopened.append([1, 2, 3]) == 300)
            try await reopened.close()
        }
    }

    @Test func reopenReplaysOplogWithoutClose() async throws {
        let storage = MemoryDirectory()
        let feed = try Feed.create(storage: storage)
        for block in patternBlocks(count: 50) { try await feed.append(block) }
        let hash = await feed.treeHash
        // Reopen the same memory files without closing (as after a crash): the oplog is replayed.
        #expect(try #require(storage.storage("oplog")).bytes.count > 8192, "the oplog holds entries")
        let reopened = try Feed.open(storage: storage)
        #expect(await reopened.length == 50)
        #expect(await reopened.treeHash == hash)
        #expect(try await reopened.get(49) == patternBlocks(count: 1, from: 49)[0])
    }

    @Test func secondOpenIsLocked() async throws {
        try await withTemporaryDirectory { dir in
            let feed = try Feed.create(storage: try FileDirectory(path: dir.path))
            #expect {
                _ = try Feed.open(storage: try FileDirectory(path: dir.path))
            } throws: { ($0 as? StorageError)?.code == .locked }
            try await feed.close()
            let again = try Feed.open(storage: try FileDirectory(path: dir.path))
            try await again.close()
        }
    }

    @Test func readOnlyAndClosedFeedsThrow() async throws {
        let writer = try Feed.create()
        let replica = try Feed.replica(key: writer.key)
        #expect(!replica.writable)
        await #expect { try await replica.append([1]) } throws: { ($0 as? HypercoreError)?.code == .readOnly }
        try await writer.close()
        await #expect { try await writer.append([1]) } throws: { ($0 as? HypercoreError)?.code == .closed }
        await #expect { try await writer.get(0) } throws: { ($0 as? HypercoreError)?.code == .closed }
    }

    @Test func wrongKeyIsRejected() async throws {
        let storage = MemoryDirectory()
        let feed = try Feed.create(storage: storage)
        try await feed.append([1])
        try await feed.close()
        #expect { _ = try Feed.open(storage: storage, key: KeyPair.random().publicKey) } throws: {
            ($0 as? HypercoreError)?.code == .wrongKey
        }
        #expect { _ = try Feed.open(storage: storage, keyPair: KeyPair.random()) } throws: {
            ($0 as? HypercoreError)?.code == .wrongKey
        }
        #expect(throws: HypercoreError.self) { _ = try Feed.create(storage: storage) }
    }

    @Test(.timeLimit(.minutes(1)))
    func liveEntriesSeeAppends() async throws {
        let feed = try Feed.create()
        try await feed.append(contentsOf: [[0], [1]])
        let reader = Task {
            var seen = [UInt8]()
            for try await entry in feed.entries(from: 0, live: true) {
                #expect(entry.seq == UInt64(entry.value[0]))
                seen.append(entry.value[0])
                if seen.count == 5 { break }
            }
            return seen
        }
        try await Task.sleep(for: .milliseconds(50))
        try await feed.append([2])
        try await feed.append(contentsOf: [[3], [4], [5]])
        #expect(try await reader.value == [0, 1, 2, 3, 4])
    }

    @Test(.timeLimit(.minutes(1)))
    func cancellingEndsLiveEntries() async throws {
        let feed = try Feed.create()
        let reader = Task {
            var count = 0
            for try await _ in feed.entries(live: true) { count += 1 }
            return count
        }
        try await Task.sleep(for: .milliseconds(50))
        reader.cancel()
        #expect(try await reader.value == 0)
    }

    @Test(.timeLimit(.minutes(1)))
    func closingEndsLiveEntries() async throws {
        let feed = try Feed.create()
        try await feed.append([9])
        let reader = Task {
            var values = [[UInt8]]()
            for try await entry in feed.entries(live: true) { values.append(entry.value) }
            return values
        }
        try await Task.sleep(for: .milliseconds(50))
        try await feed.close()
        #expect(try await reader.value == [[9]])
    }

    @Test func finiteEntriesEndAtLength() async throws {
        let feed = try Feed.create()
        let blocks = patternBlocks(count: 600, size: 10)
        try await feed.append(contentsOf: blocks)
        var collected = [[UInt8]]()
        for try await entry in feed.entries(from: 100) { collected.append(entry.value) }
        #expect(collected == Array(blocks[100...]))
    }

    @Test(.timeLimit(.minutes(1)))
    func coalescedAppendsKeepEachCallContiguous() async throws {
        try await withTemporaryDirectory { dir in
            let feed = try Feed.create(storage: try FileDirectory(path: dir.path))
            let results = try await withThrowingTaskGroup(of: [(Range<UInt64>, [[UInt8]])].self) { group in
                for writer in 0..<8 {
                    group.addTask {
                        var out = [(Range<UInt64>, [[UInt8]])]()
                        for i in 0..<10 {
                            let blocks = (0..<(1 + i % 4)).map { [UInt8(writer), UInt8(i), UInt8($0)] }
                            out.append((try await feed.append(contentsOf: blocks), blocks))
                        }
                        return out
                    }
                }
                return try await group.reduce(into: []) { $0 += $1 }
            }
            try await feed.close()
            let reopened = try Feed.open(storage: try FileDirectory(path: dir.path))
            var covered = Set<UInt64>()
            for (range, blocks) in results {
                #expect(range.count == blocks.count)
                for (offset, seq) in range.enumerated() {
                    #expect(try await reopened.get(seq) == blocks[offset])
                    covered.insert(seq)
                }
            }
            #expect(covered.count == Int(await reopened.length))
            try await reopened.close()
        }
    }

    @Test(.timeLimit(.minutes(1)))
    func concurrentDurableAppendsShareFlushes() async throws {
        try await withTemporaryDirectory { dir in
            let feed = try Feed.create(storage: try FileDirectory(path: dir.path))
            try await withThrowingTaskGroup(of: Void.self) { group in
                for writer in 0..<16 {
                    group.addTask {
                        for i in 0..<20 { try await feed.append([UInt8(writer), UInt8(i)]) }
                    }
                }
                try await group.waitForAll()
            }
            #expect(await feed.length == 320)
            var seen = Set<[UInt8]>()
            for i in 0..<UInt64(320) { seen.insert(try await feed.get(i)) }
            #expect(seen.count == 320)
            try await feed.close()
        }
    }
}
