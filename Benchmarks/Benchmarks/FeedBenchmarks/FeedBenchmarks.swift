import Benchmark
import BenchmarkSupport
import Foundation
import Hypercore
import KappaTesting

/// Blocks per second of one run, timed around the measured loop only (set-up excluded).
var blocksPerSecond: BenchmarkMetric { itemsPerSecond("blocks/s") }

var configuration: Benchmark.Configuration { Benchmark.Configuration(
    metrics: [blocksPerSecond, .wallClock, .mallocCountTotal],
    timeUnits: .milliseconds,
    warmupIterations: 1,
    maxDuration: .seconds(20),
    maxIterations: 5
) }

enum Backend: String, CaseIterable {
    case memory, file
}

/// A fresh feed on `backend`; the directory is removed when the run ends.
func withFeed(_ backend: Backend, _ durability: Durability, _ body: (Feed) async throws -> Void) async throws {
    switch backend {
    case .memory:
        let feed = try Feed.create(options: .init(durability: durability))
        try await body(feed)
        try await feed.close()
    case .file:
        let dir = try TemporaryDirectory.make(prefix: "kappa-bench")
        defer { try? FileManager.default.removeItem(at: dir) }
        let feed = try Feed.create(storage: try FileDirectory(path: dir.path), options: .init(durability: durability))
        try await body(feed)
        try await feed.close()
    }
}

let block = [UInt8](repeating: 0x61, count: 64)

let benchmarks: @Sendable () -> Void = {
    let count = 100_000

    for backend in Backend.allCases {
        let durabilities: [Durability] = backend == .memory ? [.relaxed] : [.relaxed, .durable]
        for durability in durabilities {
            let suffix = backend == .memory ? "memory" : "file, \(durability)"
            // fsync per append: 100,000 would take minutes; 2,000 measures the same rate.
            let singles = backend == .file && durability == .durable ? 2_000 : count

            Benchmark("append single, \(singles) × 64 B (\(suffix))", configuration: configuration) { benchmark in
                try await withFeed(backend, durability) { feed in
                    try await measure(benchmark, items: singles, as: blocksPerSecond) {
                        for _ in 0..<singles { try await feed.append(block) }
                    }
                }
            }

            Benchmark("append batches of 1,000, \(count) × 64 B (\(suffix))", configuration: configuration) { benchmark in
                let batch = [[UInt8]](repeating: block, count: 1_000)
                try await withFeed(backend, durability) { feed in
                    try await measure(benchmark, items: count, as: blocksPerSecond) {
                        for _ in 0..<(count / 1_000) { try await feed.append(contentsOf: batch) }
                    }
                }
            }
        }

        Benchmark("get sequential, \(count) × 64 B (\(backend.rawValue))", configuration: configuration) { benchmark in
            try await withFeed(backend, .relaxed) { feed in
                for _ in 0..<(count / 1_000) {
                    try await feed.append(contentsOf: [[UInt8]](repeating: block, count: 1_000))
                }
                try await measure(benchmark, items: count, as: blocksPerSecond) {
                    for i in 0..<UInt64(count) { blackHole(try await feed.get(i)) }
                }
            }
        }

        Benchmark("getBatch sequential ×256, \(count) × 64 B (\(backend.rawValue))", configuration: configuration) { benchmark in
            try await withFeed(backend, .relaxed) { feed in
                for _ in 0..<(count / 1_000) {
                    try await feed.append(contentsOf: [[UInt8]](repeating: block, count: 1_000))
                }
                try await measure(benchmark, items: count, as: blocksPerSecond) {
                    var i: UInt64 = 0
                    while i < UInt64(count) {
                        let blocks = try await feed.getBatch(from: i, limit: 256)
                        i += UInt64(blocks.count)
                        blackHole(blocks)
                    }
                }
            }
        }
    }

    for appenders in [1, 16] {
        let total = appenders == 1 ? 2_000 : 16_000
        Benchmark("append single, \(appenders) concurrent appenders, \(total) × 64 B (file, durable)",
                  configuration: configuration) { benchmark in
            try await withFeed(.file, .durable) { feed in
                try await measure(benchmark, items: total, as: blocksPerSecond) {
                    try await withThrowingTaskGroup(of: Void.self) { group in
                        for _ in 0..<appenders {
                            group.addTask {
                                for _ in 0..<(total / appenders) { try await feed.append(block) }
                            }
                        }
                        try await group.waitForAll()
                    }
                }
            }
        }
    }
}
