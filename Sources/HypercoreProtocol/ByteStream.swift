/// A connection to a peer as the replication protocol sees it: a duplex stream of bytes.
///
/// This is the seam between the protocol and its transports. TCP (in `KappaNIO`), in-process pairs
/// (in `KappaTesting`) and file-descriptor pipes implement it; nothing in this module knows which one it
/// runs over.
///
/// Chunk boundaries of ``inbound`` carry no meaning: the secret stream reassembles its own frames.
public protocol ByteStream: Sendable {
    /// The byte chunks that arrive from the peer.
    associatedtype Inbound: AsyncSequence<[UInt8], any Error> & Sendable

    /// The bytes the peer sends, in order. The sequence ends when the peer closes its side, and throws
    /// when the connection fails. It is iterated once.
    var inbound: Inbound { get }

    /// Sends `bytes` to the peer, in order. Returns when the transport accepted them (its back-pressure);
    /// throws when the connection is gone.
    func write(_ bytes: [UInt8]) async throws

    /// Ends the outbound direction and releases the connection. Further writes throw. Safe to call twice.
    func close() async
}
