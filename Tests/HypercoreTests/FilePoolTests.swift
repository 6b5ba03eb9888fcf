import Foundation
import Testing
import KappaTesting
@testable import Hypercore

@Suite struct FilePoolTests {
    @Test(.timeLimit(.minutes(1)))
    func feedsShareABoundedSetOfDescriptors() async throws {
        try await withTemporaryDirectory { dir in
            let pool = FilePool(capacity: 6)
            var feeds = [Feed]()
            for i in 0..<10 {
                let storage = try FileDirectory(path: dir.appendingPathComponent("f\(i)").path, pool: pool)
                feeds.append(try Feed.create(storage: storage, options: .init(checkpointBytes: 512)))
            }
            for round in 0..<30 {
                for (i, feed) in feeds.enumerated() { try await feed.append([UInt8(i), UInt8(round)]) }
                #expect(pool.openCount <= 6)
            }
            for (i, feed) in feeds.enumerated() {
                for round in 0..<30 { #expect(try await feed.get(UInt64(round)) == [UInt8(i), UInt8(round)]) }
            }
            let keys = feeds.map(\.key)
            for feed in feeds { try await feed.close() }
            #expect(pool.openCount == 0)
            for (i, key) in keys.enumerated() {
                let storage = try FileDirectory(path: dir.appendingPathComponent("f\(i)").path, pool: pool)
                let feed = try Feed.open(storage: storage, key: key)
                #expect(await feed.length == 30)
                #expect(try await feed.get(29) == [UInt8(i), 29])
                try await feed.close()
            }
        }
    }
}
