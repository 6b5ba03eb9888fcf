@testable import HypercoreProtocol
import KappaTesting
import Testing

/// `RangeSet` against a plain set of indexes, with random inserts and removals on a small domain.
@Suite struct RangeSetTests {
    @Test func agreesWithASetOfIndexes() {
        var rng = SeededGenerator(seed: 7)
        for _ in 0..<200 {
            var set = RangeSet()
            var model = Set<UInt64>()
            for _ in 0..<60 {
                let a = UInt64.random(in: 0..<100, using: &rng)
                let b = UInt64.random(in: 0..<100, using: &rng)
                let range = min(a, b)..<max(a, b)
                if Bool.random(using: &rng) {
                    set.insert(range)
                    model.formUnion(range)
                } else {
                    set.remove(range)
                    model.subtract(range)
                }
                // Disjoint, sorted, not touching.
                for (x, y) in zip(set.ranges, set.ranges.dropFirst()) { #expect(x.upperBound < y.lowerBound) }
                #expect(set.ranges.allSatisfy { !$0.isEmpty })
                #expect(Set(set.ranges.flatMap { Array($0) }) == model)
                let probe = UInt64.random(in: 0..<100, using: &rng)
                #expect(set.contains(probe) == model.contains(probe))
                let window = probe..<min(probe + UInt64.random(in: 0..<20, using: &rng), 100)
                #expect(set.contains(window) == window.allSatisfy { model.contains($0) })
                #expect(Set(set.intersection(window).flatMap { Array($0) }) == model.intersection(window))
                #expect(Set(set.gaps(in: window).flatMap { Array($0) }) == Set(window).subtracting(model))
                let zeroRun = (0...100).first { !model.contains(UInt64($0)) }.map(UInt64.init) ?? 101
                #expect(set.contiguousFromZero == zeroRun)
            }
        }
    }
}
