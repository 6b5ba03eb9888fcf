import Foundation
import Testing
import KappaTesting
@testable import Hypercore

/// Per-feed user data (hypercore 10's `setUserData`): header values, pending oplog entries, and the API.
@Suite struct UserDataTests {
    struct Expected: Decodable {
        var key: String
        var length: UInt64
        var treeHash: String
        var userData: [String: String?]
    }

    static func expected() throws -> Expected {
        let url = FixtureTests.fixtures.appendingPathComponent("userdata-pending/expected.json")
        return try JSONDecoder().decode(Expected.self, from: Data(contentsOf: url))
    }

    static func check(_ feed: Feed, _ expected: Expected) async {
        for (key, value) in expected.userData {
            #expect(await feed.userData(key) == value.map { Array($0.utf8) }, "user data \(key)")
        }
    }

    /// JavaScript left user-data changes as oplog entries (it exited before its next header flush): they are
    /// applied on open, and survive the header this side writes.
    @Test func pendingJavaScriptUserDataIsAppliedAndKept() async throws {
        let expected = try Self.expected()
        try await withTemporaryDirectory { dir in
            let core = dir.appendingPathComponent("core")
            try copyDirectory(FixtureTests.fixtures.appendingPathComponent("userdata-pending/core"), to: core)
            let feed = try Feed.open(storage: try FileDirectory(path: core.path))
            #expect(feed.key.hex == expected.key)
            #expect(await feed.length == expected.length)
            #expect(await feed.treeHash.hex == expected.treeHash)
            await Self.check(feed, expected)
            try await feed.close()  // writes a new header holding the replayed user data

            let reopened = try Feed.open(storage: try FileDirectory(path: core.path))
            await Self.check(reopened, expected)
            #expect(await reopened.allUserData.count == expected.userData.values.compactMap { $0 }.count)
            try await reopened.close()
        }
    }

    @Test(arguments: [Durability.durable, .relaxed])
    func setUserDataPersistsWithAndWithoutClose(durability: Durability) async throws {
        try await withTemporaryDirectory { dir in
            do {
                let feed = try Feed.create(storage: try FileDirectory(path: dir.path), options: .init(durability: durability))
                try await feed.append([1])
                try await feed.setUserData("a", [1, 2])
                try await feed.setUserData("b", [3])
                try await feed.setUserData("a", [4])
                try await feed.setUserData("b", nil)
                try await feed.setUserData("c", [])  // empty deletes (nothing to delete)
                #expect(await feed.userData("a") == [4])
                #expect(await feed.userData("b") == nil)
                // Dropped without close: the changes are oplog entries, replayed on open.
            }
            // The dropped feed's lock goes with its last reference, which a flush still running in the background
            // may hold for a moment: wait for it (bounded), as a restarted process would find it free.
            let deadline = ContinuousClock.now + .seconds(60)
            var opened: Feed?
            while opened == nil {
                do {
                    opened = try Feed.open(storage: try FileDirectory(path: dir.path))
                } catch let error as StorageError where error.code == .locked && ContinuousClock.now < deadline {
                    try await Task.sleep(for: .milliseconds(10))
                }
            }
            let feed = try #require(opened)
            #expect(await feed.userData("a") == [4])
            #expect(await feed.userData("b") == nil)
            #expect(await feed.userData("c") == nil)
            #expect(await feed.allUserData.map(\.key) == ["a"])
            try await feed.setUserData("d", Array("x".utf8))
            try await feed.close()
            let again = try Feed.open(storage: try FileDirectory(path: dir.path))
            #expect(await again.allUserData.map(\.key) == ["a", "d"])
            try await again.close()
        }
    }

    @Test func oversizedUserDataIsRefused() async throws {
        let feed = try Feed.create()
        await #expect(throws: HypercoreError.self) {
            try await feed.setUserData("big", [UInt8](repeating: 7, count: 3000))
        }
        #expect(await feed.userData("big") == nil)
    }
}
