package import Hypercore

/// `data` (type 3): a proof answering a request — a block or tree node with its Merkle path, a seek result,
/// an upgrade to a new signed length — and optionally the manifest (spec D.4, D.5).
///
/// Wire form: `uint(flags) ‖ uint(requestId) ‖ uint(fork) ‖ [block: uint(index) ‖ buffer(value) ‖
/// array(node)] ‖ [hash: uint(index) ‖ array(node)] ‖ [seek: uint(bytes) ‖ array(node)] ‖ [upgrade:
/// uint(start) ‖ uint(length) ‖ array(node) ‖ array(node) ‖ buffer(signature)] ‖ [manifest]`, flags bit 0–4
/// in that order; `node` is `uint(index) ‖ uint(size) ‖ fixed32(hash)`.
///
/// Decoding copies the block value out of the frame once; node arrays are bounded by
/// ``maxNodesPerArray`` and checked against the bytes left before they are allocated.
///
/// The proof part converts to and from ``Proof`` (``proof``, ``init(requestId:_:seek:manifest:)``) without
/// copying the block value (arrays are shared copy-on-write).
package struct DataMessage: WireMessage {
    /// A seek result: the byte offset and the nodes locating it.
    package struct Seek: Sendable, Hashable {
        /// The byte offset that was looked up.
        package var bytes: UInt64
        /// The nodes that locate it.
        package var nodes: [TreeNode]
        /// Creates the seek result.
        package init(bytes: UInt64, nodes: [TreeNode]) {
            self.bytes = bytes
            self.nodes = nodes
        }
    }

    /// The most nodes one node array may hold. A tree of 2^64 blocks is 64 levels deep, so no proof needs
    /// more than two nodes per level; this leaves room and stops a peer from sending a megabyte of nodes.
    package static let maxNodesPerArray = 256

    /// The largest upgrade signature accepted: 64 bytes for a compat core, a multisig blob otherwise.
    package static let maxSignatureLength = 64 * 1024

    /// The request this answers; 0 for unsolicited data (a push or a fork proof).
    package var requestId: UInt64
    /// The sender's fork.
    package var fork: UInt64
    /// The proven block.
    package var block: Proof.Block?
    /// The proven tree node.
    package var hash: Proof.Hash?
    /// The seek result.
    package var seek: Seek?
    /// The upgrade to a new signed length.
    package var upgrade: Proof.Upgrade?
    /// The core's manifest, when the request asked for it.
    package var manifest: Manifest? {
        get { manifestBox?.manifest }
        set { manifestBox = newValue.map(ManifestBox.init) }
    }

    /// The manifest lives behind a reference: it is rare and large (over half the message's inline size), and
    /// every `data` message is copied a few times on its way through the mux.
    private var manifestBox: ManifestBox?

    private final class ManifestBox: Sendable, Hashable {
        let manifest: Manifest
        init(_ manifest: Manifest) { self.manifest = manifest }
        static func == (a: ManifestBox, b: ManifestBox) -> Bool { a.manifest == b.manifest }
        func hash(into hasher: inout Hasher) { hasher.combine(manifest) }
    }

    /// Creates a `data` message.
    package init(
        requestId: UInt64, fork: UInt64 = 0, block: Proof.Block? = nil, hash: Proof.Hash? = nil, seek: Seek? = nil,
        upgrade: Proof.Upgrade? = nil, manifest: Manifest? = nil
    ) {
        self.requestId = requestId
        self.fork = fork
        self.block = block
        self.hash = hash
        self.seek = seek
        self.upgrade = upgrade
        self.manifest = manifest
    }

    /// Creates the `data` message carrying `proof`, answering request `requestId`.
    package init(requestId: UInt64, _ proof: Proof, seek: Seek? = nil, manifest: Manifest? = nil) {
        self.init(
            requestId: requestId, fork: proof.fork, block: proof.block, hash: proof.hash, seek: seek,
            upgrade: proof.upgrade, manifest: manifest)
    }

    /// The proof this message carries (without ``seek`` and ``manifest``, which ``Proof`` does not hold).
    package var proof: Proof {
        Proof(fork: fork, block: block, hash: hash, upgrade: upgrade)
    }

    package init(decoding d: inout CompactDecoder) throws(HypercoreError) {
        let flags = try d.uint()
        requestId = try d.uint()
        fork = try d.uint()
        let limit = Self.maxNodesPerArray
        if flags & 1 != 0 {
            let index = try d.uint()
            let value = try d.buffer()
            block = Proof.Block(index: index, value: value, nodes: try d.nodes(limit: limit))
        }
        if flags & 2 != 0 {
            hash = Proof.Hash(index: try d.uint(), nodes: try d.nodes(limit: limit))
        }
        if flags & 4 != 0 {
            seek = Seek(bytes: try d.uint(), nodes: try d.nodes(limit: limit))
        }
        if flags & 8 != 0 {
            let start = try d.uint()
            let length = try d.uint()
            let nodes = try d.nodes(limit: limit)
            let additionalNodes = try d.nodes(limit: limit)
            let signatureLength = try d.count(limit: Self.maxSignatureLength)
            let signature = try d.raw(signatureLength)
            upgrade = Proof.Upgrade(
                start: start, length: length, nodes: nodes, additionalNodes: additionalNodes,
                signature: signature)
        }
        if flags & 16 != 0 {
            manifest = try Manifest.decode(&d)
        }
    }

    private var flags: UInt64 {
        (block != nil ? 1 : 0) | (hash != nil ? 2 : 0) | (seek != nil ? 4 : 0) | (upgrade != nil ? 8 : 0)
            | (manifest != nil ? 16 : 0)
    }

    package var encodedLength: Int {
        typealias E = CompactEncoder
        var n = 1 + E.uintLength(requestId) + E.uintLength(fork)
        if let block {
            n +=
                E.uintLength(block.index) + E.uintLength(block.value.count) + block.value.count
                + E.nodesLength(block.nodes)
        }
        if let hash { n += E.uintLength(hash.index) + E.nodesLength(hash.nodes) }
        if let seek { n += E.uintLength(seek.bytes) + E.nodesLength(seek.nodes) }
        if let upgrade {
            n +=
                E.uintLength(upgrade.start) + E.uintLength(upgrade.length) + E.nodesLength(upgrade.nodes)
                + E.nodesLength(upgrade.additionalNodes) + E.uintLength(upgrade.signature.count)
                + upgrade.signature.count
        }
        if let manifest {
            var e = CompactEncoder(capacity: 128)
            manifest.encode(&e)
            n += e.bytes.count
        }
        return n
    }

    package func encode(into e: inout CompactEncoder) {
        e.uint(flags)
        e.uint(requestId)
        e.uint(fork)
        if let block {
            e.uint(block.index)
            e.buffer(block.value)
            e.nodes(block.nodes)
        }
        if let hash {
            e.uint(hash.index)
            e.nodes(hash.nodes)
        }
        if let seek {
            e.uint(seek.bytes)
            e.nodes(seek.nodes)
        }
        if let upgrade {
            e.uint(upgrade.start)
            e.uint(upgrade.length)
            e.nodes(upgrade.nodes)
            e.nodes(upgrade.additionalNodes)
            e.buffer(upgrade.signature)
        }
        if let manifest { manifest.encode(&e) }
    }
}
