package import Hypercore

/// The handshake a `hypercore/alpha` channel open carries (spec D.3, D.4): whether the sender serves seeks, and
/// the replication capability proving it holds the core's key for this connection (spec A.5).
///
/// Wire form: `uint(flags: bit 0 seeks) ‖ fixed32(capability)`. Trailing bytes are ignored; unknown flag bits
/// are kept.
package struct ChannelHandshake: WireMessage {
    /// The flag bits; bit 0 is ``seeks``.
    package var flags: UInt64
    /// `B2b256(REPLICATE_INITIATOR or _RESPONDER ‖ key; key = handshakeHash)`, see ``Caps/replicate(isInitiator:key:handshakeHash:)``.
    package var capability: Bytes32

    /// True when the sender answers seek requests.
    package var seeks: Bool {
        get { flags & 1 != 0 }
        set { flags = newValue ? flags | 1 : flags & ~1 }
    }

    /// Creates a handshake.
    package init(seeks: Bool = true, capability: Bytes32) {
        self.flags = seeks ? 1 : 0
        self.capability = capability
    }

    package init(decoding d: inout CompactDecoder) throws(HypercoreError) {
        flags = try d.uint()
        capability = try d.fixed32()
    }

    /// Decodes the handshake bytes of a channel open.
    /// - Throws: ``ReplicationError`` `.malformedMessage` when they are cut short.
    package init(_ bytes: [UInt8]) throws(ReplicationError) {
        self = try decodeWireMessage(Self.self, name: "open handshake", bytes[...])
    }

    package var encodedLength: Int { CompactEncoder.uintLength(flags) + 32 }

    package func encode(into e: inout CompactEncoder) {
        e.uint(flags)
        e.fixed32(capability)
    }
}
