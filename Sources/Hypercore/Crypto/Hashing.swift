internal import CSodium

/// The BLAKE2b hashing of hypercore-crypto v3 (hypercore 10): leaves, parents, tree hashes, discovery keys,
/// namespaces, signables and capabilities. All lengths are little-endian.
public enum Hashing {
    private static let leafType: UInt8 = 0
    private static let parentType: UInt8 = 1
    private static let rootType: UInt8 = 2

    /// BLAKE2b-256 of `message`, keyed with `key` when given.
    public static func blake2b256(_ message: UnsafeRawBufferPointer, key: UnsafeRawBufferPointer? = nil) -> Bytes32 {
        Sodium.ensureInitialised()
        var out = Bytes32.zero
        out.withUnsafeMutableBytes { o in
            _ = crypto_generichash(o.baseAddress!.assumingMemoryBound(to: UInt8.self), 32,
                                   message.baseAddress?.assumingMemoryBound(to: UInt8.self), UInt64(message.count),
                                   key?.baseAddress?.assumingMemoryBound(to: UInt8.self), key?.count ?? 0)
        }
        return out
    }

    /// BLAKE2b-256 of the bytes of `message`, keyed with `key` when given.
    public static func blake2b256(_ message: [UInt8], key: [UInt8]? = nil) -> Bytes32 {
        message.withUnsafeBytes { m in
            if let key { return key.withUnsafeBytes { k in blake2b256(m, key: k) } }
            return blake2b256(m)
        }
    }

    /// The leaf hash of a block: `B2b256(0x00 ‖ u64le(len) ‖ data)`.
    public static func leaf(_ data: UnsafeRawBufferPointer) -> Bytes32 {
        Sodium.ensureInitialised()
        if data.count <= 1015 {
            // Small blocks: assemble `0x00 ‖ u64le(len) ‖ data` on the stack and hash in one call.
            return withUnsafeTemporaryAllocation(byteCount: 9 + data.count, alignment: 8) { buf in
                buf[0] = leafType
                buf.storeBytes(of: UInt64(data.count).littleEndian, toByteOffset: 1, as: UInt64.self)
                if data.count > 0 {
                    (buf.baseAddress! + 9).copyMemory(from: data.baseAddress!, byteCount: data.count)
                }
                return blake2b256(UnsafeRawBufferPointer(buf))
            }
        }
        var out = Bytes32.zero
        var header = (leafType, UInt64(data.count).littleEndian)
        return withUnsafeTemporaryAllocation(byteCount: crypto_generichash_statebytes(), alignment: 64) { state in
            let st = OpaquePointer(state.baseAddress!)
            _ = crypto_generichash_init(st, nil, 0, 32)
            withUnsafeBytes(of: &header.0) { _ = crypto_generichash_update(st, $0.baseAddress!.assumingMemoryBound(to: UInt8.self), 1) }
            withUnsafeBytes(of: &header.1) { _ = crypto_generichash_update(st, $0.baseAddress!.assumingMemoryBound(to: UInt8.self), 8) }
            if data.count > 0 {
                _ = crypto_generichash_update(st, data.baseAddress!.assumingMemoryBound(to: UInt8.self), UInt64(data.count))
            }
            out.withUnsafeMutableBytes { o in
                _ = crypto_generichash_final(st, o.baseAddress!.assumingMemoryBound(to: UInt8.self), 32)
            }
            return out
        }
    }

    /// The leaf hash of the bytes of `data`.
    public static func leaf(_ data: [UInt8]) -> Bytes32 {
        data.withUnsafeBytes { leaf($0) }
    }

    /// The parent hash: `B2b256(0x01 ‖ u64le(left.size + right.size) ‖ left.hash ‖ right.hash)`.
    /// `left` must be the node with the smaller flat-tree index.
    public static func parent(left: TreeNode, right: TreeNode) -> Bytes32 {
        // 1 + 8 + 32 + 32 = 73 bytes assembled on the stack, hashed in one call.
        withUnsafeTemporaryAllocation(byteCount: 73, alignment: 8) { buf in
            buf[0] = parentType
            buf.storeBytes(of: (left.size + right.size).littleEndian, toByteOffset: 1, as: UInt64.self)
            left.hash.withUnsafeBytes { buf.baseAddress!.advanced(by: 9).copyMemory(from: $0.baseAddress!, byteCount: 32) }
            right.hash.withUnsafeBytes { buf.baseAddress!.advanced(by: 41).copyMemory(from: $0.baseAddress!, byteCount: 32) }
            return blake2b256(UnsafeRawBufferPointer(buf))
        }
    }

