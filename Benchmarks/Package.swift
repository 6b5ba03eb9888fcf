// swift-tools-version: 6.1
// Benchmarks live in their own package so the root package builds without the benchmark dependencies.
// Run: cd Benchmarks && swift package --allow-writing-to-directory /tmp benchmark
import PackageDescription

let package = Package(
    name: "KappaBenchmarks",
    platforms: [.macOS(.v15)],
    dependencies: [
        .package(name: "KappaCore", path: "../"),
        .package(url: "https://github.com/ordo-one/benchmark", exact: "1.38.1", traits: ["MallocInterposer"]),
    ],
    targets: [
        .target(name: "BenchmarkSupport", dependencies: [.product(name: "Benchmark", package: "benchmark")], path: "Support"),
        .executableTarget(
            name: "FeedBenchmarks",
            dependencies: [
                .product(name: "Benchmark", package: "benchmark"),
                .product(name: "Hypercore", package: "KappaCore"),
                .product(name: "KappaTesting", package: "KappaCore"),
                "BenchmarkSupport",
            ],
            path: "Benchmarks/FeedBenchmarks",
            plugins: [.plugin(name: "BenchmarkPlugin", package: "benchmark")]
        ),
        .executableTarget(
            name: "KappaBenchmarks",
            dependencies: [
                .product(name: "Benchmark", package: "benchmark"),
                .product(name: "Hypercore", package: "KappaCore"),
                .product(name: "KappaCore", package: "KappaCore"),
                .product(name: "KappaTesting", package: "KappaCore"),
                "BenchmarkSupport",
            ],
            path: "Benchmarks/KappaBenchmarks",
            plugins: [.plugin(name: "BenchmarkPlugin", package: "benchmark")]
        ),
        .executableTarget(
            name: "SecretStreamBenchmarks",
            dependencies: [
                .product(name: "Benchmark", package: "benchmark"),
                .product(name: "Hypercore", package: "KappaCore"),
                .product(name: "HypercoreProtocol", package: "KappaCore"),
                .product(name: "KappaTesting", package: "KappaCore"),
                "BenchmarkSupport",
            ],
            path: "Benchmarks/SecretStreamBenchmarks",
            plugins: [.plugin(name: "BenchmarkPlugin", package: "benchmark")]
        ),
        .executableTarget(
            name: "FeedCountBenchmarks",
            dependencies: [
                .product(name: "Benchmark", package: "benchmark"),
                .product(name: "Hypercore", package: "KappaCore"),
                .product(name: "KappaCore", package: "KappaCore"),
                .product(name: "KappaTesting", package: "KappaCore"),
                "BenchmarkSupport",
            ],
            path: "Benchmarks/FeedCountBenchmarks",
            plugins: [.plugin(name: "BenchmarkPlugin", package: "benchmark")]
        ),
        .executableTarget(
            name: "ReplicationBenchmarks",
            dependencies: [
                .product(name: "Benchmark", package: "benchmark"),
                .product(name: "Hypercore", package: "KappaCore"),
                .product(name: "HypercoreProtocol", package: "KappaCore"),
                .product(name: "KappaNIO", package: "KappaCore"),
                .product(name: "KappaTesting", package: "KappaCore"),
                "BenchmarkSupport",
            ],
            path: "Benchmarks/ReplicationBenchmarks",
            plugins: [.plugin(name: "BenchmarkPlugin", package: "benchmark")]
        ),
        .executableTarget(
            name: "DatabaseReplicationBenchmarks",
            dependencies: [
                .product(name: "Benchmark", package: "benchmark"),
                .product(name: "Hypercore", package: "KappaCore"),
                .product(name: "HypercoreProtocol", package: "KappaCore"),
                .product(name: "KappaCore", package: "KappaCore"),
                .product(name: "KappaNIO", package: "KappaCore"),
                .product(name: "KappaTesting", package: "KappaCore"),
                "BenchmarkSupport",
            ],
            path: "Benchmarks/DatabaseReplicationBenchmarks",
            plugins: [.plugin(name: "BenchmarkPlugin", package: "benchmark")]
        ),
        .executableTarget(
            name: "ViewBenchmarks",
            dependencies: [
                .product(name: "Benchmark", package: "benchmark"),
                .product(name: "Hypercore", package: "KappaCore"),
                .product(name: "KappaCore", package: "KappaCore"),
                .product(name: "KappaViews", package: "KappaCore"),
                .product(name: "KappaTesting", package: "KappaCore"),
                "BenchmarkSupport",
            ],
            path: "Benchmarks/ViewBenchmarks",
            plugins: [.plugin(name: "BenchmarkPlugin", package: "benchmark")]
        ),
    ],
    swiftLanguageModes: [.v6]
)
