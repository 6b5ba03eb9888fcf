package import Hypercore

/// `range` (type 8): the sender has (or, with ``drop``, no longer has) the blocks `[start, start + length)`
/// (spec D.4).
///
/// Wire form: `uint(flags) ‖ uint(start) ‖ [uint(length)]`. Flag bit 0 is `drop`; bit 1 means the length is 1
/// and is omitted. The encoder uses the short form whenever the length is 1, as hypercore does.
package struct RangeMessage: WireMessage {
    /// True when the sender dropped the blocks rather than gained them.
    package var drop: Bool
    /// The first block.
    package var start: UInt64
    /// The number of blocks.
    package var length: UInt64

    /// Creates a `range`.
    package init(drop: Bool = false, start: UInt64, length: UInt64) {
        self.drop = drop
        self.start = start
        self.length = length
    }

    package init(decoding d: inout CompactDecoder) throws(HypercoreError) {
        let flags = try d.uint()
        drop = flags & 1 != 0
        start = try d.uint()
        length = flags & 2 != 0 ? 1 : try d.uint()
    }

    package var encodedLength: Int {
        1 + CompactEncoder.uintLength(start) + (length == 1 ? 0 : CompactEncoder.uintLength(length))
    }

    package func encode(into e: inout CompactEncoder) {
        e.uint(UInt64((drop ? 1 : 0) | (length == 1 ? 2 : 0)))
        e.uint(start)
        if length != 1 { e.uint(length) }
    }
}
