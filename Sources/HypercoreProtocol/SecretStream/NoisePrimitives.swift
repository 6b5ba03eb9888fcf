package import Hypercore
internal import CSodium

/// The cryptographic functions of `Noise_XX_Ed25519_ChaChaPoly_BLAKE2b` as hyperswarm secret-stream uses them
/// (spec D.2): HMAC and HKDF over BLAKE2b-512, Ed25519 Diffie-Hellman ("noise-curve-ed") and
/// ChaCha20-Poly1305-IETF with Noise's nonce layout.
///
/// The pointer-based functions write into caller-owned (secure) memory; the array-based ones exist for tests.
package enum NoisePrimitives {
    /// BLAKE2b-512 output length (Noise `HASHLEN`).
    package static let hashLength = 64
    /// BLAKE2b block length, the HMAC block size.
    package static let blockLength = 128
    /// Length of a ChaCha20-Poly1305 key and of a DH output.
    package static let keyLength = 32
    /// Length of a ChaCha20-Poly1305 tag.
    package static let tagLength = 16

    /// Scratch bytes ``hmac(key:_:_:into:scratch:)`` needs for `dataLength` bytes of message.
    package static func hmacScratchLength(dataLength: Int) -> Int { 2 * blockLength + hashLength + dataLength }

    /// HMAC-BLAKE2b-512 of `part1 ‖ part2` under `key`, written to the 64 bytes at `output`.
    ///
    /// Keys longer than the 128-byte block are hashed to 64 bytes first (RFC 2104). `scratch` must hold
    /// ``hmacScratchLength(dataLength:)`` bytes for `part1.count + part2.count`; it holds key material
    /// afterwards, so it should be secure memory. `output` may alias neither the key nor the parts.
    package static func hmac(
        key: UnsafeRawBufferPointer, _ part1: UnsafeRawBufferPointer, _ part2: UnsafeRawBufferPointer,
        into output: UnsafeMutablePointer<UInt8>, scratch: UnsafeMutablePointer<UInt8>
    ) {
        SodiumLibrary.ensureInitialised()
        // scratch: [outer block (128) ‖ inner hash (64)] [inner block (128) ‖ data]
        let outer = scratch
        let inner = scratch + blockLength + hashLength
        var keyBytes = key
        if key.count > blockLength {
            _ = crypto_generichash(output, hashLength, key.baseAddress?.assumingMemoryBound(to: UInt8.self),
                                   UInt64(key.count), nil, 0)
            keyBytes = UnsafeRawBufferPointer(start: output, count: hashLength)
        }
        for i in 0..<blockLength {
            let k: UInt8 = i < keyBytes.count ? keyBytes[i] : 0
            inner[i] = k ^ 0x36
            outer[i] = k ^ 0x5c
        }
        var offset = blockLength
        for part in [part1, part2] where part.count > 0 {
            (inner + offset).update(from: part.baseAddress!.assumingMemoryBound(to: UInt8.self), count: part.count)
            offset += part.count
        }
        _ = crypto_generichash(outer + blockLength, hashLength, inner, UInt64(offset), nil, 0)
        _ = crypto_generichash(output, hashLength, outer, UInt64(blockLength + hashLength), nil, 0)
    }

    /// Scratch bytes ``hkdf(chainingKey:inputKeyMaterial:t1:t2:scratch:)`` needs for `ikmLength` bytes of input.
    package static func hkdfScratchLength(ikmLength: Int) -> Int {
        hashLength + hmacScratchLength(dataLength: max(ikmLength, hashLength + 1))
    }

    /// Noise `HKDF(ck, ikm)` with two outputs: `prk = HMAC(ck, ikm)`, `T1 = HMAC(prk, 0x01)`,
    /// `T2 = HMAC(prk, T1 ‖ 0x02)`, each 64 bytes, written to `t1` and `t2`.
    ///
    /// `scratch` must hold ``hkdfScratchLength(ikmLength:)`` bytes. `t1` and `t2` must not alias
    /// `chainingKey` or `inputKeyMaterial`.
    package static func hkdf(
        chainingKey: UnsafeRawBufferPointer, inputKeyMaterial: UnsafeRawBufferPointer,
        t1: UnsafeMutablePointer<UInt8>, t2: UnsafeMutablePointer<UInt8>, scratch: UnsafeMutablePointer<UInt8>
    ) {
        let prk = scratch
        let hmacScratch = scratch + hashLength
        let empty = UnsafeRawBufferPointer(start: nil, count: 0)
        hmac(key: chainingKey, inputKeyMaterial, empty, into: prk, scratch: hmacScratch)
        let prkBuffer = UnsafeRawBufferPointer(start: prk, count: hashLength)
        withUnsafeBytes(of: UInt8(1)) { one in
            hmac(key: prkBuffer, one, empty, into: t1, scratch: hmacScratch)
        }
        withUnsafeBytes(of: UInt8(2)) { two in
            hmac(key: prkBuffer, UnsafeRawBufferPointer(start: t1, count: hashLength), two, into: t2,
                 scratch: hmacScratch)
        }
        sodium_memzero(prk, hashLength)
    }

    /// The noise-curve-ed scalar of an Ed25519 secret key: `SHA-512(secretKey[0..<32])[0..<32]`, clamped
    /// (`s[0] &= 248; s[31] &= 127; s[31] |= 64`), written to the 32 bytes at `scalar`.
    package static func scalar(of secretKey: SecretKey, into scalar: UnsafeMutablePointer<UInt8>) {
        SodiumLibrary.ensureInitialised()
        let digest = SecureBytes(count: 64)
        secretKey.withUnsafeBytes { sk in
            _ = crypto_hash_sha512(digest.bytes(at: 0), sk.baseAddress!.assumingMemoryBound(to: UInt8.self), 32)
        }
        scalar.update(from: digest.bytes(at: 0), count: 32)
        scalar[0] &= 248
        scalar[31] &= 127
        scalar[31] |= 64
    }

    /// Ed25519 Diffie-Hellman: `crypto_scalarmult_ed25519_noclamp(scalar, publicKey)`, the compressed Edwards
    /// point written to the 32 bytes at `output`.
    ///
    /// - Throws: ``ReplicationError`` with code ``ReplicationError/Code/handshakeFailed`` when the public key
    ///   is not a canonical point, has small order, or the result is the identity.
    package static func dh(
        scalar: UnsafePointer<UInt8>, publicKey: PublicKey, into output: UnsafeMutablePointer<UInt8>
    ) throws(ReplicationError) {
        SodiumLibrary.ensureInitialised()
        let status = publicKey.withUnsafeBytes { pk in
            crypto_scalarmult_ed25519_noclamp(output, scalar, pk.baseAddress!.assumingMemoryBound(to: UInt8.self))
        }
        guard status == 0 else {
            sodium_memzero(output, keyLength)
            throw ReplicationError(.handshakeFailed, "invalid Noise public key \(publicKey) (small order or not canonical)")
        }
    }

    /// Writes Noise's 12-byte ChaCha20-Poly1305-IETF nonce for `counter`: four zero bytes, the counter as u32
    /// little-endian, four zero bytes.
    static func nonce(_ counter: UInt64) -> (UInt32, UInt32, UInt32) {
        (0, UInt32(truncatingIfNeeded: counter).littleEndian, 0)
    }

    /// ChaCha20-Poly1305-IETF encryption of `plaintext` with `ad`; writes `plaintext.count + 16` bytes to `output`.
    package static func encrypt(
        key: UnsafePointer<UInt8>, counter: UInt64, ad: UnsafeRawBufferPointer, plaintext: UnsafeRawBufferPointer,
        into output: UnsafeMutablePointer<UInt8>
    ) {
        SodiumLibrary.ensureInitialised()
        var n = nonce(counter)
        withUnsafeBytes(of: &n) { nonce in
            _ = crypto_aead_chacha20poly1305_ietf_encrypt(
                output, nil, plaintext.baseAddress?.assumingMemoryBound(to: UInt8.self), UInt64(plaintext.count),
                ad.baseAddress?.assumingMemoryBound(to: UInt8.self), UInt64(ad.count), nil,
                nonce.baseAddress!.assumingMemoryBound(to: UInt8.self), key)
        }
    }

    /// ChaCha20-Poly1305-IETF decryption of `ciphertext` (at least 16 bytes) with `ad`; writes
    /// `ciphertext.count - 16` bytes to `output`. Returns false when the tag does not verify.
    package static func decrypt(
        key: UnsafePointer<UInt8>, counter: UInt64, ad: UnsafeRawBufferPointer, ciphertext: UnsafeRawBufferPointer,
        into output: UnsafeMutablePointer<UInt8>
    ) -> Bool {
        SodiumLibrary.ensureInitialised()
        guard ciphertext.count >= tagLength else { return false }
        var n = nonce(counter)
        return withUnsafeBytes(of: &n) { nonce in
            crypto_aead_chacha20poly1305_ietf_decrypt(
                output, nil, nil, ciphertext.baseAddress!.assumingMemoryBound(to: UInt8.self),
                UInt64(ciphertext.count), ad.baseAddress?.assumingMemoryBound(to: UInt8.self), UInt64(ad.count),
                nonce.baseAddress!.assumingMemoryBound(to: UInt8.self), key) == 0
        }
    }
}

