import Benchmark
import BenchmarkSupport
import Foundation
import Hypercore
import KappaCore
import KappaTesting

/// Entries per second of one run, timed around the measured part only.
var entriesPerSecond: BenchmarkMetric { itemsPerSecond("entries/s") }

/// Throughput only: the malloc interposer that counts allocations slows Foundation's allocation-heavy JSON
/// coding by about 45% (measured), which would misstate what users get. Allocation counts for the feed
/// layer are in FeedBenchmarks.
var configuration: Benchmark.Configuration {
    Benchmark.Configuration(metrics: [entriesPerSecond, .wallClock], timeUnits: .milliseconds,
                            warmupIterations: 1, maxDuration: .seconds(20), maxIterations: 5)
}

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

struct BinarySum: KappaView {
    let store = ViewStore()
    func map(_ entries: [KappaEntry<[UInt8]>], _ transaction: ViewTransaction) throws {
        var sum: Int = try transaction.get("sum") ?? 0
        for entry in entries {
            sum += entry.value.withUnsafeBytes { Int(Int64(littleEndian: $0.loadUnaligned(as: Int64.self))) }
        }
        try transaction.put("sum", sum)
    }
}

enum Place: String, CaseIterable {
    case memory, disk
}

let total = 100_000
let writers = 4

func withCore<Value: Codable & Sendable>(
    _ place: Place, encoding: ValueEncoding<Value>, _ body: (Kappa<Value>) async throws -> Void
) async throws {
    switch place {
    case .memory:
        let core = try await Kappa<Value>(storage: .memory, encoding: encoding)
        try await body(core)
        try await core.close()
    case .disk:
        let dir = try TemporaryDirectory.make(prefix: "kappa-bench")
        defer { try? FileManager.default.removeItem(at: dir) }
        let core = try await Kappa<Value>(path: dir.path, encoding: encoding, options: KappaOptions(durability: .relaxed))
        try await body(core)
        try await core.close()
    }
}

/// Appends `total` values over `writers` writers, in batches of 1,000 per writer.
func fill<Value: Codable & Sendable>(_ core: Kappa<Value>, _ make: (Int) -> Value) async throws {
    var handles = [KappaWriter<Value>]()
    for w in 0..<writers { handles.append(try await core.writer("w\(w)")) }
    var i = 0
    while i < total {
        for handle in handles where i < total {
            let count = min(1_000, total - i)
            try await handle.append(contentsOf: (i..<(i + count)).map(make))
            i += count
        }
    }
}

func binary(_ n: Int) -> [UInt8] {
    withUnsafeBytes(of: Int64(n).littleEndian) { Array($0) }
}

let benchmarks: @Sendable () -> Void = {
    for place in Place.allCases {
        Benchmark("(a) index 100,000 existing, JSON, 4 writers (\(place.rawValue))", configuration: configuration) { benchmark in
            try await withCore(place, encoding: ValueEncoding<Entry>.json) { core in
                try await fill(core) { Entry(n: $0) }
                try await measure(benchmark, items: total, as: entriesPerSecond) {
                    try await core.use("sum", JSONSum())
                    try await core.ready("sum")
                }
            }
        }
        Benchmark("(a) index 100,000 existing, binary, 4 writers (\(place.rawValue))", configuration: configuration) { benchmark in
            try await withCore(place, encoding: ValueEncoding<[UInt8]>.binary) { core in
                try await fill(core, binary)
                try await measure(benchmark, items: total, as: entriesPerSecond) {
                    try await core.use("sum", BinarySum())
                    try await core.ready("sum")
                }
            }
        }
        Benchmark("(b) append + index 100,000, JSON, 4 writers (\(place.rawValue))", configuration: configuration) { benchmark in
            try await withCore(place, encoding: ValueEncoding<Entry>.json) { core in
                try await core.use("sum", JSONSum())
                try await measure(benchmark, items: total, as: entriesPerSecond) {
                    try await fill(core) { Entry(n: $0) }
                    try await core.ready("sum")
                }
            }
        }
        Benchmark("(b) append + index 100,000, binary, 4 writers (\(place.rawValue))", configuration: configuration) { benchmark in
            try await withCore(place, encoding: ValueEncoding<[UInt8]>.binary) { core in
                try await core.use("sum", BinarySum())
                try await measure(benchmark, items: total, as: entriesPerSecond) {
                    try await fill(core, binary)
                    try await core.ready("sum")
                }
            }
        }
    }
}
