/// What a peer asks to have proven (the body of a `request` message, spec D.4).
public struct ProofRequest: Sendable, Hashable {
    /// A block and how many tree levels above it the requester lacks.
    public struct Block: Sendable, Hashable {
        /// The block number (for ``ProofRequest/block``) or flat-tree index (for ``ProofRequest/hash``).
        public var index: UInt64
        /// How many levels above the item the requester lacks (see ``Feed/missingNodes(_:)``).
        public var nodes: UInt64
        /// Creates the item.
        public init(index: UInt64, nodes: UInt64) { self.index = index; self.nodes = nodes }
    }
    /// A tree node (by flat-tree index) and how many levels above it the requester lacks.
    public struct Hash: Sendable, Hashable {
        /// The block number (for ``ProofRequest/block``) or flat-tree index (for ``ProofRequest/hash``).
        public var index: UInt64
        /// How many levels above the item the requester lacks (see ``Feed/missingNodes(_:)``).
        public var nodes: UInt64
        /// Creates the item.
        public init(index: UInt64, nodes: UInt64) { self.index = index; self.nodes = nodes }
    }
    /// A new signed length: blocks `[start, start + length)` beyond what the requester has.
    public struct Upgrade: Sendable, Hashable {
        /// The requester's length.
        public var start: UInt64
        /// How many blocks beyond `start` to prove.
        public var length: UInt64
        /// Creates the upgrade request.
        public init(start: UInt64, length: UInt64) { self.start = start; self.length = length }
    }

    /// The fork the requester is on.
    public var fork: UInt64
    /// A block to prove.
    public var block: Block?
    /// A tree node to prove.
    public var hash: Hash?
    /// A new signed length to prove.
    public var upgrade: Upgrade?

    /// Creates a request.
    public init(fork: UInt64 = 0, block: Block? = nil, hash: Hash? = nil, upgrade: Upgrade? = nil) {
        self.fork = fork
        self.block = block
        self.hash = hash
        self.upgrade = upgrade
    }
}

/// A proof (the body of a `data` message, spec D.4): a block or node with its Merkle path, and optionally
/// an upgrade to a new signed length.
public struct Proof: Sendable, Hashable {
    /// A block value and the sibling nodes from its leaf upwards.
    public struct Block: Sendable, Hashable {
        /// The block number.
        public var index: UInt64
        /// The block bytes.
        public var value: [UInt8]
        /// The sibling nodes from the leaf upwards.
        public var nodes: [TreeNode]
        /// Creates the block proof.
        public init(index: UInt64, value: [UInt8], nodes: [TreeNode]) {
            self.index = index; self.value = value; self.nodes = nodes
        }
    }
    /// A tree node (first element of `nodes`) and its siblings upwards.
    public struct Hash: Sendable, Hashable {
        /// The flat-tree index of the proven node.
        public var index: UInt64
        /// The node itself, then its siblings upwards.
        public var nodes: [TreeNode]
        /// Creates the hash proof.
        public init(index: UInt64, nodes: [TreeNode]) { self.index = index; self.nodes = nodes }
    }
    /// The nodes that extend the requester's tree to a new signed length, and the signature of that length.
    public struct Upgrade: Sendable, Hashable {
        /// The requester's length the upgrade starts from.
        public var start: UInt64
        /// The requested number of blocks beyond `start`.
        public var length: UInt64
        /// Nodes extending the requester's roots to `start + length`.
        public var nodes: [TreeNode]
        /// Nodes extending further, to the prover's whole length (which the signature covers).
        public var additionalNodes: [TreeNode]
        /// The raw signature bytes (64 for a compat core).
        public var signature: [UInt8]
        /// Creates the upgrade proof.
        public init(start: UInt64, length: UInt64, nodes: [TreeNode], additionalNodes: [TreeNode], signature: [UInt8]) {
            self.start = start; self.length = length; self.nodes = nodes
            self.additionalNodes = additionalNodes; self.signature = signature
        }
    }

    /// The prover's fork.
    public var fork: UInt64
    /// The proven block, if one was requested.
    public var block: Block?
    /// The proven node, if one was requested.
    public var hash: Hash?
    /// The upgrade, if one was requested.
    public var upgrade: Upgrade?

    /// Creates a proof.
    public init(fork: UInt64 = 0, block: Block? = nil, hash: Hash? = nil, upgrade: Upgrade? = nil) {
        self.fork = fork
        self.block = block
        self.hash = hash
        self.upgrade = upgrade
    }
}
