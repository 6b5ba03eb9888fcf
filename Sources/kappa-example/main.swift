// The README example: a database of two writers and a sum view, on disk.
//
//     swift run kappa-example [directory]
//
// Run it twice: the second run reopens the feeds and the view's checkpoint and continues the sum.
import Hypercore
import KappaCore

/// The sum of all entries, kept in the core's store (exactly-once indexing).
struct SumView: KappaView {
    let store = ViewStore()

    func map(_ entries: [KappaEntry<Int>], _ transaction: ViewTransaction) throws {
        let sum: Int = try transaction.get("sum") ?? 0
        try transaction.put("sum", sum + entries.reduce(0) { $0 + $1.value })
    }

    var value: Int { get throws { try store.get("sum") ?? 0 } }
}

let path = CommandLine.arguments.count > 1 ? CommandLine.arguments[1] : "./kappa-example-data"
try await Kappa<Int>.withCore(at: path) { core in
    let sum = SumView()
    try await core.use("sum", version: 1, sum)
    try await core.writer("alice").append(contentsOf: [1, 2, 3])
    try await core.writer("bob").append(10)
    try await core.ready("sum")
    let feeds = await core.feeds()
    var entries: UInt64 = 0
    for feed in feeds { entries += await feed.length }
    print("sum: \(try sum.value) (\(entries) entries in \(feeds.count) feeds at \(path))")
}
