package import Hypercore

/// The stream ids of secret-stream's header frame (spec A.4, D.2).
///
/// After the handshake each side sends `streamId ‖ secretstreamHeader` (56 bytes), where
/// `streamId = B2b256(msg = isInitiator ? NS_INITIATOR : NS_RESPONDER; key = handshakeHash)` and the
/// namespaces are `namespace("hyperswarm/secret-stream", [0, 1])`. The receiver recomputes the id with the
/// opposite role and compares.
package enum StreamIdentifier {
    private static let namespaces = Hashing.namespace("hyperswarm/secret-stream", count: 3)

    /// `NS_INITIATOR`, `a931a015…2bf7`.
    package static let initiatorNamespace = namespaces[0]
    /// `NS_RESPONDER`, `742c9d83…1061`.
    package static let responderNamespace = namespaces[1]
    /// `NS_SEND` (used only for UDX datagrams, not over TCP), `aab97d09…adcbf`.
    package static let sendNamespace = namespaces[2]

    /// Length of the header frame's body: the 32-byte stream id and the 24-byte secretstream header.
    package static let headerFrameLength = 56

    /// The id the side with role `isInitiator` sends for a handshake with hash `handshakeHash`.
    package static func streamID(handshakeHash: [UInt8], isInitiator: Bool) -> Bytes32 {
        Hashing.blake2b256((isInitiator ? initiatorNamespace : responderNamespace).bytes, key: handshakeHash)
    }
}
