import Benchmark
import BenchmarkSupport
import Foundation
import Hypercore
import HypercoreProtocol
import KappaCore
import KappaNIO
import KappaTesting

// Database replication (KappaCore + KappaNIO): database A holds 100,000 JSON entries over several writers; an
// empty database B with a sum view replicates them from A and indexes them. Measured: from connecting until
// B's `ready` returns with the full sum. Set-up (filling A, creating B and attaching its view) and tear-down
// are outside the measured part. Both peers run in this process.

/// Entries per second: 100,000 over the measured time.
var entriesPerSecond: BenchmarkMetric { itemsPerSecond("entries/s") }
/// Milliseconds from connecting until the replication call returned (B holds every block), a part of the
/// measured time; the rest is B's view finishing what was left to index.
var replicatedMilliseconds: BenchmarkMetric {
    .custom("replicated (ms)", polarity: .prefersSmaller, useScalingFactor: false)
}
/// Entries B's view had indexed when the replication call returned.
var indexedWhenReplicated: BenchmarkMetric {
    .custom("indexed when replicated", polarity: .prefersLarger, useScalingFactor: false)
}

/// Throughput and time only: the malloc interposer that counts allocations slows JSON coding (see
/// KappaBenchmarks), and allocation counts of the replication stack are in ReplicationBenchmarks.
var configuration: Benchmark.Configuration {
    Benchmark.Configuration(metrics: [entriesPerSecond, .wallClock, replicatedMilliseconds, indexedWhenReplicated],
                            timeUnits: .milliseconds, warmupIterations: 1, maxDuration: .seconds(60),
                            maxIterations: 5)
}

struct Entry: Codable, Sendable {
    var n: Int
}

struct JSONSum: KappaView {
    let store = ViewStore()
    func map(_ entries: [KappaEntry<Entry>], _ transaction: ViewTransaction) throws {
        let sum: Int = try transaction.get("sum") ?? 0
        let count: Int = try transaction.get("count") ?? 0
        try transaction.put("sum", sum + entries.reduce(0) { $0 + $1.value.n })
        try transaction.put("count", count + entries.count)
    }
    var sum: Int { get throws { try store.get("sum") ?? 0 } }
    var count: Int { get throws { try store.get("count") ?? 0 } }
}

enum Transport: String { case inProcess = "in-process", tcp = "TCP loopback" }
enum Place: String { case memory, disk }

let sharedKey = try! Bytes32([UInt8](repeating: 7, count: 32))

/// A database in memory or in `directory`, with the options KappaBenchmarks uses (relaxed feeds on disk).
func database(_ place: Place, directory: URL, name: String) async throws -> Kappa<Entry> {
    switch place {
    case .memory:
        return try await Kappa<Entry>(storage: .memory, encoding: .json, options: KappaOptions(sharedKey: sharedKey))
    case .disk:
        return try await Kappa<Entry>(path: directory.appendingPathComponent(name).path, encoding: .json,
                                      options: KappaOptions(durability: .relaxed, sharedKey: sharedKey))
    }
}

/// Appends `writers × perWriter` entries `{"n": i}` (i = 0, 1, …) to `core`, in batches of up to 1,000 per writer.
func fill(_ core: Kappa<Entry>, writers: Int, perWriter: Int) async throws {
    var n = 0
    for w in 0..<writers {
        let writer = try await core.writer("w\(w)")
        var appended = 0
        while appended < perWriter {
            let count = min(1_000, perWriter - appended)
            _ = try await writer.append(contentsOf: (n..<(n + count)).map { Entry(n: $0) })
            n += count
            appended += count
        }
    }
}

struct WrongResult: Error, CustomStringConvertible {
    let what: String
    var description: String { what }
}

func seconds(_ duration: Duration) -> Double {
    Double(duration.components.seconds) + Double(duration.components.attoseconds) / 1e18
}

/// One run: fills A, creates B (with the sum view unless `view` is false), then measures replicating A into B
/// over `transport` and B's `ready`.
func run(_ benchmark: Benchmark, writers: Int, perWriter: Int, transport: Transport, place: Place,
         view: Bool = true) async throws {
    let total = writers * perWriter
    let directory = try TemporaryDirectory.make(prefix: "kappa-db-replication-bench")
    defer { try? FileManager.default.removeItem(at: directory) }
    let a = try await database(place, directory: directory, name: "a")
    let b = try await database(place, directory: directory, name: "b")
    try await fill(a, writers: writers, perWriter: perWriter)
    let sum = JSONSum()
    if view { try await b.use("sum", sum) }

    let clock = ContinuousClock()
    var replicated = Duration.zero
    var indexedAtReplicated = 0
    switch transport {
    case .tcp:
        let listener = try await a.listen(host: "127.0.0.1", port: 0, live: false)
        benchmark.startMeasurement()
        let start = clock.now
        try await b.connect(host: "127.0.0.1", port: listener.port)
        replicated = clock.now - start
        if view { indexedAtReplicated = try sum.count }  // one SQLite read, microseconds
        if view { try await b.ready("sum") }
        let elapsed = clock.now - start
        benchmark.stopMeasurement()
        benchmark.measurement(entriesPerSecond, Int(Double(total) / seconds(elapsed)))
        await listener.close()
    case .inProcess:
        let (left, right) = InProcessStream.pair()
        benchmark.startMeasurement()
        let start = clock.now
        let served = Task { try await a.replicate(over: left, isInitiator: false) }
        try await b.replicate(over: right, isInitiator: true)
        replicated = clock.now - start
        if view { indexedAtReplicated = try sum.count }
        if view { try await b.ready("sum") }
        let elapsed = clock.now - start
        benchmark.stopMeasurement()
        benchmark.measurement(entriesPerSecond, Int(Double(total) / seconds(elapsed)))
        _ = try await served.value
    }
    benchmark.measurement(replicatedMilliseconds, Int((seconds(replicated) * 1_000).rounded()))
    benchmark.measurement(indexedWhenReplicated, indexedAtReplicated)

    // Fail loudly unless B holds and indexed everything.
    let held = await b.info().reduce(UInt64(0)) { $0 + $1.contiguousLength }
    guard held == UInt64(total) else { throw WrongResult(what: "B holds \(held) blocks, expected \(total)") }
    if view {
        let expected = total * (total - 1) / 2
        let (got, count) = (try sum.sum, try sum.count)
        guard got == expected, count == total else {
            throw WrongResult(what: "B's sum is \(got) over \(count) entries, expected \(expected) over \(total)")
        }
    }
    try await b.close()
    try await a.close()
}

let benchmarks: @Sendable () -> Void = {
    for (transport, place) in [(Transport.tcp, Place.memory), (.tcp, .disk), (.inProcess, .memory)] {
        Benchmark("(a) replicate + index 4 × 25,000 JSON, \(transport.rawValue), \(place.rawValue)",
                  configuration: configuration) { benchmark in
            try await run(benchmark, writers: 4, perWriter: 25_000, transport: transport, place: place)
        }
    }
    Benchmark("(b) replicate + index 100 × 1,000 JSON, TCP loopback, memory", configuration: configuration) { benchmark in
        try await run(benchmark, writers: 100, perWriter: 1_000, transport: .tcp, place: .memory)
    }
    // Phase separation: the same transfer into a B without a view (replication alone; indexing alone is
    // KappaBenchmarks' "(a) index 100,000 existing, JSON").
    Benchmark("(c) replicate only, no view, 4 × 25,000 JSON, TCP loopback, memory", configuration: configuration) { benchmark in
        try await run(benchmark, writers: 4, perWriter: 25_000, transport: .tcp, place: .memory, view: false)
    }
}
