internal import CSodium

/// Ed25519 detached signatures.
public enum Signer {
    /// Signs `message` with `secretKey`.
    public static func sign(_ message: UnsafeRawBufferPointer, secretKey: SecretKey) -> Signature {
        Sodium.ensureInitialised()
        var out = (Bytes32.zero.storage, Bytes32.zero.storage)
        withUnsafeMutableBytes(of: &out) { sig in
            secretKey.withUnsafeBytes { sk in
                _ = crypto_sign_detached(sig.baseAddress!.assumingMemoryBound(to: UInt8.self), nil,
                                         message.baseAddress?.assumingMemoryBound(to: UInt8.self),
                                         UInt64(message.count),
                                         sk.baseAddress!.assumingMemoryBound(to: UInt8.self))
            }
        }
        return withUnsafeBytes(of: &out) { Signature(unsafeBytes: $0.baseAddress!) }
    }

    /// Signs the bytes of `message`.
    public static func sign(_ message: [UInt8], secretKey: SecretKey) -> Signature {
        message.withUnsafeBytes { sign($0, secretKey: secretKey) }
    }

    /// True when `signature` is a valid signature of `message` by `publicKey`.
    public static func verify(_ signature: Signature, _ message: UnsafeRawBufferPointer, publicKey: PublicKey) -> Bool {
        Sodium.ensureInitialised()
        return signature.withUnsafeBytes { sig in
            publicKey.withUnsafeBytes { pk in
                crypto_sign_verify_detached(sig.baseAddress!.assumingMemoryBound(to: UInt8.self),
                                            message.baseAddress?.assumingMemoryBound(to: UInt8.self),
                                            UInt64(message.count),
                                            pk.baseAddress!.assumingMemoryBound(to: UInt8.self)) == 0
            }
        }
    }

    /// True when `signature` is a valid signature of the bytes of `message` by `publicKey`.
    public static func verify(_ signature: Signature, _ message: [UInt8], publicKey: PublicKey) -> Bool {
        message.withUnsafeBytes { verify(signature, $0, publicKey: publicKey) }
    }
}
