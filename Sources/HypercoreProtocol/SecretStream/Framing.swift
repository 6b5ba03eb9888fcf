/// The framing of secret-stream (spec D.1, D.2): every frame, handshake frames included, is
/// `u24le(length) ‖ bytes`.
package enum Framing {
    /// Length of the prefix, 3 bytes.
    package static let prefixLength = 3
    /// The largest frame body, `2^24 − 1` bytes (secret-stream's `MAX_ATOMIC_WRITE`).
    package static let maximumFrameLength = 0xFF_FFFF

    /// Writes the 3-byte little-endian `length` at `pointer`.
    @inline(__always)
    package static func writePrefix(_ length: Int, to pointer: UnsafeMutablePointer<UInt8>) {
        pointer[0] = UInt8(truncatingIfNeeded: length)
        pointer[1] = UInt8(truncatingIfNeeded: length >> 8)
        pointer[2] = UInt8(truncatingIfNeeded: length >> 16)
    }

    /// `bytes` framed: the prefix followed by the bytes (`bytes.count` must be at most ``maximumFrameLength``).
    package static func frame(_ bytes: [UInt8]) -> [UInt8] {
        precondition(bytes.count <= maximumFrameLength, "frame too large")
        var out = [UInt8](repeating: 0, count: prefixLength)
        out.withUnsafeMutableBufferPointer { writePrefix(bytes.count, to: $0.baseAddress!) }
        out += bytes
        return out
    }
}
