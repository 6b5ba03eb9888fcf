package import Hypercore

/// `request` (type 1): the sender asks for a proof — a block, a tree node, a byte offset and/or a new signed
/// length — and optionally the manifest (spec D.4, D.5).
///
/// Wire form: `uint(flags) ‖ uint(id) ‖ uint(fork) ‖ [block: uint(index) ‖ uint(nodes)] ‖
/// [hash: uint(index) ‖ uint(nodes)] ‖ [seek: uint(bytes) ‖ uint(padding)] ‖ [upgrade: uint(start) ‖
/// uint(length)] ‖ [uint(priority)]`. Flags: bit 0 block, 1 hash, 2 seek, 3 upgrade, 4 manifest (no body),
/// 5 priority. A priority of 0 is not sent, as hypercore does.
///
/// The proof part converts to and from ``ProofRequest`` (``proofRequest``, ``init(id:_:seek:manifest:priority:)``);
/// a ``seek`` has no counterpart there and the server answers it with `noData`.
package struct RequestMessage: WireMessage {
    /// A seek: the block holding byte `bytes` of the core.
    package struct Seek: Sendable, Hashable {
        /// The byte offset to locate.
        package var bytes: UInt64
        /// Padding bytes per block the requester assumes (block encryption).
        package var padding: UInt64
        /// Creates the seek.
        package init(bytes: UInt64, padding: UInt64) {
            self.bytes = bytes
            self.padding = padding
        }
    }

    /// The request id the answer (`data` or `noData`) will carry; 0 for unsolicited fork checks.
    package var id: UInt64
    /// The fork the requester believes the sender is on.
    package var fork: UInt64
    /// A block to prove: its number and how many levels above it the requester lacks.
    package var block: ProofRequest.Block?
    /// A tree node to prove: its flat-tree index and how many levels above it the requester lacks.
    package var hash: ProofRequest.Hash?
    /// A byte offset to locate.
    package var seek: Seek?
    /// A new signed length to prove.
    package var upgrade: ProofRequest.Upgrade?
    /// True when the requester also wants the manifest.
    package var manifest: Bool
    /// The request's priority (hypercore 11); 0 is the default and is not sent.
    package var priority: UInt64

    /// Creates a request.
    package init(
        id: UInt64, fork: UInt64 = 0, block: ProofRequest.Block? = nil, hash: ProofRequest.Hash? = nil,
        seek: Seek? = nil, upgrade: ProofRequest.Upgrade? = nil, manifest: Bool = false, priority: UInt64 = 0
    ) {
        self.id = id
        self.fork = fork
        self.block = block
        self.hash = hash
        self.seek = seek
        self.upgrade = upgrade
        self.manifest = manifest
        self.priority = priority
    }

    /// Creates the request message for `request`, sent with request id `id`.
    package init(id: UInt64, _ request: ProofRequest, seek: Seek? = nil, manifest: Bool = false, priority: UInt64 = 0) {
        self.init(
            id: id, fork: request.fork, block: request.block, hash: request.hash, seek: seek,
            upgrade: request.upgrade, manifest: manifest, priority: priority)
    }

    /// The proof this message asks for (without ``seek``, which ``ProofRequest`` cannot express).
    package var proofRequest: ProofRequest {
        ProofRequest(fork: fork, block: block, hash: hash, upgrade: upgrade)
    }

    private var flags: UInt64 {
        (block != nil ? 1 : 0) | (hash != nil ? 2 : 0) | (seek != nil ? 4 : 0) | (upgrade != nil ? 8 : 0)
            | (manifest ? 16 : 0) | (priority != 0 ? 32 : 0)
    }

    package init(decoding d: inout CompactDecoder) throws(HypercoreError) {
        let flags = try d.uint()
        id = try d.uint()
        fork = try d.uint()
        block = flags & 1 != 0 ? ProofRequest.Block(index: try d.uint(), nodes: try d.uint()) : nil
        hash = flags & 2 != 0 ? ProofRequest.Hash(index: try d.uint(), nodes: try d.uint()) : nil
        seek = flags & 4 != 0 ? Seek(bytes: try d.uint(), padding: try d.uint()) : nil
        upgrade = flags & 8 != 0 ? ProofRequest.Upgrade(start: try d.uint(), length: try d.uint()) : nil
        manifest = flags & 16 != 0
        priority = flags & 32 != 0 ? try d.uint() : 0
    }

    package var encodedLength: Int {
        typealias E = CompactEncoder
        var n = 1 + E.uintLength(id) + E.uintLength(fork)
        if let block { n += E.uintLength(block.index) + E.uintLength(block.nodes) }
        if let hash { n += E.uintLength(hash.index) + E.uintLength(hash.nodes) }
        if let seek { n += E.uintLength(seek.bytes) + E.uintLength(seek.padding) }
        if let upgrade { n += E.uintLength(upgrade.start) + E.uintLength(upgrade.length) }
        if priority != 0 { n += E.uintLength(priority) }
        return n
    }

    package func encode(into e: inout CompactEncoder) {
        e.uint(flags)
        e.uint(id)
        e.uint(fork)
        if let block {
            e.uint(block.index)
            e.uint(block.nodes)
        }
        if let hash {
            e.uint(hash.index)
            e.uint(hash.nodes)
        }
        if let seek {
            e.uint(seek.bytes)
            e.uint(seek.padding)
        }
        if let upgrade {
            e.uint(upgrade.start)
            e.uint(upgrade.length)
        }
        if priority != 0 { e.uint(priority) }
    }
}