    /// The tree hash over the full roots, left to right:
    /// `B2b256(0x02 ‖ for each root: hash ‖ u64le(index) ‖ u64le(size))`.
    public static func tree(_ roots: some Collection<TreeNode>) -> Bytes32 {
        withUnsafeTemporaryAllocation(byteCount: 1 + roots.count * 48, alignment: 8) { buf in
            buf[0] = rootType
            var offset = 1
            for root in roots {
                root.hash.withUnsafeBytes { (buf.baseAddress! + offset).copyMemory(from: $0.baseAddress!, byteCount: 32) }
                buf.storeBytes(of: root.index.littleEndian, toByteOffset: offset + 32, as: UInt64.self)
                buf.storeBytes(of: root.size.littleEndian, toByteOffset: offset + 40, as: UInt64.self)
                offset += 48
            }
            return blake2b256(UnsafeRawBufferPointer(buf))
        }
    }

    /// The discovery key of a feed: `B2b256(msg = "hypercore"; key = publicKey)`.
    public static func discoveryKey(_ key: PublicKey) -> Bytes32 {
        let message = Array("hypercore".utf8)
        return message.withUnsafeBytes { m in key.withUnsafeBytes { k in blake2b256(m, key: k) } }
    }

    /// `namespace(name, ids)`: `base = B2b256(name)`, then `B2b256(base ‖ byte(id))` for each id.
    public static func namespace(_ name: String, ids: [UInt8]) -> [Bytes32] {
        let base = blake2b256(Array(name.utf8))
        return ids.map { id in
            var message = base.bytes
            message.append(id)
            return blake2b256(message)
        }
    }

    /// `namespace(name, count)`: ids `0..<count`.
    public static func namespace(_ name: String, count: Int) -> [Bytes32] {
        namespace(name, ids: (0..<count).map { UInt8($0) })
    }

    internal static func appendLE(_ value: UInt64, to bytes: inout [UInt8]) {
        withUnsafeBytes(of: value.littleEndian) { bytes.append(contentsOf: $0) }
    }
}

/// Hypercore's namespaces (`lib/caps.js`) and the byte strings it signs and authenticates.
public enum Caps {
    private static let hypercore = Hashing.namespace("hypercore", count: 6)

    /// `hypercore` namespace 0: prefix of the tree signable.
    public static let tree = hypercore[0]
    /// `hypercore` namespace 1: capability of the Noise initiator.
    public static let replicateInitiator = hypercore[1]
    /// `hypercore` namespace 2: capability of the Noise responder.
    public static let replicateResponder = hypercore[2]
    /// `hypercore` namespace 3: prefix of manifest hashes.
    public static let manifest = hypercore[3]
    /// `hypercore` namespace 4: the default signer namespace of manifests.
    public static let defaultNamespace = hypercore[4]
    /// `hypercore` namespace 5: block encryption.
    public static let blockEncryption = hypercore[5]

    /// The 80-byte signable of a compat core: `TREE ‖ treeHash ‖ u64le(length) ‖ u64le(fork)`.
    public static func treeSignableCompat(treeHash: Bytes32, length: UInt64, fork: UInt64) -> [UInt8] {
        var bytes = [UInt8]()
        bytes.reserveCapacity(80)
        tree.withUnsafeBytes { bytes.append(contentsOf: $0) }
        treeHash.withUnsafeBytes { bytes.append(contentsOf: $0) }
        Hashing.appendLE(length, to: &bytes)
        Hashing.appendLE(fork, to: &bytes)
        return bytes
    }

    /// The replication capability sent in a `hypercore/alpha` open:
    /// `B2b256(msg = (initiator ? REPLICATE_INITIATOR : REPLICATE_RESPONDER) ‖ key; key = handshakeHash)`.
    /// - Parameters:
    ///   - isInitiator: whether the *sender* is the Noise initiator (the receiver passes the opposite flag).
    ///   - key: the feed key.
    ///   - handshakeHash: the 64-byte Noise handshake hash.
    public static func replicate(isInitiator: Bool, key: Bytes32, handshakeHash: [UInt8]) -> Bytes32 {
        var message = (isInitiator ? replicateInitiator : replicateResponder).bytes
        message.append(contentsOf: key.bytes)
        return Hashing.blake2b256(message, key: handshakeHash)
    }

    /// The default single-signer manifest (version 1) that hypercore 10.38 stores for a compat core (70 bytes).
    public static func defaultManifest(publicKey: PublicKey) -> [UInt8] {
        var bytes: [UInt8] = [1, 0, 0, 1, 1, 0]
        bytes.append(contentsOf: defaultNamespace.bytes)
        bytes.append(contentsOf: publicKey.bytes)
        return bytes
    }
}
