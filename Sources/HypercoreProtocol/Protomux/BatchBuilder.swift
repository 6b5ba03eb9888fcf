import Hypercore

/// Collects the messages sent while a ``Protomux`` is corked into batch frames (spec D.3).
///
/// The batch starts with `0 ‖ 0 ‖ uint(firstChannel)`; each message adds `uint(length) ‖ uint(type) ‖ payload`,
/// preceded by `0 ‖ uint(channel)` when the channel changes. No frame exceeds ``maxBatch``: a message that
/// would overflow the current batch starts a new one, and a message too large for any batch becomes a plain
/// frame of its own, in order.
struct BatchBuilder: Sendable {
    /// The largest batch frame built.
    let maxBatch: Int
    /// A batch starting with an entry at least this long reserves ``maxBatch`` bytes.
    static let largeEntryLength = 64 * 1024
    /// Finished frames, in order.
    private var frames: [[UInt8]] = []
    /// The batch being built (empty: none).
    private var current = CompactEncoder(capacity: 0)
    private var currentChannel: UInt64 = 0
    private var entries = 0

    init(maxBatch: Int) {
        self.maxBatch = maxBatch
    }

    /// True when nothing was added since the last ``finish()``.
    var isEmpty: Bool { entries == 0 && frames.isEmpty }

    /// Adds one message on `channel` (0: a control message, `type` its control type).
    mutating func append(channel: UInt64, type: UInt64, payload: some ProtomuxPayload) {
        let bodyLength = CompactEncoder.uintLength(type) + payload.encodedLength
        let entryLength = CompactEncoder.uintLength(bodyLength) + bodyLength
        if entries > 0 {
            let switchLength = channel == currentChannel ? 0 : 1 + CompactEncoder.uintLength(channel)
            if current.bytes.count + switchLength + entryLength > maxBatch {
                closeCurrent()
            } else if switchLength > 0 {
                current.byte(0)
                current.uint(channel)
                currentChannel = channel
            }
        }
        if entries == 0 {
            let headerLength = 2 + CompactEncoder.uintLength(channel)
            guard headerLength + entryLength <= maxBatch else {
                frames.append(ProtomuxFrame.message(channel: channel, type: type, payload: payload))
                return
            }
            // A batch that starts with a large message (block data) gets the whole limit at once: appending more
            // then never copies megabytes to grow it, and pages never written are never touched.
            let capacity = entryLength >= Self.largeEntryLength ? maxBatch : max(256, headerLength + entryLength)
            current = CompactEncoder(capacity: capacity)
            current.byte(0)
            current.byte(0)
            current.uint(channel)
            currentChannel = channel
        }
        let lengthStart = current.bytes.count
        current.uint(bodyLength)
        let bodyStart = current.bytes.count
        current.uint(type)
        payload.encode(into: &current)
        let written = current.bytes.count - bodyStart
        if written != bodyLength {
            // The payload's `encodedLength` was wrong: rewrite the prefix so the batch stays well-formed.
            var prefix = CompactEncoder(capacity: 9)
            prefix.uint(written)
            current.bytes.replaceSubrange(lengthStart..<bodyStart, with: prefix.bytes)
        }
        entries += 1
    }

    private mutating func closeCurrent() {
        guard entries > 0 else { return }
        frames.append(current.bytes)
        current = CompactEncoder(capacity: 0)
        entries = 0
    }

    /// The frames built since the last call, in order, and a fresh start.
    mutating func finish() -> [[UInt8]] {
        closeCurrent()
        defer { frames = [] }
        return frames
    }
}
