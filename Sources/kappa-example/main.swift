// The README's quick start, verbatim between the snippet markers: `scripts/run example` runs it
// (`swift run kappa-example`), and DocumentationTests checks the README against it and runs it twice.
// snippet: quick-start
import KappaCore

struct SumView: KappaView {                       // a materialized view
    let store = ViewStore()                       // its data, in the core's store

    func map(_ entries: [KappaEntry<Int>], _ transaction: ViewTransaction) throws {
        let sum: Int = try transaction.get("sum") ?? 0
        try transaction.put("sum", sum + entries.reduce(0) { $0 + $1.value })
    }

    var value: Int { get throws { try store.get("sum") ?? 0 } }
}

try await Kappa<Int>.withCore(at: "./kappa-example-data") { core in   // opened here, closed at the end
    let sum = SumView()
    try await core.use("sum", version: 1, sum)
    try await core.writer("alice").append(contentsOf: [1, 2, 3])
    try await core.writer("bob").append(10)
    try await core.ready("sum")
    print("sum: \(try sum.value) in \(await core.feeds().count) feeds")   // sum: 16 in 2 feeds; 32 on the next run
}
// snippet: end
