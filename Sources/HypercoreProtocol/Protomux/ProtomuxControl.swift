package import Hypercore

/// A protomux control message: the body of a channel-0 frame other than a batch (spec D.3).
///
/// On the wire a control frame is `uint(0) ‖ uint(type) ‖ body`; inside a batch it is a channel-0 entry
/// `uint(type) ‖ body`. As a ``ProtomuxPayload`` this value encodes the *body*; ``type`` is the control type.
package enum ProtomuxControl: Sendable, Hashable {
    /// `open` (1): `uint(localId) ‖ string(protocol) ‖ buffer(id) ‖ handshake`. The handshake runs to the end.
    case open(channel: UInt64, protocol: String, id: [UInt8], handshake: [UInt8])
    /// `reject` (2): `uint(remoteId)` — the sender refuses the channel the receiver opened with that id.
    case reject(channel: UInt64)
    /// `close` (3): `uint(localId)` — the sender closes its channel.
    case close(channel: UInt64)
    /// A control type this implementation does not know (protomux ignores those).
    case unknown(type: UInt64)

    /// The control type of a batch frame (0), which is not a ``ProtomuxControl`` value itself.
    package static let batchType: UInt64 = 0

    /// The control type number.
    package var type: UInt64 {
        switch self {
        case .open: 1
        case .reject: 2
        case .close: 3
        case .unknown(let type): type
        }
    }

    /// Decodes a control body of control type `type` (not 0, the batch) from `bytes[range]`. Trailing bytes
    /// after a reject's or close's id are ignored.
    /// - Throws: ``ReplicationError`` `.malformedMessage` when the body is cut short or the protocol name is not
    ///   UTF-8.
    package static func decode(type: UInt64, _ bytes: [UInt8], _ range: Range<Int>) throws(ReplicationError) -> Self {
        var reader = FrameReader(bytes, from: range.lowerBound, to: range.upperBound)
        switch type {
        case 1:
            let channel = try reader.uint("the open's channel id")
            let protocolRange = try reader.buffer("the open's protocol name")
            guard let name = String(validating: bytes[protocolRange], as: UTF8.self) else {
                throw ReplicationError(.malformedMessage, "protomux open: the protocol name is not valid UTF-8")
            }
            let id = Array(bytes[try reader.buffer("the open's id")])
            let handshake = Array(bytes[reader.offset..<reader.end])
            return .open(channel: channel, protocol: name, id: id, handshake: handshake)
        case 2:
            return .reject(channel: try reader.uint("the reject's channel id"))
        case 3:
            return .close(channel: try reader.uint("the close's channel id"))
        default:
            return .unknown(type: type)
        }
    }
}

extension ProtomuxControl: ProtomuxPayload {
    /// The size of the body (without the channel 0 and the type).
    package var encodedLength: Int {
        switch self {
        case .open(let channel, let name, let id, let handshake):
            let n = name.utf8.count
            return CompactEncoder.uintLength(channel) + CompactEncoder.uintLength(n) + n
                + CompactEncoder.uintLength(id.count) + id.count + handshake.count
        case .reject(let channel), .close(let channel):
            return CompactEncoder.uintLength(channel)
        case .unknown:
            return 0
        }
    }

    /// Appends the body (without the channel 0 and the type).
    package func encode(into e: inout CompactEncoder) {
        switch self {
        case .open(let channel, let name, let id, let handshake):
            e.uint(channel)
            e.uint(name.utf8.count)
            e.bytes.append(contentsOf: name.utf8)
            e.buffer(id)
            e.bytes.append(contentsOf: handshake)
        case .reject(let channel), .close(let channel):
            e.uint(channel)
        case .unknown:
            break
        }
    }
}
