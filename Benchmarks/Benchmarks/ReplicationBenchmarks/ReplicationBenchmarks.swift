import Benchmark
import BenchmarkSupport
import Foundation
import Hypercore
import HypercoreProtocol
import KappaNIO
import KappaTesting

// Replication throughput (issue "Replication I", benchmarks): one writer serves a fresh replica everything,
// encrypted (secret stream) and verified (every proof checked before it is stored). Set-up (filling the
// writer, creating the replica) is outside the measured part.

var blocksPerSecond: BenchmarkMetric { itemsPerSecond("blocks/s") }
var megabytesPerSecond: BenchmarkMetric { itemsPerSecond("MB/s") }

enum Transport: String { case inProcess = "in-process", tcp = "TCP loopback" }
enum Place: String { case memory, file }

func block(_ i: Int, size: Int) -> [UInt8] {
    var bytes = [UInt8](repeating: UInt8(truncatingIfNeeded: 0x61 + i % 26), count: size)
    withUnsafeBytes(of: UInt32(i).bigEndian) { raw in for j in 0..<min(4, size) { bytes[j] = raw[j] } }
    return bytes
}

func makeWriter(count: Int, size: Int, place: Place, directory: URL) async throws -> Feed {
    let options = FeedOptions(durability: .relaxed)
    let feed = place == .memory
        ? try Feed.create(options: options)
        : try Feed.create(storage: try FileDirectory(path: directory.appendingPathComponent("writer").path), options: options)
    var i = 0
    let batch = max(1, min(1_000, (8 << 20) / size))
    while i < count {
        let n = min(batch, count - i)
        _ = try await feed.append(contentsOf: (i..<(i + n)).map { block($0, size: size) })
        i += n
    }
    return feed
}

func makeReplica(of key: PublicKey, place: Place, directory: URL) throws -> Feed {
    let options = FeedOptions(durability: .relaxed)
    return place == .memory
        ? try Feed.replica(key: key, options: options)
        : try Feed.replica(key: key, storage: try FileDirectory(path: directory.appendingPathComponent("replica").path),
                           options: options)
}

func session(_ transport: some ByteStream, isInitiator: Bool, feed: Feed) async throws -> ReplicationSummary {
    try await SecretStream.withSecretStream(over: transport, isInitiator: isInitiator, identity: .random()) { stream in
        let session = ReplicationSession(stream: stream)
        try await session.add(feed)
        return try await session.run()
    }
}

/// Replicates `writer` to `replica` over `transport`; returns when both sessions ended.
func replicate(_ writer: Feed, to replica: Feed, over transport: Transport) async throws {
    switch transport {
    case .inProcess:
        let (a, b) = InProcessStream.pair()
        async let served = session(a, isInitiator: false, feed: writer)
        async let received = session(b, isInitiator: true, feed: replica)
        _ = try await (served, received)
    case .tcp:
        try await TCPServer.withServer(host: "127.0.0.1", port: 0) { server in
            let serving = Task {
                try await server.serve { connection in _ = try await session(connection, isInitiator: false, feed: writer) }
            }
            _ = try await TCPClient.withConnection(host: "127.0.0.1", port: server.port) { connection in
                try await session(connection, isInitiator: true, feed: replica)
            }
            serving.cancel()
            try await serving.value
        }
    }
}

let benchmarks: @Sendable () -> Void = {
    let configuration = Benchmark.Configuration(metrics: [blocksPerSecond, megabytesPerSecond, .wallClock],
                                                timeUnits: .milliseconds, warmupIterations: 0,
                                                maxDuration: .seconds(60), maxIterations: 3)
    for transport in [Transport.inProcess, .tcp] {
        for place in [Place.memory, .file] {
            Benchmark("100,000 blocks of 64 B, \(transport.rawValue), \(place.rawValue)", configuration: configuration) { benchmark in
                try await run(benchmark, count: 100_000, size: 64, transport: transport, place: place)
            }
        }
        Benchmark("1,000 blocks of 1 MiB, \(transport.rawValue), memory", configuration: configuration) { benchmark in
            try await run(benchmark, count: 1_000, size: 1 << 20, transport: transport, place: .memory)
        }
    }
}

func run(_ benchmark: Benchmark, count: Int, size: Int, transport: Transport, place: Place) async throws {
    let directory = try TemporaryDirectory.make(prefix: "kappa-replication-bench")
    defer { try? FileManager.default.removeItem(at: directory) }
    let writer = try await makeWriter(count: count, size: size, place: place, directory: directory)
    let replica = try makeReplica(of: writer.key, place: place, directory: directory)
    let clock = ContinuousClock()
    benchmark.startMeasurement()
    let start = clock.now
    try await replicate(writer, to: replica, over: transport)
    let elapsed = clock.now - start
    benchmark.stopMeasurement()
    let held = await replica.contiguousLength
    guard held == UInt64(count) else { throw IncompleteReplication(held: held, expected: count) }
    let seconds = Double(elapsed.components.seconds) + Double(elapsed.components.attoseconds) / 1e18
    benchmark.measurement(blocksPerSecond, Int(Double(count) / seconds))
    benchmark.measurement(megabytesPerSecond, Int(Double(count * size) / seconds / 1e6))
    try await writer.close()
    try await replica.close()
}

struct IncompleteReplication: Error {
    let held: UInt64
    let expected: Int
}
