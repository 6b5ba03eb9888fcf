import Foundation
import KappaCore
import KappaTesting
import Testing

// The getting-started article's single-database example, compiled and run here.

// snippet: sum-view
struct SumView: KappaView {                       // a materialized view
    let store = ViewStore()                       // its data, in the core's store

    func map(_ entries: [KappaEntry<Int>], _ transaction: ViewTransaction) throws {
        let sum: Int = try transaction.get("sum") ?? 0
        try transaction.put("sum", sum + entries.reduce(0) { $0 + $1.value })
    }

    var value: Int { get throws { try store.get("sum") ?? 0 } }
}
// snippet: end

@Suite struct GettingStartedSnippets {
    /// Two runs on one directory: 16, then 32.
    @Test func aDatabaseWithAViewContinuesOnTheNextRun() async throws {
        try await withTemporaryDirectory { directory in
            let path = directory.appendingPathComponent("kappa-example-data").path
            for _ in 0..<2 {
                // snippet: a-database
                try await Kappa<Int>.withCore(at: path) { core in   // opened here, closed at the end
                    let sum = SumView()
                    try await core.use("sum", version: 1, sum)
                    try await core.writer("alice").append(contentsOf: [1, 2, 3])
                    try await core.writer("bob").append(10)
                    try await core.ready("sum")
                    print("sum: \(try sum.value) in \(await core.feeds().count) feeds")   // sum: 16 in 2 feeds
                }
                // snippet: end
            }
            // The second run went on from the first: 16 + 16.
            try await Kappa<Int>.withCore(at: path) { core in
                let sum = SumView()
                try await core.use("sum", version: 1, sum)
                try await core.ready("sum")
                #expect(try sum.value == 32)
                #expect(await core.feeds().count == 2)
            }
        }
    }
}
