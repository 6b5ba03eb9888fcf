import Benchmark
import BenchmarkSupport
import Foundation
import Hypercore
import KappaCore
import KappaTesting

// How the database's cost grows with the number of feeds (issue "Foundation", section "Cost that grows with
// the number of feeds"). Everything on disk, relaxed durability, JSON values.

struct Entry: Codable, Sendable {
    var n: Int
}

struct JSONSum: KappaView {
    let store = ViewStore()
    func map(_ entries: [KappaEntry<Entry>], _ transaction: ViewTransaction) throws {
        let sum: Int = try transaction.get("sum") ?? 0
        try transaction.put("sum", sum + entries.reduce(0) { $0 + $1.value.n })
    }
}

var entriesPerSecond: BenchmarkMetric { itemsPerSecond("entries/s") }
var feedsPerSecond: BenchmarkMetric { itemsPerSecond("feeds/s") }

let options = KappaOptions(durability: .relaxed)

/// A database directory with `feeds` writers holding `perFeed` entries each, closed.
func makeDatabase(feeds: Int, perFeed: Int) async throws -> URL {
    let dir = try TemporaryDirectory.make(prefix: "kappa-feedcount")
    let core = try await Kappa<Entry>(path: dir.path, options: options)
    for f in 0..<feeds {
        let writer = try await core.writer("w\(f)")
        var i = 0
        while i < perFeed {
            let count = min(1_000, perFeed - i)
            try await writer.append(contentsOf: (i..<(i + count)).map { Entry(n: $0) })
            i += count
        }
    }
    try await core.close()
    return dir
}

let benchmarks: @Sendable () -> Void = {
    let total = 100_000
    for feeds in [1, 10, 100, 1_000] {
        let configuration = Benchmark.Configuration(metrics: [entriesPerSecond, .wallClock], timeUnits: .milliseconds,
                                                    warmupIterations: 0, maxDuration: .seconds(60), maxIterations: 5)
        Benchmark("(c) index 100,000 over \(feeds) feeds, time to ready (disk)", configuration: configuration) { benchmark in
            let dir = try await makeDatabase(feeds: feeds, perFeed: total / feeds)
            defer { try? FileManager.default.removeItem(at: dir) }
            let core = try await Kappa<Entry>(path: dir.path, options: options)
            try await measure(benchmark, items: total, as: entriesPerSecond) {
                try await core.use("sum", JSONSum())
                try await core.ready("sum")
            }
            try await core.close()
        }
    }

    let openClose = Benchmark.Configuration(metrics: [feedsPerSecond, .wallClock], timeUnits: .milliseconds,
                                            warmupIterations: 0, maxDuration: .seconds(30), maxIterations: 3)
    Benchmark("(d) open a database of 1,000 feeds (disk)", configuration: openClose) { benchmark in
        let dir = try await makeDatabase(feeds: 1_000, perFeed: 1)
        defer { try? FileManager.default.removeItem(at: dir) }
        var core: Kappa<Entry>?
        try await measure(benchmark, items: 1_000, as: feedsPerSecond) {
            core = try await Kappa<Entry>(path: dir.path, options: options)
        }
        try await core?.close()
    }
    Benchmark("(d) close an untouched database of 1,000 feeds (disk)", configuration: openClose) { benchmark in
        let dir = try await makeDatabase(feeds: 1_000, perFeed: 1)
        defer { try? FileManager.default.removeItem(at: dir) }
        let core = try await Kappa<Entry>(path: dir.path, options: options)
        try await measure(benchmark, items: 1_000, as: feedsPerSecond) {
            try await core.close()
        }
    }

    let memory = Benchmark.Configuration(metrics: [entriesPerSecond, .wallClock, .peakMemoryResident],
                                         timeUnits: .milliseconds, warmupIterations: 0, maxDuration: .seconds(60),
                                         maxIterations: 1)
    Benchmark("(e) index 1,000 feeds x 1,000 entries, RSS after ready (disk)", configuration: memory) { benchmark in
        let dir = try await makeDatabase(feeds: 1_000, perFeed: 1_000)
        defer { try? FileManager.default.removeItem(at: dir) }
        let core = try await Kappa<Entry>(path: dir.path, options: options)
        try await measure(benchmark, items: 1_000_000, as: entriesPerSecond) {
            try await core.use("sum", JSONSum())
            try await core.ready("sum")
        }
        try await core.close()
    }
    let large = Benchmark.Configuration(metrics: [entriesPerSecond, .wallClock, .peakMemoryResident],
                                        timeUnits: .milliseconds, warmupIterations: 0, maxDuration: .seconds(300),
                                        maxIterations: 1)
    Benchmark("(e) index 10 feeds x 1,000,000 entries, RSS after ready (disk)", configuration: large) { benchmark in
        let dir = try await makeDatabase(feeds: 10, perFeed: 1_000_000)
        defer { try? FileManager.default.removeItem(at: dir) }
        let core = try await Kappa<Entry>(path: dir.path, options: options)
        try await measure(benchmark, items: 10_000_000, as: entriesPerSecond) {
            try await core.use("sum", JSONSum())
            try await core.ready("sum")
        }
        try await core.close()
    }
}
