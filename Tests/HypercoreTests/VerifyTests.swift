import Foundation
import Synchronization
import Testing
import Hypercore
import KappaTesting

/// `Feed.verify` re-hashes every block and recomputes every parent node, and names what does not match.
@Suite struct VerifyTests {
    /// A closed feed on disk with `count` blocks of 10 bytes each (block `i` holds `i` repeated).
    static func makeFeed(in dir: URL, count: Int) async throws {
        let feed = try Feed.create(storage: try FileDirectory(path: dir.path))
        try await feed.append(contentsOf: (0..<count).map { [UInt8](repeating: UInt8($0), count: 10) })
        try await feed.close()
    }

    @Test func aCleanFeedVerifies() async throws {
        try await withTemporaryDirectory { dir in
            try await Self.makeFeed(in: dir, count: 100)
            let feed = try Feed.open(storage: try FileDirectory(path: dir.path))
            let progress = ProgressLog()
            let result = try await feed.verify { done, total in progress.record(done, total) }
            #expect(result.isValid && !result.truncated)
            #expect(result.blocksChecked == 100)
            #expect(result.nodesChecked == 100 - 3)  // every parent of a full subtree: 64 + 32 + 4 → 63 + 31 + 3
            #expect(progress.last.map { $0.0 == 100 && $0.1 == 100 } == true)
            try await feed.close()
        }
    }

    @Test func aFlippedByteInDataNamesItsBlock() async throws {
        try await withTemporaryDirectory { dir in
            try await Self.makeFeed(in: dir, count: 100)
            try flipBit(in: dir.appendingPathComponent("data"), at: 37 * 10 + 4)
            let feed = try Feed.open(storage: try FileDirectory(path: dir.path))
            let result = try await feed.verify()
            #expect(result.problems.map(\.block) == [37])
            #expect(result.problems.first?.message.contains("/data") == true)
            #expect(result.problems.first?.message.contains("\(feed.key)") == true)
            try await feed.close()
        }
    }

    @Test func aFlippedByteInALeafOfTheTreeNamesTheParentAboveIt() async throws {
        try await withTemporaryDirectory { dir in
            try await Self.makeFeed(in: dir, count: 100)
            // Node 20 is the leaf of block 10; a node is 40 bytes (size, hash) in the tree file.
            try flipBit(in: dir.appendingPathComponent("tree"), at: 20 * 40 + 8 + 5)
            let feed = try Feed.open(storage: try FileDirectory(path: dir.path))
            let result = try await feed.verify()
            // The block's bytes no longer match its leaf, and the leaf no longer matches its parent (node 21).
            #expect(result.problems.compactMap(\.block) == [10])
            #expect(result.problems.compactMap(\.node) == [21])
            try await feed.close()
        }
    }
}

/// The last progress report.
final class ProgressLog: Sendable {
    private let state = Mutex<(UInt64, UInt64)?>(nil)
    func record(_ done: UInt64, _ total: UInt64) { state.withLock { $0 = (done, total) } }
    var last: (UInt64, UInt64)? { state.withLock { $0 } }
}
