package import Hypercore

/// One `hypercore/alpha` message body (spec D.4): decodes from a payload and encodes into a frame.
///
/// Decoders follow compact-encoding: they read the fields they know and ignore trailing bytes (v11 peers
/// append optional fields), but a field cut short throws. Counts are checked against the bytes left before
/// anything is allocated.
package protocol WireMessage: ProtomuxPayload, Sendable, Hashable {
    /// Reads the message from `decoder`, leaving any trailing bytes unread.
    /// - Throws: ``HypercoreError`` `.malformed` when a field is cut short or a bound is exceeded.
    init(decoding decoder: inout CompactDecoder) throws(HypercoreError)
}

extension WireMessage {
    /// The encoded payload as a fresh array.
    package var encoded: [UInt8] {
        var encoder = CompactEncoder(capacity: encodedLength)
        encode(into: &encoder)
        return encoder.bytes
    }
}

/// A `uint` read from `decoder` only when bytes are left (an optional trailing field of a v11 peer).
@inline(__always)
func optionalTrailingUInt(_ decoder: inout CompactDecoder) throws(HypercoreError) -> UInt64? {
    decoder.isAtEnd ? nil : try decoder.uint()
}
