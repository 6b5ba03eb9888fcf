/// The oplog header (`oplog.header`, version 1): the core's identity and its last flushed tree state.
struct OplogHeader: Sendable {
    struct TreeState: Sendable {
        var fork: UInt64
        var length: UInt64
        var rootHash: [UInt8]?
        var signature: [UInt8]?
    }

    struct ReorgHint: Sendable {
        var from: UInt64
        var to: UInt64
        var ancestors: UInt64
    }

    var key: Bytes32
    var manifest: Manifest?
    var publicKey: [UInt8]?
    var secretKey: [UInt8]?
    var hasKeyPair: Bool
    var userData: [(key: String, value: [UInt8])]
    var tree: TreeState
    var hints: [ReorgHint]
    var contiguousLength: UInt64

    func encode() -> [UInt8] {
        var e = CompactEncoder(capacity: 320)
        e.uint(1)
        var flags: UInt64 = 0
        if manifest != nil { flags |= 2 }
        if hasKeyPair { flags |= 4 }
        e.uint(flags)
        e.fixed32(key)
        manifest?.encode(&e)
        if hasKeyPair {
            e.optionalBuffer(publicKey)
            e.optionalBuffer(secretKey)
        }
        e.uint(userData.count)
        for (k, v) in userData {
            e.string(k)
            e.buffer(v)
        }
        e.uint(tree.fork)
        e.uint(tree.length)
        e.optionalBuffer(tree.rootHash)
        e.optionalBuffer(tree.signature)
        e.uint(hints.count)
        for h in hints {
            e.uint(h.from)
            e.uint(h.to)
            e.uint(h.ancestors)
        }
        e.uint(contiguousLength)
        return e.bytes
    }

    static func decode(_ d: inout CompactDecoder) throws(HypercoreError) -> OplogHeader {
        let version = try d.uint()
        guard version <= 1 else { throw HypercoreError(.unsupported, "oplog header version \(version)") }
        let flags = try d.uint()
        if flags & 1 != 0 {
            throw HypercoreError(.unsupported, "external oplog headers (file `header`) are not supported")
        }
        let key = try d.fixed32()
        let manifest = flags & 2 != 0 ? try Manifest.decode(&d) : nil
        var header = OplogHeader(key: key, manifest: manifest, publicKey: nil, secretKey: nil, hasKeyPair: false,
                                 userData: [], tree: TreeState(fork: 0, length: 0), hints: [], contiguousLength: 0)
        if flags & 4 != 0 {
            header.hasKeyPair = true
            header.publicKey = try nonEmpty(d.buffer())
            header.secretKey = try nonEmpty(d.buffer())
        }
        let userDataCount = try d.count()
        for _ in 0..<userDataCount {
            header.userData.append((try d.string(), try d.buffer()))
        }
        header.tree.fork = try d.uint()
        header.tree.length = try d.uint()
        header.tree.rootHash = try nonEmpty(d.buffer())
        header.tree.signature = try nonEmpty(d.buffer())
        if version == 0 { return header }
        let hintCount = try d.count()
        for _ in 0..<hintCount {
            header.hints.append(ReorgHint(from: try d.uint(), to: try d.uint(), ancestors: try d.uint()))
        }
        header.contiguousLength = try d.uint()
        return header
    }

    private static func nonEmpty(_ bytes: [UInt8]) -> [UInt8]? {
        bytes.isEmpty ? nil : bytes
    }
}

/// One oplog entry (`oplog.entry`): what an append or a verified download changed.
struct OplogEntry: Sendable {
    struct TreeUpgrade: Sendable {
        var fork: UInt64
        var ancestors: UInt64
        var length: UInt64
        var signature: [UInt8]
    }

    struct BitfieldUpdate: Sendable {
        var drop: Bool
        var start: UInt64
        var length: UInt64
    }

    var userData: (key: String, value: [UInt8]?)?
    var treeNodes: [TreeNode]
    var treeUpgrade: TreeUpgrade?
    var bitfield: BitfieldUpdate?

    func encode(into e: inout CompactEncoder) {
        var flags: UInt8 = 0
        if userData != nil { flags |= 1 }
        if !treeNodes.isEmpty { flags |= 2 }
        if treeUpgrade != nil { flags |= 4 }
        if bitfield != nil { flags |= 8 }
        e.byte(flags)
        if let userData {
            e.string(userData.key)
            e.optionalBuffer(userData.value)
        }
        if !treeNodes.isEmpty {
            e.uint(treeNodes.count)
            for node in treeNodes { e.node(node) }
        }
        if let u = treeUpgrade {
            e.uint(u.fork)
            e.uint(u.ancestors)
            e.uint(u.length)
            e.buffer(u.signature)
        }
        if let b = bitfield {
            e.byte(b.drop ? 1 : 0)
            e.uint(b.start)
            e.uint(b.length)
        }
    }

    static func decode(_ d: inout CompactDecoder) throws(HypercoreError) -> OplogEntry {
        let flags = try d.byte()
        var entry = OplogEntry(userData: nil, treeNodes: [], treeUpgrade: nil, bitfield: nil)
        if flags & 1 != 0 {
            let key = try d.string()
            let value = try d.buffer()
            entry.userData = (key, value.isEmpty ? nil : value)
        }
        if flags & 2 != 0 { entry.treeNodes = try d.nodes() }
        if flags & 4 != 0 {
            entry.treeUpgrade = TreeUpgrade(fork: try d.uint(), ancestors: try d.uint(), length: try d.uint(),
                                            signature: try d.buffer())
        }
        if flags & 8 != 0 {
            entry.bitfield = BitfieldUpdate(drop: try d.byte() != 0, start: try d.uint(), length: try d.uint())
        }
        return entry
    }
}
