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

/// CPU time of the process during the measured part (both peers and the indexer share the 2 vCPUs).
var cpuMilliseconds: BenchmarkMetric { .custom("CPU (ms)", polarity: .prefersSmaller, useScalingFactor: false) }

/// Throughput and time only: the malloc interposer that counts allocations slows JSON coding (see
/// KappaBenchmarks), and allocation counts of the replication stack are in ReplicationBenchmarks.
func configuration(replicationMetrics: Bool = true, withView: Bool = true) -> Benchmark.Configuration {
    var metrics: [BenchmarkMetric] = [entriesPerSecond, .wallClock, cpuMilliseconds]
    if replicationMetrics { metrics.append(replicatedMilliseconds) }
    if replicationMetrics && withView { metrics.append(indexedWhenReplicated) }
    return Benchmark.Configuration(metrics: metrics, timeUnits: .milliseconds, warmupIterations: 1,
                                   maxDuration: .seconds(60), maxIterations: 5)
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

/// CPU time of the whole process (both peers, NIO's threads, the indexer) so far.
func processCPUTime() -> Duration {
    var time = timespec()
    clock_gettime(CLOCK_PROCESS_CPUTIME_ID, &time)
    return .seconds(time.tv_sec) + .nanoseconds(time.tv_nsec)
}

/// What a run measures.
enum Phase {
    /// Replicating into a B with the sum view attached, until B's `ready` returns: the benchmark proper.
    case replicateAndIndex
    /// Replicating into a B without a view, until the replication call returns.
    case replicateOnly
    /// B already holds everything (replicated before the measured part, without a view); measured: attaching
    /// the sum view until `ready` returns.
    case indexOnly
}

/// Replicates `a` into `b` in process; returns when both sides' replication calls have returned.
func replicateInProcess(_ a: Kappa<Entry>, into b: Kappa<Entry>) async throws {
    let (left, right) = InProcessStream.pair()
    let served = Task { try await a.replicate(over: left, isInitiator: false) }
    try await b.replicate(over: right, isInitiator: true)
    _ = try await served.value
}

/// One run: fills A and creates an empty B (set-up, not measured), then measures `phase`.
func run(_ benchmark: Benchmark, writers: Int, perWriter: Int, transport: Transport, place: Place,
         phase: Phase = .replicateAndIndex) async throws {
    let total = writers * perWriter
    let directory = try TemporaryDirectory.make(prefix: "kappa-db-replication-bench")
    defer { try? FileManager.default.removeItem(at: directory) }
    let a = try await database(place, directory: directory, name: "a")
    let b = try await database(place, directory: directory, name: "b")
    try await fill(a, writers: writers, perWriter: perWriter)
    let sum = JSONSum()
    switch phase {
    case .replicateAndIndex: try await b.use("sum", sum)
    case .replicateOnly: break
    case .indexOnly: try await replicateInProcess(a, into: b)
    }

    let clock = ContinuousClock()
    let listener = transport == .tcp && phase != .indexOnly
        ? try await a.listen(host: "127.0.0.1", port: 0, live: false) : nil
    var replicated = Duration.zero
    var indexedAtReplicated = 0
    benchmark.startMeasurement()
    let start = clock.now
    let cpuStart = processCPUTime()
    switch phase {
    case .replicateAndIndex, .replicateOnly:
        if let listener {
            try await b.connect(host: "127.0.0.1", port: listener.port)
        } else {
            try await replicateInProcess(a, into: b)
        }
        replicated = clock.now - start
        if phase == .replicateAndIndex {
            indexedAtReplicated = try sum.count  // one SQLite read, microseconds
            try await b.ready("sum")
        }
    case .indexOnly:
        try await b.use("sum", sum)
        try await b.ready("sum")
    }
    let elapsed = clock.now - start
    let cpu = processCPUTime() - cpuStart
    benchmark.stopMeasurement()
    benchmark.measurement(entriesPerSecond, Int(Double(total) / seconds(elapsed)))
    benchmark.measurement(cpuMilliseconds, Int((seconds(cpu) * 1_000).rounded()))
    if phase != .indexOnly {
        benchmark.measurement(replicatedMilliseconds, Int((seconds(replicated) * 1_000).rounded()))
    }
    if phase == .replicateAndIndex { benchmark.measurement(indexedWhenReplicated, indexedAtReplicated) }
    await listener?.close()

    // Fail loudly unless B holds and indexed everything.
    let held = await b.info().reduce(UInt64(0)) { $0 + $1.contiguousLength }
    guard held == UInt64(total) else { throw WrongResult(what: "B holds \(held) blocks, expected \(total)") }
    if phase != .replicateOnly {
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
                  configuration: configuration()) { benchmark in
            try await run(benchmark, writers: 4, perWriter: 25_000, transport: transport, place: place)
        }
    }
    Benchmark("(b) replicate + index 100 × 1,000 JSON, TCP loopback, memory", configuration: configuration()) { benchmark in
        try await run(benchmark, writers: 100, perWriter: 1_000, transport: .tcp, place: .memory)
    }
    // Phase separation, same data and conditions: replication alone (B without a view) and indexing alone (B
    // already holds every block).
    Benchmark("(c) replicate only, no view, 4 × 25,000 JSON, TCP loopback, memory",
              configuration: configuration(withView: false)) { benchmark in
        try await run(benchmark, writers: 4, perWriter: 25_000, transport: .tcp, place: .memory, phase: .replicateOnly)
    }
    Benchmark("(d) index only, B holds the 4 × 25,000 JSON entries, memory",
              configuration: configuration(replicationMetrics: false)) { benchmark in
        try await run(benchmark, writers: 4, perWriter: 25_000, transport: .inProcess, place: .memory, phase: .indexOnly)
    }
}
