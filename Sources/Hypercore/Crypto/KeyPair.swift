internal import CSodium

/// An Ed25519 public key: a compat feed's key.
public typealias PublicKey = Bytes32

/// An Ed25519 secret key (libsodium layout: `seed(32) ‖ publicKey(32)`), held in guarded memory.
///
/// The bytes live in `sodium_malloc` memory and are wiped on release.
public final class SecretKey: Sendable {
    // Immutable after init; only read through `withUnsafeBytes`. The pointer is never handed out.
    private nonisolated(unsafe) let pointer: UnsafeMutableRawPointer

    /// The secret key length, 64 bytes.
    public static let byteCount = 64

    private init(uninitialised: ()) {
        Sodium.ensureInitialised()
        guard let p = sodium_malloc(SecretKey.byteCount) else {
            // sodium_malloc fails only when the process is out of memory.
            preconditionFailure("sodium_malloc failed: out of memory")
        }
        pointer = p
    }

    /// Copies a 64-byte secret key.
    /// - Throws: ``HypercoreError`` with code ``HypercoreError/Code/invalidLength`` unless `bytes` is 64 bytes.
    public convenience init(_ bytes: some Collection<UInt8>) throws(HypercoreError) {
        guard bytes.count == SecretKey.byteCount else {
            throw HypercoreError(.invalidLength, "expected a 64-byte secret key, got \(bytes.count)")
        }
        self.init(uninitialised: ())
        for (i, b) in bytes.enumerated() { pointer.storeBytes(of: b, toByteOffset: i, as: UInt8.self) }
    }

    internal static func make(_ fill: (UnsafeMutableRawPointer) -> Void) -> SecretKey {
        let key = SecretKey(uninitialised: ())
        fill(key.pointer)
        return key
    }

    deinit {
        sodium_memzero(pointer, SecretKey.byteCount)
        sodium_free(pointer)
    }

    /// Calls `body` with the 64 secret bytes. Do not let them escape.
    public func withUnsafeBytes<R, E: Error>(_ body: (UnsafeRawBufferPointer) throws(E) -> R) throws(E) -> R {
        try body(UnsafeRawBufferPointer(start: pointer, count: SecretKey.byteCount))
    }

    /// The public key embedded in the secret key (its last 32 bytes).
    public var publicKey: PublicKey { PublicKey(unsafeBytes: pointer + 32) }
}

/// An Ed25519 key pair.
public struct KeyPair: Sendable {
    /// The public key.
    public let publicKey: PublicKey
    /// The secret key.
    public let secretKey: SecretKey

    /// Generates a random key pair.
    public static func random() -> KeyPair {
        Sodium.ensureInitialised()
        var pk = Bytes32.zero
        let sk = SecretKey.make { skp in
            pk.withUnsafeMutableBytes { pkp in
                _ = crypto_sign_keypair(pkp.baseAddress!.assumingMemoryBound(to: UInt8.self),
                                        skp.assumingMemoryBound(to: UInt8.self))
            }
        }
        return KeyPair(unchecked: pk, secretKey: sk)
    }

    /// Derives the key pair of a 32-byte seed (`crypto_sign_seed_keypair`).
    /// - Throws: ``HypercoreError`` with code ``HypercoreError/Code/invalidLength`` unless `seed` is 32 bytes.
    public static func fromSeed(_ seed: some Collection<UInt8>) throws(HypercoreError) -> KeyPair {
        Sodium.ensureInitialised()
        let seed = try Bytes32(seed)
        var pk = Bytes32.zero
        let sk = SecretKey.make { skp in
            pk.withUnsafeMutableBytes { pkp in
                seed.withUnsafeBytes { sp in
                    _ = crypto_sign_seed_keypair(pkp.baseAddress!.assumingMemoryBound(to: UInt8.self),
                                                 skp.assumingMemoryBound(to: UInt8.self),
                                                 sp.baseAddress!.assumingMemoryBound(to: UInt8.self))
                }
            }
        }
        return KeyPair(unchecked: pk, secretKey: sk)
    }

    /// Pairs a public and a secret key after checking that they belong together.
    /// - Throws: ``HypercoreError`` with code ``HypercoreError/Code/wrongKey`` when they do not.
    public init(publicKey: PublicKey, secretKey: SecretKey) throws(HypercoreError) {
        guard KeyPair.validate(publicKey: publicKey, secretKey: secretKey) else {
            throw HypercoreError(.wrongKey, "the secret key does not belong to public key \(publicKey)")
        }
        self.publicKey = publicKey
        self.secretKey = secretKey
    }

    private init(unchecked publicKey: PublicKey, secretKey: SecretKey) {
        self.publicKey = publicKey
        self.secretKey = secretKey
    }

    /// True when `crypto_sign_ed25519_sk_to_pk(secretKey) == publicKey`.
    public static func validate(publicKey: PublicKey, secretKey: SecretKey) -> Bool {
        Sodium.ensureInitialised()
        var derived = Bytes32.zero
        derived.withUnsafeMutableBytes { d in
            secretKey.withUnsafeBytes { s in
                _ = crypto_sign_ed25519_sk_to_pk(d.baseAddress!.assumingMemoryBound(to: UInt8.self),
                                                 s.baseAddress!.assumingMemoryBound(to: UInt8.self))
            }
        }
        return derived == publicKey
    }
}