// Array conveniences for tests and one-off use (not for hot paths).
extension NoisePrimitives {
    /// HMAC-BLAKE2b-512 of `data` under `key`.
    package static func hmac(key: [UInt8], data: [UInt8]) -> [UInt8] {
        let scratch = SecureBytes(count: hmacScratchLength(dataLength: data.count))
        var out = [UInt8](repeating: 0, count: hashLength)
        key.withUnsafeBytes { k in
            data.withUnsafeBytes { d in
                out.withUnsafeMutableBufferPointer { o in
                    hmac(key: k, d, UnsafeRawBufferPointer(start: nil, count: 0), into: o.baseAddress!,
                         scratch: scratch.bytes(at: 0))
                }
            }
        }
        return out
    }

    /// Noise `HKDF(ck, ikm)`: the two 64-byte outputs.
    package static func hkdf(chainingKey: [UInt8], inputKeyMaterial: [UInt8]) -> (t1: [UInt8], t2: [UInt8]) {
        let scratch = SecureBytes(count: hkdfScratchLength(ikmLength: inputKeyMaterial.count))
        var t1 = [UInt8](repeating: 0, count: hashLength)
        var t2 = [UInt8](repeating: 0, count: hashLength)
        chainingKey.withUnsafeBytes { ck in
            inputKeyMaterial.withUnsafeBytes { ikm in
                t1.withUnsafeMutableBufferPointer { o1 in
                    t2.withUnsafeMutableBufferPointer { o2 in
                        hkdf(chainingKey: ck, inputKeyMaterial: ikm, t1: o1.baseAddress!, t2: o2.baseAddress!,
                             scratch: scratch.bytes(at: 0))
                    }
                }
            }
        }
        return (t1, t2)
    }

    /// noise-curve-ed `DH(publicKey, keyPair)` with the secret key of a key pair.
    /// - Throws: ``ReplicationError`` with code ``ReplicationError/Code/handshakeFailed`` for an invalid key.
    package static func dh(publicKey: PublicKey, secretKey: SecretKey) throws(ReplicationError) -> [UInt8] {
        let secrets = SecureBytes(count: 64)
        scalar(of: secretKey, into: secrets.bytes(at: 0))
        try dh(scalar: secrets.bytes(at: 0), publicKey: publicKey, into: secrets.bytes(at: 32))
        return Array(UnsafeBufferPointer(start: secrets.bytes(at: 32), count: keyLength))
    }
}
