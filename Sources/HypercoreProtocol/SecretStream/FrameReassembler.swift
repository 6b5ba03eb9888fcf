/// Cuts a stream of byte chunks, split anywhere, into the `u24le`-prefixed frames of secret-stream.
///
/// Linear in the bytes received, whatever the chunking: when many frames arrive in one chunk they are read in
/// place (no copy per frame), and when one frame arrives in many chunks each chunk is appended once, into
/// capacity reserved from the frame's length prefix. Only the unread tail of a chunk is ever moved (once, when
/// the next chunk arrives), so no byte is copied more than twice.
package struct FrameReassembler {
    /// The largest frame body accepted; a prefix announcing more fails with `frameTooLarge`.
    package let maximumFrameLength: Int

    private var buffer: [UInt8] = []
    private var readIndex = 0

    /// The buffer's capacity (what a partial frame costs, for tests).
    package var reservedCapacity: Int { buffer.capacity }

    /// Bytes moved to the front of the buffer so far (a measure of copying, for tests).
    package private(set) var movedBytes = 0

    /// Creates a reassembler accepting frames of up to `maximumFrameLength` bytes (at most `2^24 − 1`).
    package init(maximumFrameLength: Int = Framing.maximumFrameLength) {
        self.maximumFrameLength = min(maximumFrameLength, Framing.maximumFrameLength)
    }

    /// Bytes received and not yet returned as frames.
    package var bufferedByteCount: Int { buffer.count - readIndex }

    /// True when a partial frame (or a partial prefix) is buffered.
    package var hasPartialFrame: Bool { bufferedByteCount > 0 }

    /// Adds a chunk received from the transport.
    package mutating func append(_ chunk: [UInt8]) {
        guard !chunk.isEmpty else { return }
        if readIndex == buffer.count {
            // Everything before was consumed: take the chunk as it is.
            buffer = chunk
            readIndex = 0
            return
        }
        if readIndex > 0 {
            // Move the unread tail (less than one frame) to the front, once.
            movedBytes += buffer.count - readIndex
            buffer.removeSubrange(0..<readIndex)
            readIndex = 0
        }
        if buffer.count >= Framing.prefixLength {
            let needed = Framing.prefixLength + Self.length(buffer, at: 0)
            // The whole frame is reserved once a quarter of it has arrived (or when it is small): a prefix
            // alone, from a peer not even authenticated yet, must not cost 16 MiB. Before that the buffer
            // grows as arrays do.
            let arrived = buffer.count + chunk.count
            if needed <= maximumFrameLength + Framing.prefixLength, buffer.capacity < needed,
               needed <= Swift.max(Self.smallFrame, 4 * arrived) {
                buffer.reserveCapacity(needed)
            }
        }
        buffer.append(contentsOf: chunk)
    }

    /// Calls `body` with the next complete frame's body (valid only during the call) and consumes it; returns
    /// `nil` when no complete frame is buffered.
    /// - Throws: ``ReplicationError`` with code ``ReplicationError/Code/frameTooLarge`` when the next prefix
    ///   announces more than ``maximumFrameLength``; whatever `body` throws (the frame is consumed then too).
    package mutating func nextFrame<R>(
        _ body: (UnsafeRawBufferPointer) throws(ReplicationError) -> R
    ) throws(ReplicationError) -> R? {
        let available = buffer.count - readIndex
        guard available >= Framing.prefixLength else { return nil }
        let length = Self.length(buffer, at: readIndex)
        guard length <= maximumFrameLength else {
            throw ReplicationError(
                .frameTooLarge, "secret-stream frame of \(length) bytes (limit \(maximumFrameLength))")
        }
        guard available >= Framing.prefixLength + length else { return nil }
        let start = readIndex + Framing.prefixLength
        readIndex = start + length
        // Array.withUnsafeBytes rethrows untyped errors: carry the typed one out in a Result.
        let result = buffer.withUnsafeBytes { bytes in
            Result { () throws(ReplicationError) in
                try body(UnsafeRawBufferPointer(rebasing: bytes[start..<(start + length)]))
            }
        }
        return try result.get()
    }

    /// The next complete frame as an array, or `nil`.
    package mutating func nextFrame() throws(ReplicationError) -> [UInt8]? {
        try nextFrame { Array($0) }
    }

    /// Frames up to this size are reserved as soon as their prefix is known.
    static let smallFrame = 64 << 10

    private static func length(_ bytes: [UInt8], at index: Int) -> Int {
        Int(bytes[index]) | Int(bytes[index + 1]) << 8 | Int(bytes[index + 2]) << 16
    }
}
