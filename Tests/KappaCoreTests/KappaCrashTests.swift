import Foundation
import Testing
import Hypercore
import KappaTesting
@testable import KappaCore

/// SIGKILLs a child that appends to two writers while a sum view indexes into the core's store; after every
/// kill the reopened sum must equal the total of all entries exactly (no double count, no lost entry).
@Suite(.serialized) struct KappaCrashTests {
    @Test(.timeLimit(.minutes(5)))
    func sumIsExactAfterEveryKill() async throws {
        try await withTemporaryDirectory { dir in
            var previousTotal = 0
            var resumedFromChildCheckpoint = 0
            for round in 0..<20 {
                _ = try ChildProcess.runAndKill(ChildProcess.sibling(named: "KappaCrashWriter"), arguments: [dir.path],
                                               readyMarker: "ready", millis: Int.random(in: 10...150))
                let core = try await Kappa<Int>(path: dir.path, options: KappaOptions(durability: .relaxed))
                // What the view had committed before the kill, read before anything else indexes.
                let sum = SumView()
                try await core.use("sum", version: 1, sum)
                try await core.ready("sum")
                var total = 0
                var entries = 0
                for feed in await core.feeds() {
                    for try await entry in feed.entries() {
                        total += try JSONDecoder().decode(Int.self, from: Data(entry.value))
                        entries += 1
                    }
                }
                if sum.batches.flatMap({ $0 }).count < entries { resumedFromChildCheckpoint += 1 }
                let indexed = try sum.value
                #expect(indexed == total, "round \(round): sum \(indexed) != total \(total)")
                #expect(total >= previousTotal)
                previousTotal = total
                try await core.close()
            }
            #expect(previousTotal > 0)
            #expect(resumedFromChildCheckpoint > 10, "the child's commits were resumed, not re-indexed")
        }
    }
}
