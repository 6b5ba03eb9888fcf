import Hypercore

/// The protomux frame codec (spec D.3): one frame per secret-stream message.
///
/// A frame is `uint(channel) ‖ uint(type) ‖ payload`, where `channel` is the *sender's* local channel id.
/// Channel 0 carries control messages (``ProtomuxControl``) and batches: a batch (type 0 on channel 0) is
/// `uint(firstChannel)` followed by entries `uint(length) ‖ uint(type) ‖ payload`; an entry of length 0 is a
/// channel switch followed by `uint(newChannel)`; channel-0 entries are control messages.
package enum ProtomuxFrame {
    /// One message of a frame: a channel message, or a control message when ``channel`` is 0.
    package struct Entry: Sendable, Equatable {
        /// The sender's channel id (0: control).
        package var channel: UInt64
        /// The message type (the control type on channel 0).
        package var type: UInt64
        /// The payload, a slice of the frame (no copy).
        package var payload: ArraySlice<UInt8>
    }

    /// The frame of one message: `uint(channel) ‖ uint(type) ‖ payload`, allocated once at its exact size.
    package static func message(channel: UInt64, type: UInt64, payload: some ProtomuxPayload) -> [UInt8] {
        var e = CompactEncoder(
            capacity: CompactEncoder.uintLength(channel) + CompactEncoder.uintLength(type) + payload.encodedLength)
        e.uint(channel)
        e.uint(type)
        payload.encode(into: &e)
        return e.bytes
    }

    /// The frame of a control message: `0 ‖ uint(type) ‖ body`.
    package static func control(_ control: ProtomuxControl) -> [UInt8] {
        message(channel: 0, type: control.type, payload: control)
    }

    /// Calls `body` with each message of `frame` in order: once for a plain frame, once per entry for a batch.
    ///
    /// An empty frame (a keep-alive) has no messages. Control entries (channel 0) are passed with their body as
    /// the payload; a batch inside a batch is refused (no implementation sends one, and refusing it bounds
    /// the work a frame can cause).
    /// - Throws: ``ReplicationError`` `.malformedMessage` when the frame is cut short or an entry overruns it;
    ///   whatever `body` throws.
    package static func forEachEntry(
        in frame: [UInt8], _ body: (Entry) throws(ReplicationError) -> Void
    ) throws(ReplicationError) {
        guard !frame.isEmpty else { return }
        var reader = FrameReader(frame)
        let channel = try reader.uint("the channel id")
        let type = try reader.uint("the message type")
        guard channel == 0, type == ProtomuxControl.batchType else {
            try body(Entry(channel: channel, type: type, payload: frame[reader.offset...]))
            return
        }
        var current = try reader.uint("the batch's first channel id")
        while !reader.isAtEnd {
            let length = try reader.length("a batch entry")
            if length == 0 {
                current = try reader.uint("a batch channel switch")
                continue
            }
            let entryEnd = reader.offset + length
            var entry = FrameReader(frame, from: reader.offset, to: entryEnd)
            let entryType = try entry.uint("a batch entry's type")
            if current == 0 && entryType == ProtomuxControl.batchType {
                throw ReplicationError(.malformedMessage, "protomux batch nested in a batch")
            }
            try body(Entry(channel: current, type: entryType, payload: frame[entry.offset..<entryEnd]))
            reader.offset = entryEnd
        }
    }

    /// The messages of `frame` as an array (see ``forEachEntry(in:_:)``).
    /// - Throws: ``ReplicationError`` `.malformedMessage`.
    package static func entries(of frame: [UInt8]) throws(ReplicationError) -> [Entry] {
        var entries: [Entry] = []
        try forEachEntry(in: frame) { entries.append($0) }
        return entries
    }
}
