// swift-tools-version: 6.1
import PackageDescription

let package = Package(
    name: "KappaCore",
    platforms: [.macOS(.v15)],
    products: [
        .library(name: "Hypercore", targets: ["Hypercore"]),
        .library(name: "HypercoreProtocol", targets: ["HypercoreProtocol"]),
        .library(name: "KappaCore", targets: ["KappaCore"]),
        .library(name: "KappaTesting", targets: ["KappaTesting"]),
        .library(name: "KappaNIO", targets: ["KappaNIO"]),
        .library(name: "KappaViews", targets: ["KappaViews"]),
        .executable(name: "kappa-example", targets: ["kappa-example"]),
        .executable(name: "kappa", targets: ["kappa"]),
    ],
    dependencies: [
        // Command-line plugin only: `swift package generate-documentation` (see README.md).
        .package(url: "https://github.com/swiftlang/swift-docc-plugin", from: "1.5.0"),
        // The TCP transport (KappaNIO only: no other module imports NIO).
        .package(url: "https://github.com/apple/swift-nio", from: "2.101.2"),
        .package(url: "https://github.com/apple/swift-log", from: "1.16.2"),
        // The `kappa` command-line tool only.
        .package(url: "https://github.com/apple/swift-argument-parser", from: "1.8.2"),
    ],
    targets: [
        .systemLibrary(
            name: "CSodium",
            pkgConfig: "libsodium",
            providers: [.apt(["libsodium-dev"]), .brew(["libsodium"])]
        ),
        .systemLibrary(
            name: "CSQLite",
            pkgConfig: "sqlite3",
            providers: [.apt(["libsqlite3-dev"]), .brew(["sqlite"])]
        ),
        .target(name: "Hypercore", dependencies: ["CSodium"]),
        // The hypercore-10 wire protocol: secret stream, protomux, messages, the replicator. No NIO here.
        .target(
            name: "HypercoreProtocol",
            dependencies: ["Hypercore", "CSodium", .product(name: "Logging", package: "swift-log")]
        ),
        // The fast JSON decoder behind `ValueEncoding.json`: internal to the package, not a product.
        .target(name: "KappaJSON"),
        .target(
            name: "KappaCore",
            dependencies: [
                "Hypercore", "HypercoreProtocol", "KappaJSON", "CSQLite", "CSodium",
                .product(name: "Logging", package: "swift-log"),
            ]
        ),
        .target(name: "KappaTesting", dependencies: ["Hypercore", "HypercoreProtocol"]),
        // The TCP transport: SwiftNIO connections adapted to `ByteStream`. The only module that imports NIO.
        .target(
            name: "KappaNIO",
            dependencies: [
                "HypercoreProtocol",
                "KappaCore",
                "Hypercore",
                .product(name: "NIOCore", package: "swift-nio"),
                .product(name: "NIOPosix", package: "swift-nio"),
                .product(name: "Logging", package: "swift-log"),
            ]
        ),
        // Ready-made views on the core's SQLite store.
        .target(name: "KappaViews", dependencies: ["KappaCore", "Hypercore"]),
        // The README's quick start, verbatim (DocumentationTests checks the README against it and runs it).
        .executableTarget(name: "kappa-example", dependencies: ["KappaCore", "KappaNIO"]),
        // The command-line tool (README, "Command line").
        .executableTarget(
            name: "kappa",
            dependencies: [
                "KappaCore", "KappaNIO", "KappaViews", "Hypercore", "HypercoreProtocol", "KappaJSON",
                .product(name: "ArgumentParser", package: "swift-argument-parser"),
                .product(name: "Logging", package: "swift-log"),
            ]
        ),
        // A child process for the crash tests: appends in a loop until it is killed.
        .executableTarget(name: "CrashWriter", dependencies: ["Hypercore", "KappaTesting"], path: "Tests/CrashWriter"),
        .testTarget(
            name: "KappaCoreTests",
            dependencies: ["KappaCore", "Hypercore", "KappaTesting", "KappaCrashWriter"]
        ),
        .executableTarget(
            name: "KappaCrashWriter", dependencies: ["KappaCore", "Hypercore", "KappaTesting"], path: "Tests/KappaCrashWriter"
        ),
        .testTarget(
            name: "HypercoreProtocolTests",
            dependencies: ["HypercoreProtocol", "Hypercore", "KappaTesting", "CSodium"]
        ),
        .testTarget(name: "KappaViewsTests", dependencies: ["KappaViews", "KappaCore", "Hypercore", "KappaTesting"]),
        .testTarget(name: "KappaJSONTests", dependencies: ["KappaJSON", "KappaTesting"]),
        .testTarget(
            name: "KappaNIOTests",
            dependencies: [
                "KappaNIO",
                "KappaCore",
                "HypercoreProtocol",
                "Hypercore",
                "KappaTesting",
                .product(name: "NIOCore", package: "swift-nio"),
                .product(name: "NIOPosix", package: "swift-nio"),
                .product(name: "Logging", package: "swift-log"),
            ]
        ),
        .testTarget(
            name: "HypercoreTests",
            dependencies: ["Hypercore", "KappaTesting", "CrashWriter", "CSodium"],
            exclude: ["Fixtures"]
        ),
        // The built `kappa` binary, run as a user runs it.
        .testTarget(
            name: "KappaCLITests",
            dependencies: ["KappaCore", "Hypercore", "KappaTesting", "kappa"]
        ),
        // The documentation is true: every Swift snippet in README.md, docs/ and the DocC catalogs is source
        // code that compiles here, and the example does what the README says.
        .testTarget(
            name: "DocumentationTests",
            dependencies: ["KappaCore", "Hypercore", "HypercoreProtocol", "KappaNIO", "KappaViews", "KappaTesting", "kappa-example"]
        ),
    ],
    swiftLanguageModes: [.v6]
)

// libFuzzer targets for the wire decoders (docs/fuzzing.md). They call libFuzzer's driver, which only links with
// `-sanitize=fuzzer`, so they join the package only when KAPPA_FUZZ=1: plain `swift build` and `swift test` never
// see them.
if Context.environment["KAPPA_FUZZ"] == "1" {
    package.targets.append(.target(name: "CLibFuzzer", path: "Fuzz/CLibFuzzer"))
    for name in ["FuzzFrameReassembler", "FuzzProtomux", "FuzzMessages"] {
        package.products.append(.executable(name: name, targets: [name]))
        package.targets.append(
            .executableTarget(
                name: name, dependencies: ["HypercoreProtocol", "Hypercore", "CLibFuzzer"], path: "Fuzz/\(name)"))
    }
}

for target in package.targets where target.type != .system {
    var settings = target.swiftSettings ?? []
    settings.append(.enableUpcomingFeature("ExistentialAny"))
    settings.append(.enableUpcomingFeature("MemberImportVisibility"))
    settings.append(.enableUpcomingFeature("InternalImportsByDefault"))
    target.swiftSettings = settings
}
