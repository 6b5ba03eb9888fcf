import Foundation
import Synchronization
import Testing
import Hypercore
import KappaCore
import KappaTesting
import KappaViews

/// A document for the tests: its own id, the key it sets, the ids it supersedes.
struct Doc: Codable, Sendable, Equatable {
    var id: String
    var key: String
    var links: [String] = []
}

/// A deterministic generator (SplitMix64), so a failing seed can be replayed.
struct SeededGenerator: RandomNumberGenerator {
    var state: UInt64
    mutating func next() -> UInt64 {
        state &+= 0x9E37_79B9_7F4A_7C15
        var z = state
        z = (z ^ (z >> 30)) &* 0xBF58_476D_1CE4_E5B9
        z = (z ^ (z >> 27)) &* 0x94D0_49BB_1331_11EB
        return z ^ (z >> 31)
    }
}

@Suite(.timeLimit(.minutes(5))) struct KeyValueViewTests {
    static func view(maxBatch: Int = 100) -> KeyValueView<Doc> {
        KeyValueView<Doc>(maxBatch: maxBatch) { entry in .init(key: entry.value.key, id: entry.value.id, links: entry.value.links) }
    }

    static func heads(_ view: KeyValueView<Doc>, _ key: String) throws -> [String] {
        try view.get(key).map(\.id).sorted()
    }

    /// Heads are decoded with the database's decoder, kept by the view's store. It was once re-wrapped in two
    /// conversion thunks on every read (a closure stored in a `Mutex`), so each query ran through a longer chain
    /// than the one before: slower and slower, and a long-running server would overflow its stack. The decoder
    /// here records how deep the stack is when it is called; many queries later it must be called as directly.
    @Test func queriesReachTheDecoderThroughTheSameDepthEveryTime() async throws {
        let depths = Mutex<[Int]>([])
        let json = ValueEncoding<Doc>.json
        let encoding = ValueEncoding<Doc>(encode: json.encode, decode: { bytes in
            depths.withLock { $0.append(Thread.callStackReturnAddresses.count) }
            return try json.decode(bytes)
        })
        let core = try await Kappa<Doc>(storage: .memory, encoding: encoding)
        let view = Self.view()
        try await core.use("kv", view)
        try await core.writer("a").append(Doc(id: "x", key: "k"))
        try await core.ready()
        depths.withLock { $0.removeAll() }  // those of indexing
        for _ in 0..<1_000 {
            try #require(try view.get("k").map(\.value) == [Doc(id: "x", key: "k")])
        }
        let seen = depths.withLock { $0 }
        #expect(seen.count == 1_000)
        #expect(seen.first == seen.last, "stack depth at the decoder: first query \(seen.first ?? 0), last \(seen.last ?? 0)")
        try await core.close()
    }

    @Test func forksStayUntilAnEntryLinksBothAndDefaultIdsAreFeedAtSeq() async throws {
        let core = try await Kappa<Doc>(storage: .memory)
        let view = Self.view()
        try await core.use("kv", view)
        let a = try await core.writer("a")
        let b = try await core.writer("b")
        try await a.append(Doc(id: "a0", key: "title"))
        try await b.append(Doc(id: "b0", key: "title", links: ["a0"]))
        try await a.append(Doc(id: "a1", key: "title", links: ["a0"]))  // did not see b0: a fork
        try await core.ready()
        #expect(try Self.heads(view, "title") == ["a1", "b0"])
        let forked = try view.get("title")
        #expect(Set(forked.map(\.feed)) == [a.key, b.key])
        #expect(forked.first { $0.id == "a1" }?.seq == 1 && forked.first { $0.id == "a1" }?.value.links == ["a0"])
        try await b.append(Doc(id: "b1", key: "title", links: ["a1", "b0"]))  // merges
        try await core.ready()
        #expect(try Self.heads(view, "title") == ["b1"])
        #expect(try view.get("never").isEmpty)
        #expect(try view.isLinked("a0") && !view.isLinked("b1"))
        #expect(try view.keys() == ["title"])

        // Default ids.
        let plain = KeyValueView<Doc> { .init(key: $0.value.key, links: $0.value.links) }
        try await core.use("plain", plain)
        try await core.ready("plain")
        #expect(try plain.get("title").map(\.id).sorted()
                == [KeyValueView<Doc>.id(feed: a.key, seq: 0), KeyValueView<Doc>.id(feed: a.key, seq: 1),
                    KeyValueView<Doc>.id(feed: b.key, seq: 0), KeyValueView<Doc>.id(feed: b.key, seq: 1)].sorted())
        try await core.close()
    }

    @Test func selfLinksDeleteAndCyclesLeaveNoHeadAndCrossKeyLinksWorkInEitherOrder() async throws {
        for order in [[0, 1], [1, 0]] {
            let core = try await Kappa<Doc>(storage: .memory)
            let view = Self.view()
            try await core.use("kv", view)
            let w = try await core.writer("w")
            let docs = [Doc(id: "x", key: "one"), Doc(id: "y", key: "two", links: ["x"])]  // y (key two) supersedes x
            for i in order { try await w.append(docs[i]) }
            try await w.append(Doc(id: "gone", key: "three", links: ["gone"]))
            try await w.append(contentsOf: [Doc(id: "p", key: "four", links: ["q"]), Doc(id: "q", key: "four", links: ["p"])])
            try await core.ready()
            #expect(try view.get("one").isEmpty, "order \(order)")
            #expect(try Self.heads(view, "two") == ["y"])
            #expect(try view.get("three").isEmpty)
            #expect(try view.get("four").isEmpty)
            try await core.close()
        }
    }

    /// 1,000 random link graphs, each fed in a random order, over random writers and batch sizes: the heads are
    /// always the model's (the docs of the key nothing links to).
    @Test func headsNeverDependOnArrivalOrder() async throws {
        var random = SeededGenerator(state: 0x6b76)
        for graph in 0..<1_000 {
            let count = Int.random(in: 1...14, using: &random)
            let keys = ["k0", "k1", "k2"].prefix(Int.random(in: 1...3, using: &random))
            var docs: [Doc] = []
            for i in 0..<count {
                var links: [String] = []
                for _ in 0..<Int.random(in: 0...3, using: &random) {
                    // Mostly earlier docs; sometimes later ones, itself, or an id that never comes.
                    let roll = Int.random(in: 0..<10, using: &random)
                    if roll < 6, i > 0 { links.append("d\(Int.random(in: 0..<i, using: &random))") }
                    else if roll < 8 { links.append("d\(Int.random(in: 0..<count, using: &random))") }
                    else if roll < 9 { links.append("d\(i)") }
                    else { links.append("missing\(Int.random(in: 0..<3, using: &random))") }
                }
                docs.append(Doc(id: "d\(i)", key: keys.randomElement(using: &random)!, links: links))
            }
            let linked = Set(docs.flatMap(\.links))
            let core = try await Kappa<Doc>(storage: .memory)
            let view = Self.view(maxBatch: Int.random(in: 1...6, using: &random))
            try await core.use("kv", view)
            let writers = [try await core.writer("a"), try await core.writer("b"), try await core.writer("c")]
            var pending = docs.shuffled(using: &random)[...]
            while !pending.isEmpty {
                let n = Int.random(in: 1...pending.count, using: &random)
                try await writers.randomElement(using: &random)!.append(contentsOf: Array(pending.prefix(n)))
                pending = pending.dropFirst(n)
            }
            try await core.ready()
            for key in keys {
                let expected = docs.filter { $0.key == key && !linked.contains($0.id) }.map(\.id).sorted()
                let actual = try Self.heads(view, key)
                #expect(actual == expected, "graph \(graph): key \(key) docs \(docs)")
                if actual != expected { return }
            }
            try await core.close()
        }
    }

    @Test func invalidRecordsAreReportedAndSkippedAndTheViewGoesOn() async throws {
        let core = try await Kappa<Doc>(storage: .memory)
        struct Refused: Error {}
        let view = KeyValueView<Doc>(maxBatch: 3) { entry in
            if entry.value.key == "throw" { throw Refused() }
            return .init(key: entry.value.key, id: entry.value.id, links: entry.value.links)
        }
        try await core.use("kv", view)
        let w = try await core.writer("w")
        try await w.append(contentsOf: [
            Doc(id: "ok1", key: "k"),
            Doc(id: "", key: "k"),                      // empty id
            Doc(id: "e", key: ""),                      // empty key
            Doc(id: "l", key: "k", links: [""]),        // empty link
            Doc(id: "ok1", key: "k"),                   // id taken
            Doc(id: "t", key: "throw"),                 // the record function throws
            Doc(id: "ok2", key: "k", links: ["ok1"]),
        ])
        try await core.ready()
        #expect(try Self.heads(view, "k") == ["ok2"])
        var reported: [KappaError] = []
        for await error in core.errors {
            reported.append(error)
            if reported.count == 5 { break }
        }
        #expect(reported.allSatisfy { $0.code == .invalidEntry && $0.message.contains("view kv") })
        #expect(Set(reported.compactMap { $0.message.split(separator: "entry ").last?.split(separator: ":").first })
                == ["1", "2", "3", "4", "5"])
        try await core.close()
    }

    @Test func aVersionBumpDropsTheTablesAndRebuildsAndDataPersistsOnDisk() async throws {
        try await withTemporaryDirectory { dir in
            try await Kappa<Doc>.withCore(at: dir.path) { core in
                let view = Self.view()
                try await core.use("kv", version: 1, view)
                try await core.writer("w").append(contentsOf: [Doc(id: "a", key: "k"), Doc(id: "b", key: "k", links: ["a"])])
                try await core.ready()
                #expect(try Self.heads(view, "k") == ["b"])
            }
            try await Kappa<Doc>.withCore(at: dir.path) { core in
                let view = Self.view()
                try await core.use("kv", version: 1, view)
                #expect(try Self.heads(view, "k") == ["b"])  // from disk, before any indexing
                try await core.ready()
                #expect(try view.keys() == ["k"])
            }
            try await Kappa<Doc>.withCore(at: dir.path) { core in
                // Version 2 indexes only "a" as a head: its record ignores links.
                let view = KeyValueView<Doc> { .init(key: $0.value.key, id: $0.value.id) }
                try await core.use("kv", version: 2, view)
                try await core.ready()
                #expect(try view.get("k").map(\.id).sorted() == ["a", "b"])
                #expect(try !view.isLinked("a"))
            }
        }
    }
}
