/// A set of block indexes stored as sorted, disjoint, non-adjacent ranges: what a peer announced it has.
///
/// Announcements come from untrusted peers (`range` with any length, `bitfield` words), so the set never
/// allocates per block; its size is bounded by the number of separate ranges, which the caller bounds.
struct RangeSet: Sendable, Equatable {
    private(set) var ranges: [Range<UInt64>] = []

    /// Number of separate ranges.
    var count: Int { ranges.count }

    /// True when `index` is in the set.
    func contains(_ index: UInt64) -> Bool {
        guard let i = lastIndex(startingAtOrBefore: index) else { return false }
        return ranges[i].contains(index)
    }

    /// True when every index of `range` is in the set.
    func contains(_ range: Range<UInt64>) -> Bool {
        if range.isEmpty { return true }
        guard let i = lastIndex(startingAtOrBefore: range.lowerBound) else { return false }
        return ranges[i].upperBound >= range.upperBound
    }

    /// The end of the run of indexes from 0 (0 when 0 is not in the set).
    var contiguousFromZero: UInt64 {
        guard let first = ranges.first, first.lowerBound == 0 else { return 0 }
        return first.upperBound
    }

    /// Adds `range`, merging it with overlapping or adjacent ranges.
    mutating func insert(_ range: Range<UInt64>) {
        guard !range.isEmpty, !contains(range) else { return }
        var lower = range.lowerBound
        var upper = range.upperBound
        // First range that ends at or after `lower` (may touch it).
        var start = firstIndex(endingAtOrAfter: lower)
        var end = start
        while end < ranges.count, ranges[end].lowerBound <= upper {
            lower = Swift.min(lower, ranges[end].lowerBound)
            upper = Swift.max(upper, ranges[end].upperBound)
            end += 1
        }
        if start > ranges.count { start = ranges.count }
        ranges.replaceSubrange(start..<end, with: [lower..<upper])
    }

    /// Removes `range`: only the ranges it touches are rewritten (found by binary search), the rest moves once.
    mutating func remove(_ range: Range<UInt64>) {
        guard !range.isEmpty else { return }
        // First range that ends after `range` starts; nothing to do unless it starts before `range` ends (a cheap
        // check: a peer may send many drops of ranges it never announced).
        let start = firstIndex(endingAtOrAfter: range.lowerBound + 1)
        guard start < ranges.count, ranges[start].lowerBound < range.upperBound else { return }
        var end = start
        while end < ranges.count, ranges[end].lowerBound < range.upperBound { end += 1 }
        var kept: [Range<UInt64>] = []
        if ranges[start].lowerBound < range.lowerBound { kept.append(ranges[start].lowerBound..<range.lowerBound) }
        if ranges[end - 1].upperBound > range.upperBound { kept.append(range.upperBound..<ranges[end - 1].upperBound) }
        ranges.replaceSubrange(start..<end, with: kept)
    }

    /// The parts of `range` that are in the set, in order.
    func intersection(_ range: Range<UInt64>) -> [Range<UInt64>] {
        guard !range.isEmpty else { return [] }
        var result: [Range<UInt64>] = []
        var i = lastIndex(startingAtOrBefore: range.lowerBound) ?? 0
        while i < ranges.count, ranges[i].lowerBound < range.upperBound {
            let lower = Swift.max(ranges[i].lowerBound, range.lowerBound)
            let upper = Swift.min(ranges[i].upperBound, range.upperBound)
            if lower < upper { result.append(lower..<upper) }
            i += 1
        }
        return result
    }

    /// The parts of `range` that are not in the set, in order.
    func gaps(in range: Range<UInt64>) -> [Range<UInt64>] {
        var result: [Range<UInt64>] = []
        var cursor = range.lowerBound
        for covered in intersection(range) {
            if covered.lowerBound > cursor { result.append(cursor..<covered.lowerBound) }
            cursor = covered.upperBound
        }
        if cursor < range.upperBound { result.append(cursor..<range.upperBound) }
        return result
    }

    private func lastIndex(startingAtOrBefore index: UInt64) -> Int? {
        var low = 0
        var high = ranges.count
        while low < high {
            let mid = (low + high) / 2
            if ranges[mid].lowerBound <= index { low = mid + 1 } else { high = mid }
        }
        return low == 0 ? nil : low - 1
    }

    private func firstIndex(endingAtOrAfter index: UInt64) -> Int {
        var low = 0
        var high = ranges.count
        while low < high {
            let mid = (low + high) / 2
            if ranges[mid].upperBound < index { low = mid + 1 } else { high = mid }
        }
        return low
    }
}
