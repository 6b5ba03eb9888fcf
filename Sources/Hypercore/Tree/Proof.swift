/// What a peer asks to have proven (the body of a `request` message, spec D.4).
public struct ProofRequest: Sendable, Hashable {
    /// A block and how many tree levels above it the requester lacks.
    public struct Block: Sendable, Hashable {
        public var index: UInt64
        public var nodes: UInt64
        public init(index: UInt64, nodes: UInt64) { self.index = index; self.nodes = nodes }
    }
    /// A tree node (by flat-tree index) and how many levels above it the requester lacks.
    public struct Hash: Sendable, Hashable {
        public var index: UInt64
        public var nodes: UInt64
        public init(index: UInt64, nodes: UInt64) { self.index = index; self.nodes = nodes }
    }
    /// A new signed length: blocks `[start, start + length)` beyond what the requester has.
    public struct Upgrade: Sendable, Hashable {
        public var start: UInt64
        public var length: UInt64
        public init(start: UInt64, length: UInt64) { self.start = start; self.length = length }
    }

    public var fork: UInt64
    public var block: Block?
    public var hash: Hash?
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
        public var index: UInt64
        public var value: [UInt8]
        public var nodes: [TreeNode]
        public init(index: UInt64, value: [UInt8], nodes: [TreeNode]) {
            self.index = index; self.value = value; self.nodes = nodes
        }
    }
    /// A tree node (first element of `nodes`) and its siblings upwards.
    public struct Hash: Sendable, Hashable {
        public var index: UInt64
        public var nodes: [TreeNode]
        public init(index: UInt64, nodes: [TreeNode]) { self.index = index; self.nodes = nodes }
    }
    /// The nodes that extend the requester's tree to a new signed length, and the signature of that length.
    public struct Upgrade: Sendable, Hashable {
        public var start: UInt64
        public var length: UInt64
        public var nodes: [TreeNode]
        public var additionalNodes: [TreeNode]
        /// The raw signature bytes (64 for a compat core).
        public var signature: [UInt8]
        public init(start: UInt64, length: UInt64, nodes: [TreeNode], additionalNodes: [TreeNode], signature: [UInt8]) {
            self.start = start; self.length = length; self.nodes = nodes
            self.additionalNodes = additionalNodes; self.signature = signature
        }
    }

    public var fork: UInt64
    public var block: Block?
    public var hash: Hash?
    public var upgrade: Upgrade?

    /// Creates a proof.
    public init(fork: UInt64 = 0, block: Block? = nil, hash: Hash? = nil, upgrade: Upgrade? = nil) {
        self.fork = fork
        self.block = block
        self.hash = hash
        self.upgrade = upgrade
    }
}
