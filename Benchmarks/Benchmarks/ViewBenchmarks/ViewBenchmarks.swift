import Benchmark
import BenchmarkSupport
import Foundation
import Hypercore
import KappaCore
import KappaTesting
import KappaViews

// The ready-made views (issue "Ready-made views", benchmarks): 100,000 entries through each view, time to
// `ready` with the view attached after the entries were written (set-up outside the measured part), in memory
// and on disk; and query latency at 100,000 entries.

var entriesPerSecond: BenchmarkMetric { itemsPerSecond("entries/s") }

/// A message of a chat: one in ten edits an earlier one; every other one replies to an earlier one.
struct Message: Codable, Sendable {
    var thread: String
    var replyTo: String?
    var body: String
    var edits: [String]
    var x: Double
    var y: Double
}

let total = 100_000
let words = ["kappa", "swift", "actor", "feed", "replica", "view", "index", "merkle", "peer", "log", "berlin", "tree"]

func message(_ i: Int, feed: PublicKey) -> Message {
    let edits = i % 10 == 9 ? [defaultEntryID(feed: feed, seq: UInt64(i - 1))] : []
    let body = (0..<8).map { words[($0 * 7 + i * 13) % words.count] }.joined(separator: " ") + " \(i)"
    return Message(thread: "t\(i % 1_000)", replyTo: i % 2 == 1 ? "t\((i / 2) % 1_000)" : nil, body: body, edits: edits,
                   x: Double(i % 1_000) / 10, y: Double(i / 1_000))
}

/// A database holding `total` messages from one writer.
func makeDatabase(disk: Bool) async throws -> (Kappa<Message>, URL?) {
    let dir = disk ? try TemporaryDirectory.make(prefix: "kappa-views") : nil
    let options = KappaOptions(durability: .relaxed)
    let core = dir == nil ? try await Kappa<Message>(storage: .memory, options: options)
        : try await Kappa<Message>(path: dir!.path, options: options)
    let writer = try await core.writer("w")
    var i = 0
    while i < total {
        try await writer.append(contentsOf: (i..<min(total, i + 1_000)).map { message($0, feed: writer.key) })
        i += 1_000
    }
    return (core, dir)
}

enum Kind: String, CaseIterable { case kv, backrefs, fulltext, spatial }

func attach(_ kind: Kind, to core: Kappa<Message>) async throws -> any Sendable {
    switch kind {
    case .kv:
        let view = KeyValueView<Message> { .init(key: $0.value.thread, links: $0.value.edits) }
        try await core.use("kv", view)
        return view
    case .backrefs:
        let view = BackrefsView<Message> { e in e.value.replyTo.map { .init(refs: [$0], links: e.value.edits) } }
        try await core.use("backrefs", view)
        return view
    case .fulltext:
        let view = FullTextView<Message> { .init(text: $0.value.body, links: $0.value.edits) }
        try await core.use("fulltext", view)
        return view
    case .spatial:
        let view = SpatialView<Message> { .init(point: ($0.value.x, $0.value.y), links: $0.value.edits) }
        try await core.use("spatial", view)
        return view
    }
}

let benchmarks: @Sendable () -> Void = {
    let indexing = Benchmark.Configuration(metrics: [entriesPerSecond, .wallClock], timeUnits: .milliseconds,
                                           warmupIterations: 0, maxDuration: .seconds(60), maxIterations: 3)
    for kind in Kind.allCases {
        for disk in [false, true] {
            Benchmark("index 100,000 through \(kind.rawValue) (\(disk ? "disk" : "memory"))", configuration: indexing) { benchmark in
                let (core, dir) = try await makeDatabase(disk: disk)
                defer { if let dir { try? FileManager.default.removeItem(at: dir) } }
                try await measure(benchmark, items: total, as: entriesPerSecond) {
                    _ = try await attach(kind, to: core)
                    try await core.ready()
                }
                try await core.close()
            }
        }
    }

    // Query latency at 100,000 entries (disk): each sample is one query.
    let queries = Benchmark.Configuration(metrics: [.wallClock], timeUnits: .microseconds, warmupIterations: 10,
                                          maxDuration: .seconds(10), maxIterations: 2_000)
    for kind in Kind.allCases {
        Benchmark("query \(kind.rawValue) at 100,000 (disk)", configuration: queries) { benchmark in
            // Set-up once per benchmark run: the first iteration builds, the others reuse.
            let state = try await QueryState.shared(kind)
            var i = 0
            for _ in benchmark.scaledIterations {
                i &+= 7_919
                switch kind {
                case .kv: blackHole(try (state.view as! KeyValueView<Message>).get("t\(i % 1_000)"))
                case .backrefs: blackHole(try (state.view as! BackrefsView<Message>).get("t\(i % 1_000)"))
                // A selective query (one message's number and a word it holds): ranking every message that holds
                // two common words would measure sorting, not lookup.
                case .fulltext: blackHole(try (state.view as! FullTextView<Message>).search("\(i % total) AND kappa", limit: 10))
                case .spatial:
                    // A 1 × 1 box: about ten points of the 100 × 100 grid of 100,000.
                    let x = Double(i % 990) / 10, y = Double(i % 99)
                    blackHole(try (state.view as! SpatialView<Message>).query(.init(minX: x, minY: y, maxX: x + 1, maxY: y + 1)))
                }
            }
        }
    }
}

/// One indexed database per kind of view for the query benchmarks (built on first use, kept for the run).
actor QueryState {
    static let cache = QueryCache()
    let view: any Sendable
    let core: Kappa<Message>

    init(view: any Sendable, core: Kappa<Message>) {
        self.view = view
        self.core = core
    }

    static func shared(_ kind: Kind) async throws -> QueryState {
        if let state = await cache.get(kind) { return state }
        let (core, _) = try await makeDatabase(disk: true)
        let view = try await attach(kind, to: core)
        try await core.ready()
        let state = QueryState(view: view, core: core)
        await cache.set(kind, state)
        return state
    }
}

actor QueryCache {
    private var states: [Kind: QueryState] = [:]
    func get(_ kind: Kind) -> QueryState? { states[kind] }
    func set(_ kind: Kind, _ state: QueryState) { states[kind] = state }
}
