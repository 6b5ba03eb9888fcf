package import Hypercore

/// A message body that knows its encoded size, so ``Protomux`` can write it straight into a frame or a batch
/// (one allocation per frame, no intermediate buffer).
///
/// `encode(into:)` must append exactly ``encodedLength`` bytes. The mux tolerates a mismatch (it repairs the
/// batch entry's length prefix) but a correct length saves a move.
package protocol ProtomuxPayload {
    /// The number of bytes ``encode(into:)`` appends.
    var encodedLength: Int { get }
    /// Appends the encoded body to `encoder`.
    func encode(into encoder: inout CompactEncoder)
}

extension Array: ProtomuxPayload where Element == UInt8 {
    /// The byte count: raw bytes are their own encoding.
    package var encodedLength: Int { count }
    /// Appends the bytes unchanged.
    package func encode(into encoder: inout CompactEncoder) { encoder.bytes.append(contentsOf: self) }
}

extension ArraySlice: ProtomuxPayload where Element == UInt8 {
    /// The byte count: raw bytes are their own encoding.
    package var encodedLength: Int { count }
    /// Appends the bytes unchanged.
    package func encode(into encoder: inout CompactEncoder) { encoder.bytes.append(contentsOf: self) }
}
