import Foundation
import KappaCore
import KappaViews
import Testing

// The README's "Ready-made views" examples, compiled and run here.

struct Post: Codable, Sendable {
    var slug: String
    var body: String
    var replyTo: String? = nil
    var replaces: [String] = []
    var lon = 0.0, lat = 0.0
}

@Suite struct ViewSnippets {
    @Test func keyValue() async throws {
        let core = try await Kappa<Post>(storage: .memory)
        // snippet: view-kv
        let posts = KeyValueView<Post> { entry in .init(key: entry.value.slug, links: entry.value.replaces) }
        try await core.use("posts", posts)
        let alice = try await core.writer("alice")
        try await alice.append(Post(slug: "hello", body: "Hello!"))
        let first = defaultEntryID(feed: alice.key, seq: 0)                     // "<feed key hex>@0"
        try await alice.append(Post(slug: "hello", body: "Hello, world!", replaces: [first]))
        try await core.ready("posts")
        print(try posts.get("hello").map(\.value.body))                        // ["Hello, world!"]
        // snippet: end
        #expect(try posts.get("hello").map(\.value.body) == ["Hello, world!"])
        try await core.close()
    }

    @Test func backrefs() async throws {
        let core = try await Kappa<Post>(storage: .memory)
        let alice = try await core.writer("alice")
        // snippet: view-backrefs
        let replies = BackrefsView<Post> { entry in
            entry.value.replyTo.map { .init(refs: [$0], links: entry.value.replaces) }   // nil: not a reply
        }
        try await core.use("replies", replies)
        try await alice.append(Post(slug: "q", body: "Anyone in Berlin?"))
        try await alice.append(Post(slug: "a", body: "Yes, Kreuzberg", replyTo: "q"))
        try await core.ready("replies")
        print(try replies.get("q").map(\.value.body))                   // ["Yes, Kreuzberg"]
        // snippet: end
        #expect(try replies.get("q").map(\.value.body) == ["Yes, Kreuzberg"])
        try await core.close()
    }

    @Test func fullText() async throws {
        let core = try await Kappa<Post>(storage: .memory)
        let alice = try await core.writer("alice")
        // snippet: view-fulltext
        let search = FullTextView<Post> { entry in .init(text: entry.value.body, links: entry.value.replaces) }
        try await core.use("search", search)
        try await alice.append(Post(slug: "q", body: "Anyone in Berlin?"))
        try await alice.append(Post(slug: "t", body: "Berlin, Berlin, we are going to Berlin"))
        try await core.ready("search")
        for hit in try search.search("berlin NOT going", limit: 10) {   // FTS5 syntax, best first
            print(hit.snippet, hit.entry.id)                              // Anyone in [Berlin]? <feed>@0
        }
        // snippet: end
        #expect(try search.search("berlin NOT going", limit: 10).map(\.snippet) == ["Anyone in [Berlin]?"])
        try await core.close()
    }

    @Test func spatial() async throws {
        let core = try await Kappa<Post>(storage: .memory)
        let alice = try await core.writer("alice")
        // snippet: view-spatial
        let map = SpatialView<Post> { entry in .init(point: (entry.value.lon, entry.value.lat), links: entry.value.replaces) }
        try await core.use("map", map)
        try await alice.append(Post(slug: "tv", body: "TV tower", lon: 13.409, lat: 52.521))
        try await alice.append(Post(slug: "pd", body: "Potsdam", lon: 13.064, lat: 52.391))
        try await core.ready("map")
        let center = SpatialView<Post>.Box(minX: 13.3, minY: 52.45, maxX: 13.5, maxY: 52.6)
        print(try map.query(center).map(\.entry.value.body))           // ["TV tower"]
        // snippet: end
        #expect(try map.query(center).map(\.entry.value.body) == ["TV tower"])
        try await core.close()
    }

    @Test func followChanges() async throws {
        let core = try await Kappa<Post>(storage: .memory)
        let posts = KeyValueView<Post> { entry in .init(key: entry.value.slug, links: entry.value.replaces) }
        try await core.use("posts", posts)
        let writer = try await core.writer("w")
        let task = Task { _ = try await writer.append(Post(slug: "hello", body: "Hi")) }
        // snippet: view-changes
        let changes = posts.changes()                      // 1. subscribe
        var hello = try posts.get("hello")                 // 2. read
        for await change in changes where change.key == "hello" {
            hello = change.heads                           // 3. apply: each change carries the key's heads
            if !hello.isEmpty { break }
        }
        // snippet: end
        try await task.value
        #expect(hello.map(\.value.body) == ["Hi"])
        try await core.close()
    }
}
