import Benchmark
import BenchmarkSupport
import Hypercore
import HypercoreProtocol
import KappaTesting

/// Messages per second of one run: from the first send until the receiver has the last message.
var messagesPerSecond: BenchmarkMetric { itemsPerSecond("messages/s") }
/// Completed handshakes (Noise XX plus the header frames) per second.
var handshakesPerSecond: BenchmarkMetric { itemsPerSecond("handshakes/s") }

var configuration: Benchmark.Configuration { Benchmark.Configuration(
    metrics: [messagesPerSecond, handshakesPerSecond, .wallClock, .mallocCountTotal],
    timeUnits: .milliseconds,
    warmupIterations: 1,
    maxDuration: .seconds(20),
    maxIterations: 5
) }

/// Opens a secret stream pair over an in-process connection; `body` gets the initiator's stream and the
/// responder's messages. Handshakes are done before `body` runs.
func withStreamPair(
    _ body: (SecretStream, SecretStream.Messages) async throws -> Void
) async throws {
    let (a, b) = InProcessStream.pair()
    let (responders, handOver) = AsyncStream.makeStream(of: SecretStream.self)
    let (finished, finish) = AsyncStream.makeStream(of: Void.self)
    try await withThrowingTaskGroup(of: Void.self) { group in
        group.addTask {
            try await SecretStream.withSecretStream(over: b, isInitiator: false, identity: .random()) { stream in
                handOver.yield(stream)
                for await _ in finished {}  // stays open until the initiator is done
            }
        }
        try await SecretStream.withSecretStream(over: a, isInitiator: true, identity: .random()) { stream in
            var iterator = responders.makeAsyncIterator()
            guard let responder = await iterator.next() else { return }
            try await body(stream, responder.messages)
        }
        finish.finish()
        try await group.waitForAll()
    }
}

let benchmarks: @Sendable () -> Void = {
    let count = 100_000
    let message = [UInt8](repeating: 0x61, count: 200)

    Benchmark("send(contentsOf:) batches of 1,000, \(count) × 200 B, in-process", configuration: configuration) { benchmark in
        let batch = [[UInt8]](repeating: message, count: 1_000)
        try await withStreamPair { stream, messages in
            try await measure(benchmark, items: count, as: messagesPerSecond) {
                async let received: Int = {
                    var n = 0
                    for try await m in messages {
                        n += m.count == 200 ? 1 : 0
                        if n == count { break }
                    }
                    return n
                }()
                for _ in 0..<(count / 1_000) { try await stream.send(contentsOf: batch) }
                let n = try await received
                precondition(n == count)
            }
        }
    }

    Benchmark("send one at a time, \(count) × 200 B, in-process", configuration: configuration) { benchmark in
        try await withStreamPair { stream, messages in
            try await measure(benchmark, items: count, as: messagesPerSecond) {
                async let received: Int = {
                    var n = 0
                    for try await _ in messages {
                        n += 1
                        if n == count { break }
                    }
                    return n
                }()
                for _ in 0..<count { try await stream.send(message) }
                let n = try await received
                precondition(n == count)
            }
        }
    }

    Benchmark("handshake and header exchange, 200 pairs, in-process", configuration: configuration) { benchmark in
        let pairs = 200
        try await measure(benchmark, items: pairs, as: handshakesPerSecond) {
            for _ in 0..<pairs {
                try await withStreamPair { _, _ in }
            }
        }
    }
}
