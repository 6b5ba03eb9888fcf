public import Benchmark

/// A throughput metric in items per second, reported as measured (no scaling).
public func itemsPerSecond(_ name: String) -> BenchmarkMetric {
    .custom(name, polarity: .prefersLarger, useScalingFactor: false)
}

/// Times `body` (set-up outside it is not measured) and records `items / seconds` under `metric`.
public func measure(_ benchmark: Benchmark, items: Int, as metric: BenchmarkMetric, _ body: () async throws -> Void) async rethrows {
    let clock = ContinuousClock()
    benchmark.startMeasurement()
    let start = clock.now
    try await body()
    let elapsed = clock.now - start
    benchmark.stopMeasurement()
    let seconds = Double(elapsed.components.seconds) + Double(elapsed.components.attoseconds) / 1e18
    benchmark.measurement(metric, Int(Double(items) / seconds))
}
