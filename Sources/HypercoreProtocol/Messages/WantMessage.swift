package import Hypercore

/// `want` (type 5) and `unwant` (type 6): the sender asks for, or stops asking for, bitfield information about
/// the blocks `[start, start + length)` (spec D.4, D.5).
///
/// Wire form: `uint(start) ‖ uint(length) ‖ [uint(flags)]`. The tail is hypercore 11: bit 0 `any` asks for a
/// single block of the range. A message with `any == false` encodes as hypercore 10 does (no tail).
package struct WantMessage: WireMessage {
    /// The first block of the range.
    package var start: UInt64
    /// The number of blocks in the range.
    package var length: UInt64
    /// Hypercore 11: any one block of the range will do (answered with a `range` of length 1).
    package var any: Bool

    /// Creates a `want` (or `unwant`).
    package init(start: UInt64, length: UInt64, any: Bool = false) {
        self.start = start
        self.length = length
        self.any = any
    }

    package init(decoding d: inout CompactDecoder) throws(HypercoreError) {
        start = try d.uint()
        length = try d.uint()
        any = (try optionalTrailingUInt(&d) ?? 0) & 1 != 0
    }

    package var encodedLength: Int {
        CompactEncoder.uintLength(start) + CompactEncoder.uintLength(length) + (any ? 1 : 0)
    }

    package func encode(into e: inout CompactEncoder) {
        e.uint(start)
        e.uint(length)
        if any { e.uint(UInt64(1)) }
    }
}
