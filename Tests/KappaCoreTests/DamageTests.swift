import Foundation
import Testing
import Hypercore
import KappaTesting
@testable import KappaCore

/// Damage is local: a feed that does not open, a stray entry under `feeds/`, or a block that does not read
/// is reported with its key, directory and block, and the rest of the database keeps working.
@Suite(.timeLimit(.minutes(2))) struct DamageTests {
    /// Reads errors until `count` arrived or `seconds` passed.
    static func collect(_ errors: AsyncStream<KappaError>, count: Int, seconds: Double = 5) async -> [KappaError] {
        await withTaskGroup(of: [KappaError].self) { group in
            group.addTask {
                var out = [KappaError]()
                for await error in errors {
                    out.append(error)
                    if out.count == count { break }
                }
                return out
            }
            group.addTask {
                try? await Task.sleep(for: .seconds(seconds))
                return []
            }
            var result = [KappaError]()
            for await partial in group {
                if !partial.isEmpty || result.isEmpty { result = partial }
                group.cancelAll()
                break
            }
            return result
        }
    }

    /// Three writers with `count` entries of value 1 each; returns their feed keys by name.
    static func makeDatabase(_ path: String, count: Int = 20) async throws -> [String: Feed] {
        let core = try await Kappa<Int>(path: path, options: KappaOptions(durability: .relaxed))
        var feeds = [String: Feed]()
        for name in ["a", "b", "c"] {
            let writer = try await core.writer(name)
            try await writer.append(contentsOf: Array(repeating: 1, count: count))
            feeds[name] = writer.feed
        }
        try await core.close()
        return feeds
    }

    @Test func damagedFeedsAndStrayEntriesDoNotTakeTheDatabaseDown() async throws {
        try await withTemporaryDirectory { dir in
            let feeds = try await Self.makeDatabase(dir.path)
            let feedsDir = dir.appendingPathComponent("feeds")
            func directory(_ name: String) -> URL { feedsDir.appendingPathComponent(feeds[name]!.discoveryKey.hex) }
            // a: its tree zeroed; b: its oplog gone; a stray folder with a garbage oplog, and a stray file.
            let tree = directory("a").appendingPathComponent("tree")
            let size = try FileManager.default.attributesOfItem(atPath: tree.path)[.size] as! Int
            try Data(count: size).write(to: tree)
            try FileManager.default.removeItem(at: directory("b").appendingPathComponent("oplog"))
            let junk = feedsDir.appendingPathComponent("junk")
            try FileManager.default.createDirectory(at: junk, withIntermediateDirectories: true)
            try Data((0..<9000).map { UInt8(truncatingIfNeeded: $0 * 7) }).write(to: junk.appendingPathComponent("oplog"))
            try Data("notes".utf8).write(to: feedsDir.appendingPathComponent("notes.txt"))

            let core = try await Kappa<Int>(path: dir.path, options: KappaOptions(durability: .relaxed))
            let errors = await Self.collect(core.errors, count: 4)
            let text = errors.map { "\($0)" }
            #expect(errors.allSatisfy { $0.code == .damagedFeed }, "\(text)")
            #expect(text.contains { $0.contains(feeds["a"]!.key.hex) && $0.contains(directory("a").path) }, "\(text)")
            #expect(text.contains { $0.contains(feeds["b"]!.key.hex) && $0.contains(directory("b").path) }, "\(text)")
            #expect(text.contains { $0.contains(junk.path) }, "\(text)")
            #expect(text.contains { $0.contains("notes.txt") }, "\(text)")

            let info = await core.info()
            #expect(info.count == 3)
            #expect(info.first { $0.key == feeds["a"]!.key }?.isAvailable == false)
            #expect(info.first { $0.key == feeds["b"]!.key }?.writerName == "b")
            #expect(info.first { $0.key == feeds["c"]!.key }?.isAvailable == true)
            #expect(await core.feeds().map(\.key) == [feeds["c"]!.key])

            await #expect { try await core.writer("a") } throws: { ($0 as? KappaError)?.code == .feedUnavailable }
            let sum = SumView()
            try await core.use("sum", sum)
            try await core.ready("sum")
            #expect(try sum.value == 20)
            try await core.writer("c").append(5)
            try await core.writer("d").append(7)
            try await core.ready("sum")
            #expect(try sum.value == 32)
            try await core.close()
        }
    }

    @Test func aCorruptBlockHoldsBackOnlyItsFeed() async throws {
        try await withTemporaryDirectory { dir in
            let feeds = try await Self.makeDatabase(dir.path)
            let data = dir.appendingPathComponent("feeds/\(feeds["a"]!.discoveryKey.hex)/data")
            try flipBit(in: data, at: 5)  // each entry is the one byte "1": block 5 of feed a

            let core = try await Kappa<Int>(path: dir.path, options: KappaOptions(durability: .relaxed))
            let sum = SumView()
            try await core.use("sum", sum)
            try await core.ready("sum")
            #expect(try sum.value == 5 + 20 + 20)
            let errors = await Self.collect(core.errors, count: 1)
            let error = try #require(errors.first)
            #expect(error.code == .damagedFeed)
            #expect("\(error)".contains(feeds["a"]!.key.hex) && "\(error)".contains(data.path) && "\(error)".contains("block 5"),
                    "\(error)")
            #expect(await core.info().first { $0.key == feeds["a"]!.key }?.heldBackAt == 5)

            // The other feeds keep flowing.
            try await core.writer("b").append(contentsOf: [2, 3])
            try await core.ready("sum")
            #expect(try sum.value == 50)
            try await core.close()
        }
    }

    @Test func writerNamesSurviveALostStore() async throws {
        try await withTemporaryDirectory { dir in
            let feeds = try await Self.makeDatabase(dir.path, count: 3)
            for suffix in ["", "-wal", "-shm"] {
                try? FileManager.default.removeItem(at: dir.appendingPathComponent("views.sqlite" + suffix))
            }
            let core = try await Kappa<Int>(path: dir.path, options: KappaOptions(durability: .relaxed))
            for name in ["a", "b", "c"] {
                let writer = try await core.writer(name)
                #expect(writer.key == feeds[name]!.key, "writer \(name)")
                #expect(await writer.feed.length == 3)
            }
            #expect(await core.writerNames() == ["a", "b", "c"])
            #expect(await core.feeds().count == 3)
            try await core.close()
        }
    }
}
