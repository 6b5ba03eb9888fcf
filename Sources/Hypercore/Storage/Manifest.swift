/// A hypercore manifest (spec A.6): who signs a core. Only decoded and re-encoded here; compat cores
/// (key = the single signer's public key) are the ones this library signs and verifies.
public struct Manifest: Hashable, Sendable {
    /// One signer: signature type (0 = Ed25519), namespace and public key.
    public struct Signer: Hashable, Sendable {
        /// Signature scheme (0 = Ed25519).
        public var signature: UInt64
        /// The signer's namespace (part of what it signs in non-compat cores).
        public var namespace: Bytes32
        /// The signer's public key.
        public var publicKey: Bytes32
    }

    /// Encoding version (0 or 1; 2 adds linked cores and user data).
    public var version: UInt64
    /// Hash algorithm (0 = BLAKE2b).
    public var hash: UInt64
    /// Whether signers may patch each other's trees.
    public var allowPatch: Bool
    /// How many signers must sign.
    public var quorum: UInt64
    /// The signers.
    public var signers: [Signer]
    /// A prologue: a tree hash and length the core starts from.
    public var prologue: (hash: Bytes32, length: UInt64)?
    /// Linked cores (manifest v2).
    public var linked: [Bytes32]?
    /// Free-form user data (manifest v2).
    public var userData: [UInt8]?
    /// Manifest v0 of type 0 (prologue only).
    public var prologueOnly: Bytes32?

    /// The default single-signer manifest (version 1) that hypercore 10.38 writes for a compat core.
    public static func defaultCompat(publicKey: PublicKey) -> Manifest {
        Manifest(version: 1, hash: 0, allowPatch: false, quorum: 1,
                 signers: [Signer(signature: 0, namespace: Caps.defaultNamespace, publicKey: publicKey)],
                 prologue: nil, linked: nil, userData: nil, prologueOnly: nil)
    }

    /// True when `key` is the compat key of this manifest (one signer whose public key is `key`).
    public func isCompat(key: Bytes32) -> Bool {
        signers.count == 1 && signers[0].publicKey == key
    }

    public static func == (a: Manifest, b: Manifest) -> Bool {
        a.version == b.version && a.hash == b.hash && a.allowPatch == b.allowPatch && a.quorum == b.quorum
            && a.signers == b.signers && a.prologue?.hash == b.prologue?.hash
            && a.prologue?.length == b.prologue?.length && a.linked == b.linked && a.userData == b.userData
            && a.prologueOnly == b.prologueOnly
    }

    public func hash(into hasher: inout Hasher) {
        hasher.combine(version)
        hasher.combine(signers)
    }

    package func encode(_ e: inout CompactEncoder) {
        if version == 0 {
            e.uint(0)
            e.uint(hash)
            if let prologueOnly {
                e.uint(0)
                e.fixed32(prologueOnly)
            } else if signers.count == 1 && quorum == 1 && !allowPatch {
                e.uint(1)
                Self.encodeSigner(signers[0], &e)
            } else {
                e.uint(2)
                e.uint(allowPatch ? 1 : 0)
                e.uint(quorum)
                e.uint(signers.count)
                for s in signers { Self.encodeSigner(s, &e) }
            }
            return
        }
        e.uint(version)
        var flags: UInt64 = allowPatch ? 1 : 0
        if prologue != nil { flags |= 2 }
        if linked != nil { flags |= 4 }
        if userData != nil { flags |= 8 }
        e.uint(flags)
        e.uint(hash)
        e.uint(quorum)
        e.uint(signers.count)
        for s in signers { Self.encodeSigner(s, &e) }
        if let prologue {
            e.fixed32(prologue.hash)
            e.uint(prologue.length)
        }
        if let linked {
            e.uint(linked.count)
            for l in linked { e.fixed32(l) }
        }
        if let userData { e.buffer(userData) }
    }

    private static func encodeSigner(_ s: Signer, _ e: inout CompactEncoder) {
        e.uint(s.signature)
        e.fixed32(s.namespace)
        e.fixed32(s.publicKey)
    }

    private static func decodeSigner(_ d: inout CompactDecoder) throws(HypercoreError) -> Signer {
        Signer(signature: try d.uint(), namespace: try d.fixed32(), publicKey: try d.fixed32())
    }

    package static func decode(_ d: inout CompactDecoder) throws(HypercoreError) -> Manifest {
        let version = try d.uint()
        if version == 0 {
            let hash = try d.uint()
            let type = try d.uint()
            var m = Manifest(version: 0, hash: hash, allowPatch: false, quorum: 1, signers: [],
                             prologue: nil, linked: nil, userData: nil, prologueOnly: nil)
            switch type {
            case 0: m.prologueOnly = try d.fixed32()
            case 1: m.signers = [try decodeSigner(&d)]
            case 2:
                m.allowPatch = try d.uint() & 1 != 0
                m.quorum = try d.uint()
                let n = try d.count()
                for _ in 0..<n { m.signers.append(try decodeSigner(&d)) }
            default: throw HypercoreError(.malformed, "unknown manifest v0 type \(type)")
            }
            return m
        }
        guard version <= 2 else { throw HypercoreError(.unsupported, "manifest version \(version)") }
        let flags = try d.uint()
        var m = Manifest(version: version, hash: try d.uint(), allowPatch: flags & 1 != 0, quorum: try d.uint(),
                         signers: [], prologue: nil, linked: nil, userData: nil, prologueOnly: nil)
        let n = try d.count()
        for _ in 0..<n { m.signers.append(try decodeSigner(&d)) }
        if flags & 2 != 0 { m.prologue = (try d.fixed32(), try d.uint()) }
        if flags & 4 != 0 {
            let count = try d.count()
            m.linked = []
            for _ in 0..<count { m.linked!.append(try d.fixed32()) }
        }
        if flags & 8 != 0 { m.userData = try d.buffer() }
        return m
    }
}
