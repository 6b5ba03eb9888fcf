/// A small window of the data file kept in memory so sequential reads of small blocks cost one copy instead
/// of one system call each.
struct ReadAhead {
    static let window = 64 * 1024

    private var offset: UInt64 = 0
    private var bytes: [UInt8] = []

    /// Reads `count` bytes at `offset`, serving from the window when it covers them and refilling it
    /// (never past `limit`) otherwise. Blocks larger than the window are read directly.
    mutating func read(_ file: any RandomAccessStorage, offset: UInt64, count: Int, limit: UInt64) throws -> [UInt8] {
        if offset >= self.offset, offset + UInt64(count) <= self.offset + UInt64(bytes.count) {
            let start = Int(offset - self.offset)
            return Array(bytes[start..<(start + count)])
        }
        if count >= Self.window / 2 {
            return try file.read(count: count, at: offset)
        }
        let fill = Int(min(UInt64(Self.window), max(limit, offset + UInt64(count)) - offset))
        let window = try file.read(count: fill, at: offset)
        self.offset = offset
        bytes = window
        return Array(window.prefix(count))
    }

    /// Forgets the window (after a write into the region it may cover).
    mutating func invalidate() {
        bytes = []
    }
}
