package import Hypercore

/// `bitfield` (type 7): which blocks of a range the sender has, as 32-bit words (spec D.4).
///
/// Wire form: `uint(start) ‖ uint32array(words)`. Bit `j` of word `w` is block `start + 32·w + j`; `start` is
/// a multiple of 32 when a hypercore sends it (not checked here: that is the replicator's rule).
package struct BitfieldMessage: WireMessage {
    /// The block of bit 0 of the first word.
    package var start: UInt64
    /// The bits, 32 blocks per word, least significant bit first.
    package var words: [UInt32]

    /// Creates a `bitfield`.
    package init(start: UInt64, words: [UInt32]) {
        self.start = start
        self.words = words
    }

    package init(decoding d: inout CompactDecoder) throws(HypercoreError) {
        start = try d.uint()
        words = try d.uint32Array()
    }

    package var encodedLength: Int {
        CompactEncoder.uintLength(start) + CompactEncoder.uintLength(words.count) + 4 * words.count
    }

    package func encode(into e: inout CompactEncoder) {
        e.uint(start)
        e.uint32Array(words)
    }
}
