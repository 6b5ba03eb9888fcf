// The README's quick start, verbatim between the snippet markers: `scripts/run example` runs it
// (`swift run kappa-example`), and DocumentationTests checks the README against it and runs it twice.
// snippet: quick-start
import KappaCore
import KappaNIO

struct SumView: KappaView {                       // a materialized view
    let store = ViewStore()                       // its data, in the core's store

    func map(_ entries: [KappaEntry<Int>], _ transaction: ViewTransaction) throws {
        let sum: Int = try transaction.get("sum") ?? 0
        try transaction.put("sum", sum + entries.reduce(0) { $0 + $1.value })
    }

    var value: Int { get throws { try store.get("sum") ?? 0 } }
}

// Two databases that share a key (b is given a's), each opened here and closed at the end.
try await Kappa<Int>.withCore(at: "./kappa-example-data/a") { a in
    let shared = KappaOptions(sharedKey: a.sharedKey)
    try await Kappa<Int>.withCore(at: "./kappa-example-data/b", options: shared) { b in
        let sumA = SumView(), sumB = SumView()
        try await a.use("sum", version: 1, sumA)
        try await b.use("sum", version: 1, sumB)
        try await a.writer("alice").append(contentsOf: [1, 2, 3])     // a has alice's feed
        try await b.writer("bob").append(10)                          // b has bob's

        let listener = try await a.listen(host: "127.0.0.1", port: 0, live: false)   // a accepts peers over TCP
        try await b.connect(host: "127.0.0.1", port: listener.port)   // returns once both hold everything
        try await a.ready("sum")
        try await b.ready("sum")
        print("a: sum \(try sumA.value) in \(await a.feeds().count) feeds")   // a: sum 16 in 2 feeds
        print("b: sum \(try sumB.value) in \(await b.feeds().count) feeds")   // b: the same; 32 on the next run
    }
}
// snippet: end
