package import Hypercore

extension Protomux {
    /// Opens (or answers the remote's open of) the `hypercore/alpha` channel of the core with `discoveryKey`,
    /// under the alias `hypercore`, as hypercore's replicator does.
    /// - Throws: ``ReplicationError`` `.protocolViolation` when the core's channel is already open.
    package mutating func openHypercore(
        discoveryKey: Bytes32, handshake: ChannelHandshake
    ) throws(ReplicationError) -> OpenResult {
        try open(
            protocol: HypercoreMessage.protocolName, aliases: [HypercoreMessage.protocolAlias],
            id: discoveryKey.bytes, handshake: handshake.encoded)
    }

    /// Sends a `hypercore/alpha` message on `channel`, encoded straight into the frame (or the batch).
    /// - Returns: the frame to send; `nil` while corked or when the channel is closed (see
    ///   ``send(_:type:payload:)``).
    package mutating func send(_ message: HypercoreMessage, on channel: Channel) -> [UInt8]? {
        send(channel, type: message.type, payload: message)
    }
}
