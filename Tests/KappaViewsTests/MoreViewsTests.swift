import Foundation
import Testing
import Hypercore
import KappaCore
import KappaTesting
import KappaViews

/// A reply: an id, the ids it refers to, the ids it supersedes.
struct Ref: Codable, Sendable {
    var id: String
    var refs: [String] = []
    var links: [String] = []
}

/// A place: an id, coordinates, the ids it supersedes.
struct Place: Codable, Sendable {
    var id: String
    var x: Double
    var y: Double
    var links: [String] = []
}

/// A note with text.
struct Note: Codable, Sendable {
    var id: String
    var body: String
    var links: [String] = []
}

@Suite(.timeLimit(.minutes(5))) struct MoreViewsTests {
    // MARK: Back-references

    static func backrefs(maxBatch: Int = 100) -> BackrefsView<Ref> {
        BackrefsView<Ref>(maxBatch: maxBatch) { .init(id: $0.value.id, refs: $0.value.refs, links: $0.value.links) }
    }

    @Test func backrefsListReferrersThatAreNotSupersededAndASelfLinkDeletes() async throws {
        let core = try await Kappa<Ref>(storage: .memory)
        let view = Self.backrefs()
        try await core.use("refs", view)
        let w = try await core.writer("w")
        try await w.append(contentsOf: [
            Ref(id: "post"),
            Ref(id: "r1", refs: ["post"]),
            Ref(id: "r2", refs: ["post"]),
            Ref(id: "r1b", refs: ["post"], links: ["r1"]),  // an edit of r1
            Ref(id: "r2", refs: ["post"], links: ["r2"]),   // a taken id: reported, skipped
            Ref(id: "d", links: ["r2"]),                     // deletes r2 (by superseding it)
            Ref(id: "other", refs: ["elsewhere"]),
        ])
        try await core.ready()
        #expect(try view.get("post").map(\.id) == ["r1b"])
        #expect(try view.get("elsewhere").map(\.id) == ["other"])
        #expect(try view.get("nobody").isEmpty)
        let reported = try #require(await core.errors.first { _ in true })
        #expect(reported.code == .invalidEntry && reported.message.contains("already used"))
        try await core.close()
    }

    @Test func backrefsNeverDependOnArrivalOrder() async throws {
        var random = SeededGenerator(state: 0xbac)
        for graph in 0..<300 {
            let count = Int.random(in: 1...12, using: &random)
            var docs: [Ref] = []
            for i in 0..<count {
                let refs = (0..<Int.random(in: 0...2, using: &random)).map { _ in "t\(Int.random(in: 0..<3, using: &random))" }
                let links = (0..<Int.random(in: 0...2, using: &random)).map { _ in "d\(Int.random(in: 0..<count, using: &random))" }
                docs.append(Ref(id: "d\(i)", refs: refs, links: links))
            }
            let linked = Set(docs.flatMap(\.links))
            let core = try await Kappa<Ref>(storage: .memory)
            let view = Self.backrefs(maxBatch: Int.random(in: 1...5, using: &random))
            try await core.use("refs", view)
            let w = try await core.writer("w")
            try await w.append(contentsOf: docs.shuffled(using: &random))
            try await core.ready()
            for target in ["t0", "t1", "t2"] {
                let expected = docs.filter { $0.refs.contains(target) && !linked.contains($0.id) }.map(\.id).sorted()
                #expect(try view.get(target).map(\.id) == expected, "graph \(graph) \(target): \(docs)")
            }
            try await core.close()
        }
    }

    // MARK: Full text

    @Test func fullTextRanksMatchesWithSnippetsAndSupersededEntriesLeaveTheIndex() async throws {
        let core = try await Kappa<Note>(storage: .memory)
        let view = FullTextView<Note> { .init(id: $0.value.id, text: $0.value.body, links: $0.value.links) }
        try await core.use("search", view)
        let w = try await core.writer("w")
        try await w.append(contentsOf: [
            Note(id: "a", body: "Kappa is a peer-to-peer database; kappa views are derived from logs."),
            Note(id: "b", body: "Swift actors make kappa safe."),
            Note(id: "c", body: "Nothing about it here."),
            Note(id: "old", body: "an obsolete kappa note"),
            Note(id: "new", body: "a fresh replacement", links: ["old"]),
        ])
        try await core.ready()
        let hits = try view.search("kappa")
        #expect(Set(hits.map(\.entry.id)) == ["a", "b"])  // "old" was superseded
        #expect(hits.map(\.rank) == hits.map(\.rank).sorted())  // best (lowest BM25) first
        #expect(hits.first { $0.entry.id == "a" }?.snippet.contains("[Kappa]") == true)
        #expect(try view.search("replacement").map(\.entry.id) == ["new"])
        #expect(try view.search("swift AND actors").first?.entry.value.body == "Swift actors make kappa safe.")
        let error = #expect(throws: KappaError.self) { try view.search("\"unbalanced") }
        #expect(error?.code == .invalidQuery)
        try await core.close()
    }

    // MARK: Spatial

    @Test func spatialQueriesReturnIntersectingNonSupersededEntriesAndBadCoordinatesAreReported() async throws {
        let core = try await Kappa<Place>(storage: .memory)
        let view = SpatialView<Place> { entry in
            if entry.value.id == "inverted" {  // a box whose minimum exceeds its maximum
                return .init(id: entry.value.id, box: .init(minX: 1, minY: 0, maxX: 0, maxY: 1))
            }
            return .init(id: entry.value.id, point: (entry.value.x, entry.value.y), links: entry.value.links)
        }
        try await core.use("map", view)
        let w = try await core.writer("w")
        try await w.append(contentsOf: [
            Place(id: "berlin", x: 13.40, y: 52.52),
            Place(id: "potsdam", x: 13.06, y: 52.39),
            Place(id: "moved", x: 0, y: 0),
            Place(id: "moved2", x: 13.45, y: 52.50, links: ["moved"]),
            Place(id: "fork", x: 13.41, y: 52.51, links: ["moved"]),   // another edit of "moved": both stay
            Place(id: "inverted", x: 0, y: 0),
            Place(id: "edge", x: 13.5, y: 52.6),                          // on the query box's corner
        ])
        try await core.ready()
        let box = SpatialView<Place>.Box(minX: 13.3, minY: 52.4, maxX: 13.5, maxY: 52.6)
        #expect(try view.query(box).map(\.entry.id) == ["berlin", "edge", "fork", "moved2"])
        #expect(try view.query(.init(minX: -1, minY: -1, maxX: 1, maxY: 1)).isEmpty)  // "moved" was superseded
        #expect(try view.query(.init(point: 13.06, 52.39)).map(\.entry.id) == ["potsdam"])
        let error = #expect(throws: KappaError.self) { try view.query(.init(minX: 1, minY: 0, maxX: 0, maxY: 1)) }
        #expect(error?.code == .invalidQuery)
        let reported = try #require(await core.errors.first { _ in true })
        #expect(reported.code == .invalidEntry && reported.message.contains("entry 5"))
        try await core.close()
    }

    // MARK: Live changes

    @Test func changesArriveAfterEachCommitWithTheNewState() async throws {
        let core = try await Kappa<Doc>(storage: .memory)
        let view = KeyValueViewTests.view()
        try await core.use("kv", view)
        var changes = view.changes().makeAsyncIterator()   // subscribe first, then read
        #expect(try view.get("title").isEmpty)
        let w = try await core.writer("w")
        try await w.append(Doc(id: "a", key: "title"))
        let first = try #require(await changes.next())
        #expect(first.key == "title" && first.heads.map(\.id) == ["a"])
        try await w.append(Doc(id: "b", key: "title", links: ["a"]))
        let second = try #require(await changes.next())
        #expect(second.heads.map(\.id) == ["b"])
        try await core.close()
    }

    @Test func spatialAndFullTextChangesSayWhatEnteredAndLeft() async throws {
        let core = try await Kappa<Place>(storage: .memory)
        let map = SpatialView<Place> { .init(id: $0.value.id, point: ($0.value.x, $0.value.y), links: $0.value.links) }
        let text = FullTextView<Place> { .init(id: $0.value.id, text: $0.value.id, links: $0.value.links) }
        try await core.use("map", map)
        try await core.use("text", text)
        var mapChanges = map.changes().makeAsyncIterator()
        var textChanges = text.changes().makeAsyncIterator()
        let w = try await core.writer("w")
        try await w.append(Place(id: "a", x: 1, y: 2))
        let first = try #require(await mapChanges.next())
        #expect(first.added.map(\.entry.id) == ["a"] && first.added.first?.box == .init(point: 1, 2) && first.removed.isEmpty)
        #expect(try #require(await textChanges.next()).added == ["a"])
        try await w.append(Place(id: "b", x: 3, y: 4, links: ["a"]))
        let second = try #require(await mapChanges.next())
        #expect(second.added.map(\.entry.id) == ["b"] && second.removed == ["a"])
        let secondText = try #require(await textChanges.next())
        #expect(secondText.added == ["b"] && secondText.removed == ["a"])
        try await core.close()
    }

    /// The chat of the issue: messages with edits (links), the latest edit per message (kv), replies
    /// (back-references) and search over bodies (full text), all on one database.
    @Test func aChatWithEditsRepliesAndSearch() async throws {
        struct Message: Codable, Sendable {
            var thread: String      // the message this one belongs to (itself for a new message)
            var replyTo: String?
            var body: String
            var edits: [String] = []  // ids this edit supersedes
        }
        let core = try await Kappa<Message>(storage: .memory)
        let latest = KeyValueView<Message> { .init(key: $0.value.thread, links: $0.value.edits) }
        let replies = BackrefsView<Message> { entry in
            entry.value.replyTo.map { .init(refs: [$0], links: entry.value.edits) }
        }
        let search = FullTextView<Message> { .init(text: $0.value.body, links: $0.value.edits) }
        try await core.use("latest", latest)
        try await core.use("replies", replies)
        try await core.use("search", search)
        let alice = try await core.writer("alice")
        let bob = try await core.writer("bob")
        try await alice.append(Message(thread: "m1", replyTo: nil, body: "Who wants to try kappa on Swift?"))
        let m1 = defaultEntryID(feed: alice.key, seq: 0)
        try await bob.append(Message(thread: "r1", replyTo: "m1", body: "Me! Does it replicate?"))
        try await alice.append(Message(thread: "m1", replyTo: nil, body: "Who wants to try kappa in Swift?", edits: [m1]))
        try await bob.append(Message(thread: "r1", replyTo: "m1", body: "Me! Does it replicate over TCP?",
                                     edits: [defaultEntryID(feed: bob.key, seq: 0)]))
        try await core.ready()
        #expect(try latest.get("m1").map(\.value.body) == ["Who wants to try kappa in Swift?"])
        #expect(try replies.get("m1").map(\.value.body) == ["Me! Does it replicate over TCP?"])
        #expect(try search.search("replicate").map(\.entry.value.body) == ["Me! Does it replicate over TCP?"])
        #expect(try search.search("on").isEmpty)  // only the superseded first version said "on Swift"
        try await core.close()
    }
}
