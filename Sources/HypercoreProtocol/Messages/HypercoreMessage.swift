package import Hypercore

/// A message on a `hypercore/alpha` channel (spec D.4): one case per message type, in wire-type order.
///
/// ``decode(type:payload:)`` reads a channel message delivered by ``Protomux``; ``encode(into:)`` and
/// ``encodedLength`` let the mux write one straight into a frame.
///
/// **Unknown types.** protomux ignores message types a channel does not know, and later hypercore versions may
/// add types. A type above 9 therefore decodes to ``unknown(type:payload:)`` rather than failing, so the
/// replicator can ignore it as JavaScript does. Only a *known* type whose payload does not decode throws.
package enum HypercoreMessage: Sendable, Hashable {
    /// `sync` (0).
    case sync(SyncMessage)
    /// `request` (1).
    case request(RequestMessage)
    /// `cancel` (2).
    case cancel(CancelMessage)
    /// `data` (3).
    case data(DataMessage)
    /// `noData` (4).
    case noData(NoDataMessage)
    /// `want` (5).
    case want(WantMessage)
    /// `unwant` (6).
    case unwant(WantMessage)
    /// `bitfield` (7).
    case bitfield(BitfieldMessage)
    /// `range` (8).
    case range(RangeMessage)
    /// `extension` (9).
    case `extension`(ExtensionMessage)
    /// A type this implementation does not know, with its payload as received.
    case unknown(type: UInt64, payload: [UInt8])

    /// The protomux protocol name of a hypercore channel.
    package static let protocolName = "hypercore/alpha"
    /// The alias hypercore registers for its channel (`hypercore`).
    package static let protocolAlias = "hypercore"

    /// The wire type numbers (the index in the channel's message list).
    package enum WireType {
        /// `sync`.
        package static let sync: UInt64 = 0
        /// `request`.
        package static let request: UInt64 = 1
        /// `cancel`.
        package static let cancel: UInt64 = 2
        /// `data`.
        package static let data: UInt64 = 3
        /// `noData`.
        package static let noData: UInt64 = 4
        /// `want`.
        package static let want: UInt64 = 5
        /// `unwant`.
        package static let unwant: UInt64 = 6
        /// `bitfield`.
        package static let bitfield: UInt64 = 7
        /// `range`.
        package static let range: UInt64 = 8
        /// `extension`.
        package static let `extension`: UInt64 = 9
    }

    /// The wire type of this message.
    package var type: UInt64 {
        switch self {
        case .sync: WireType.sync
        case .request: WireType.request
        case .cancel: WireType.cancel
        case .data: WireType.data
        case .noData: WireType.noData
        case .want: WireType.want
        case .unwant: WireType.unwant
        case .bitfield: WireType.bitfield
        case .range: WireType.range
        case .extension: WireType.extension
        case .unknown(let type, _): type
        }
    }

    /// The message name used in errors and logs (`sync`, `request`, …, or `type 12`).
    package static func name(ofType type: UInt64) -> String {
        switch type {
        case WireType.sync: "sync"
        case WireType.request: "request"
        case WireType.cancel: "cancel"
        case WireType.data: "data"
        case WireType.noData: "noData"
        case WireType.want: "want"
        case WireType.unwant: "unwant"
        case WireType.bitfield: "bitfield"
        case WireType.range: "range"
        case WireType.extension: "extension"
        default: "type \(type)"
        }
    }

    /// Decodes the payload of a channel message of wire type `type`.
    ///
    /// Trailing bytes after the fields this implementation knows are ignored (optional fields of newer
    /// peers); a field cut short or a count beyond its bound throws. A `data` message's block value is the only
    /// part copied in bulk, once.
    /// - Throws: ``ReplicationError`` `.malformedMessage`.
    package static func decode(type: UInt64, payload: ArraySlice<UInt8>) throws(ReplicationError) -> HypercoreMessage {
        let name = name(ofType: type)
        switch type {
        case WireType.sync: return .sync(try decodeWireMessage(SyncMessage.self, name: name, payload))
        case WireType.request: return .request(try decodeWireMessage(RequestMessage.self, name: name, payload))
        case WireType.cancel: return .cancel(try decodeWireMessage(CancelMessage.self, name: name, payload))
        case WireType.data: return .data(try decodeWireMessage(DataMessage.self, name: name, payload))
        case WireType.noData: return .noData(try decodeWireMessage(NoDataMessage.self, name: name, payload))
        case WireType.want: return .want(try decodeWireMessage(WantMessage.self, name: name, payload))
        case WireType.unwant: return .unwant(try decodeWireMessage(WantMessage.self, name: name, payload))
        case WireType.bitfield: return .bitfield(try decodeWireMessage(BitfieldMessage.self, name: name, payload))
        case WireType.range: return .range(try decodeWireMessage(RangeMessage.self, name: name, payload))
        case WireType.extension: return .extension(try decodeWireMessage(ExtensionMessage.self, name: name, payload))
        default: return .unknown(type: type, payload: Array(payload))
        }
    }

    /// Decodes the payload of a channel message of wire type `type`.
    /// - Throws: ``ReplicationError`` `.malformedMessage`.
    package static func decode(type: UInt64, payload: [UInt8]) throws(ReplicationError) -> HypercoreMessage {
        try decode(type: type, payload: payload[...])
    }
}

extension HypercoreMessage: ProtomuxPayload {
    /// The size of the encoded payload (without the channel and type a frame adds).
    package var encodedLength: Int {
        switch self {
        case .sync(let m): m.encodedLength
        case .request(let m): m.encodedLength
        case .cancel(let m): m.encodedLength
        case .data(let m): m.encodedLength
        case .noData(let m): m.encodedLength
        case .want(let m), .unwant(let m): m.encodedLength
        case .bitfield(let m): m.encodedLength
        case .range(let m): m.encodedLength
        case .extension(let m): m.encodedLength
        case .unknown(_, let payload): payload.count
        }
    }

    /// Appends the encoded payload (without the channel and type a frame adds).
    package func encode(into e: inout CompactEncoder) {
        switch self {
        case .sync(let m): m.encode(into: &e)
        case .request(let m): m.encode(into: &e)
        case .cancel(let m): m.encode(into: &e)
        case .data(let m): m.encode(into: &e)
        case .noData(let m): m.encode(into: &e)
        case .want(let m), .unwant(let m): m.encode(into: &e)
        case .bitfield(let m): m.encode(into: &e)
        case .range(let m): m.encode(into: &e)
        case .extension(let m): m.encode(into: &e)
        case .unknown(_, let payload): e.bytes.append(contentsOf: payload)
        }
    }

    /// The encoded payload as a fresh array.
    package var encoded: [UInt8] {
        var encoder = CompactEncoder(capacity: encodedLength)
        encode(into: &encoder)
        return encoder.bytes
    }
}

/// Decodes `M` from `payload`, turning a decoding failure into ``ReplicationError`` `.malformedMessage`.
func decodeWireMessage<M: WireMessage>(
    _: M.Type, name: String, _ payload: ArraySlice<UInt8>
) throws(ReplicationError) -> M {
    let result: Result<M, HypercoreError> = payload.withUnsafeBytes { buffer in
        var decoder = CompactDecoder(buffer)
        do throws(HypercoreError) {
            return .success(try M(decoding: &decoder))
        } catch {
            return .failure(error)
        }
    }
    switch result {
    case .success(let message):
        return message
    case .failure(let error):
        throw ReplicationError(.malformedMessage, "malformed \(name) message: \(error.message)", cause: error)
    }
}
