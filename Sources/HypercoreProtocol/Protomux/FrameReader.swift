/// Reads compact-encoding `uint`s and byte runs from a frame, within `offset..<end`. Every read is
/// bounds-checked and throws ``ReplicationError`` `.malformedMessage` instead of reading past `end`.
struct FrameReader {
    let bytes: [UInt8]
    var offset: Int
    let end: Int

    init(_ bytes: [UInt8], from offset: Int = 0, to end: Int? = nil) {
        self.bytes = bytes
        self.offset = offset
        self.end = end ?? bytes.count
    }

    var isAtEnd: Bool { offset >= end }
    var remaining: Int { end - offset }

    private func truncated(_ what: String) -> ReplicationError {
        ReplicationError(.malformedMessage, "protomux frame cut short reading \(what) at offset \(offset)")
    }

    /// A compact-encoding `uint` (non-minimal forms accepted).
    mutating func uint(_ what: @autoclosure () -> String = "an integer") throws(ReplicationError) -> UInt64 {
        guard offset < end else { throw truncated(what()) }
        let first = bytes[offset]
        let width: Int
        switch first {
        case 0xFD: width = 2
        case 0xFE: width = 4
        case 0xFF: width = 8
        default:
            offset += 1
            return UInt64(first)
        }
        guard width < end - offset else { throw truncated(what()) }
        var value: UInt64 = 0
        for i in 0..<width { value |= UInt64(bytes[offset + 1 + i]) << (8 * i) }
        offset += 1 + width
        return value
    }

    /// A `uint` that must fit in the bytes left (a length prefix), as an `Int`.
    mutating func length(_ what: @autoclosure () -> String) throws(ReplicationError) -> Int {
        let n = try uint(what())
        guard n <= UInt64(remaining) else {
            throw ReplicationError(.malformedMessage, "\(what()) of \(n) bytes exceeds the \(remaining) bytes left")
        }
        return Int(n)
    }

    /// `buffer`: `uint(length) ‖ bytes`, as a range of ``bytes``.
    mutating func buffer(_ what: @autoclosure () -> String) throws(ReplicationError) -> Range<Int> {
        let n = try length(what())
        defer { offset += n }
        return offset..<offset + n
    }
}
