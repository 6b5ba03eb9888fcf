import Hypercore
import HypercoreProtocol
import Testing

/// Bytes from hex written with spaces for readability ("00 01 fd e8 03").
func hex(_ string: String, sourceLocation: SourceLocation = #_sourceLocation) -> [UInt8] {
    let compact = string.filter { !$0.isWhitespace }
    guard let bytes = Hex.decode(compact) else {
        Issue.record("bad hex in test: \(string)", sourceLocation: sourceLocation)
        return []
    }
    return bytes
}

/// A node with a recognisable hash (every byte `fill`).
func node(_ index: UInt64, _ size: UInt64, fill: UInt8) -> TreeNode {
    var hash = Bytes32.zero
    hash.withUnsafeMutableBytes { for i in 0..<32 { $0[i] = fill } }
    return TreeNode(index: index, size: size, hash: hash)
}

/// One example of every `hypercore/alpha` message with every optional field present (the v11 forms
/// included), plus the smallest forms, for round trips, truncation and fuzzing.
let exampleMessages: [HypercoreMessage] = [
    .sync(SyncMessage(flags: [.canUpgrade, .uploading, .downloading], fork: 0, length: 1000, remoteLength: 0)),
    .sync(SyncMessage(flags: SyncMessage.Flags(rawValue: 0xFFFF), fork: .max, length: 0xFD, remoteLength: 0x1_0000)),
    .request(
        RequestMessage(id: 1, ProofRequest(block: .init(index: 999, nodes: 0), upgrade: .init(start: 0, length: 1000)))),
    .request(
        RequestMessage(
            id: .max, fork: 3, block: .init(index: 5, nodes: 2), hash: .init(index: 11, nodes: 1),
            seek: .init(bytes: 70_000, padding: 16), upgrade: .init(start: 20, length: 17),
            manifest: true, priority: 2)),
    .request(RequestMessage(id: 7, manifest: true)),
    .cancel(CancelMessage(requestId: 0xFFFF_FFFF)),
    .data(
        DataMessage(
            requestId: 9, fork: 1,
            block: .init(
                index: 999, value: Array(repeating: 0x6C, count: 64),
                nodes: [node(1996, 64, fill: 1), node(1993, 128, fill: 2)]),
            hash: .init(index: 7, nodes: [node(7, 4096, fill: 3)]),
            seek: .init(bytes: 12_345, nodes: [node(3, 300, fill: 4)]),
            upgrade: .init(
                start: 0, length: 1000, nodes: [node(511, 32768, fill: 5)], additionalNodes: [node(1991, 512, fill: 6)],
                signature: Array(repeating: 0xAB, count: 64)),
            manifest: Manifest.defaultCompat(publicKey: node(0, 0, fill: 7).hash))),
    .data(DataMessage(requestId: 0, block: .init(index: 0, value: [], nodes: []))),
    .data(
        DataMessage(
            requestId: 1,
            hash: .init(
                index: 0x1_0000_0000,
                nodes: [  // every varint width in nodes
                    node(0xFC, 0xFD, fill: 8), node(0xFFFF, 0x1_0000, fill: 9),
                    node(0xFFFF_FFFF, 0x1_0000_0000, fill: 10),
                    node(.max, 0, fill: 11),
                ]))),
    .noData(NoDataMessage(requestId: 4, reason: .notAvailable)),
    .noData(NoDataMessage(requestId: 300, reason: NoDataMessage.Reason(rawValue: 77))),
    .want(WantMessage(start: 0, length: 2_097_152, any: true)),
    .unwant(WantMessage(start: 2_097_152, length: 2_097_152, any: true)),
    .bitfield(BitfieldMessage(start: 64, words: [0xFFFF_FFFF, 0, 0x8000_0001])),
    .range(RangeMessage(drop: false, start: 0, length: 1000)),
    .range(RangeMessage(drop: true, start: 1_000_000, length: 1)),
    .extension(ExtensionMessage(name: "kappa/ping", message: [1, 2, 3])),
]

/// Delivers `frame` (which must exist) to `mux` and returns its events.
func deliver(
    _ frame: [UInt8]?, to mux: inout Protomux, sourceLocation: SourceLocation = #_sourceLocation
) throws -> [ProtomuxEvent] {
    let frame = try #require(frame, "no frame to deliver", sourceLocation: sourceLocation)
    return try mux.receive(frame)
}

/// Delivers every frame to `mux` and returns all events in order.
func deliver(_ frames: [[UInt8]], to mux: inout Protomux) throws -> [ProtomuxEvent] {
    var events: [ProtomuxEvent] = []
    for frame in frames { try mux.receive(frame, into: &events) }
    return events
}

/// The discovery key of the D.9 transcript's core.
let transcriptDiscoveryKey = hex("3a89f6d50ed41371f942c2d6ba86ff7d11e59f19d9cf1c11aaacd5e64184f230")
