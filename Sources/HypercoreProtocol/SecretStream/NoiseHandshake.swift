package import Hypercore
internal import CSodium

/// The Noise XX handshake of hyperswarm secret-stream (spec D.2), as a value-type state machine.
///
/// `Noise_XX_Ed25519_ChaChaPoly_BLAKE2b` with an empty prologue and empty payloads: the initiator writes
/// message 1 (`e`, 32 bytes), reads message 2 (`e, ee, s, es`, 96 bytes) and writes message 3 (`s, se`,
/// 64 bytes); the responder does the opposite. Keys stay Ed25519: DH is `crypto_scalarmult_ed25519_noclamp`
/// of the clamped SHA-512 scalar of the secret key (noise-curve-ed).
///
/// The type does no I/O: feed it the messages the peer sent with ``readMessage(_:)`` and send what
/// ``writeMessage()`` returns, in turn. When ``isComplete``, ``split()`` yields the transport keys.
/// Every failure (a message of the wrong length, a tag that does not verify, a small-order key, a call out of
/// turn) throws ``ReplicationError`` with code ``ReplicationError/Code/handshakeFailed`` and leaves the
/// handshake failed.
///
/// The chaining key, cipher key, scalars and all intermediate values live in one `sodium_malloc` block that
/// is wiped when the value is consumed or dropped; the type is non-copyable so that block has one owner.
package struct NoiseHandshake: ~Copyable {
    /// `"Noise_XX_Ed25519_ChaChaPoly_BLAKE2b"`.
    package static let protocolName = "Noise_XX_Ed25519_ChaChaPoly_BLAKE2b"
    /// Lengths of messages 1, 2 and 3 (empty payloads).
    package static let messageLengths = (32, 96, 64)

    private enum Step {
        case writeMessage1, readMessage2, writeMessage3
        case readMessage1, writeMessage2, readMessage3
        case complete, failed
    }

    // Layout of `secrets`.
    private static let hOffset = 0  // handshake hash h (64)
    private static let ckOffset = 64  // chaining key (64)
    private static let kOffset = 128  // cipher key (32)
    private static let staticScalarOffset = 160  // clamped scalar of s (32)
    private static let ephemeralScalarOffset = 192  // clamped scalar of e (32)
    private static let dhOffset = 224  // DH output (32)
    private static let t1Offset = 256  // HKDF output 1 (64)
    private static let t2Offset = 320  // HKDF output 2 (64)
    private static let scratchOffset = 384  // HKDF / MixHash scratch
    private static let secretsLength = scratchOffset + NoisePrimitives.hkdfScratchLength(ikmLength: 65)

    /// True for the initiator (the side that writes message 1).
    package let isInitiator: Bool
    /// The local static public key (the peer's identity).
    package let localStaticKey: PublicKey
    /// The local ephemeral public key.
    package let localEphemeralKey: PublicKey
    /// The remote ephemeral public key, once received.
    package private(set) var remoteEphemeralKey: PublicKey?
    /// The remote static public key, once decrypted.
    package private(set) var remoteStaticKey: PublicKey?

    private var step: Step
    private var hasKey = false
    private var nonce: UInt64 = 0
    private let secrets: SecureBytes

    /// Starts a handshake with `staticKeyPair` as identity and a fresh random ephemeral key pair.
    package init(isInitiator: Bool, staticKeyPair: KeyPair) {
        self.init(isInitiator: isInitiator, staticKeyPair: staticKeyPair, ephemeralKeyPair: .random())
    }

    /// Starts a handshake with a given ephemeral key pair. For test vectors only: reusing an ephemeral key
    /// breaks the handshake's security.
    package init(isInitiator: Bool, staticKeyPair: KeyPair, ephemeralKeyPair: KeyPair) {
        self.isInitiator = isInitiator
        self.localStaticKey = staticKeyPair.publicKey
        self.localEphemeralKey = ephemeralKeyPair.publicKey
        self.step = isInitiator ? .writeMessage1 : .readMessage1
        self.secrets = SecureBytes(count: Self.secretsLength)
        NoisePrimitives.scalar(of: staticKeyPair.secretKey, into: secrets.bytes(at: Self.staticScalarOffset))
        NoisePrimitives.scalar(of: ephemeralKeyPair.secretKey, into: secrets.bytes(at: Self.ephemeralScalarOffset))
        // h = protocol name zero-padded to HASHLEN (it is shorter); ck = h; MixHash(empty prologue).
        let name = Array(Self.protocolName.utf8)
        secrets.bytes(at: Self.hOffset).update(from: name, count: name.count)
        secrets.bytes(at: Self.ckOffset).update(from: secrets.bytes(at: Self.hOffset), count: 64)
        mixHash(UnsafeRawBufferPointer(start: nil, count: 0))
    }

    /// True once the last message was written or read; ``split()`` is then available.
    package var isComplete: Bool { step == .complete }

    /// True when it is this side's turn to write (``writeMessage()``), false when it waits for a message.
    package var isWriting: Bool {
        switch step {
        case .writeMessage1, .writeMessage2, .writeMessage3: true
        default: false
        }
    }

    /// The current handshake hash `h` (64 bytes); after the last message, the handshake hash both sides share.
    package var handshakeHash: [UInt8] {
        Array(UnsafeBufferPointer(start: secrets.bytes(at: Self.hOffset), count: 64))
    }

    /// Writes the next handshake message (32, 96 or 64 bytes, without the frame's length prefix).
    /// - Throws: ``ReplicationError`` (`handshakeFailed`) when it is not this side's turn or a DH fails.
    package mutating func writeMessage() throws(ReplicationError) -> [UInt8] {
        do throws(ReplicationError) {
            switch step {
            case .writeMessage1:
                // -> e
                var out = localEphemeralKey.bytes
                mixHash(localEphemeralKey)
                out += try encryptAndHash([])
                step = .readMessage2
                return out
            case .writeMessage2:
                // <- e, ee, s, es
                guard let re = remoteEphemeralKey else { throw failure("no remote ephemeral key") }
                var out = localEphemeralKey.bytes
                mixHash(localEphemeralKey)
                try mixKey(dh: Self.ephemeralScalarOffset, re)  // ee
                out += try encryptAndHash(localStaticKey.bytes)
                try mixKey(dh: Self.staticScalarOffset, re)  // es (responder: DH(re, s))
                out += try encryptAndHash([])
                step = .readMessage3
                return out
            case .writeMessage3:
                // -> s, se
                guard let re = remoteEphemeralKey else { throw failure("no remote ephemeral key") }
                var out = try encryptAndHash(localStaticKey.bytes)
                try mixKey(dh: Self.staticScalarOffset, re)  // se (initiator: DH(re, s))
                out += try encryptAndHash([])
                step = .complete
                return out
            case .readMessage1, .readMessage2, .readMessage3:
                throw failure("writeMessage called while waiting for a message")
            case .complete:
                throw failure("the handshake is already complete")
            case .failed:
                throw failure("the handshake failed earlier")
            }
        } catch {
            step = .failed
            throw error
        }
    }

    /// Reads the peer's next handshake message (without the frame's length prefix).
    /// - Throws: ``ReplicationError`` (`handshakeFailed`) for a message of the wrong length, a tag that does
    ///   not verify, a non-empty payload, an invalid or small-order key, or a message out of turn.
    package mutating func readMessage(_ message: UnsafeRawBufferPointer) throws(ReplicationError) {
        do throws(ReplicationError) {
            switch step {
            case .readMessage1:
                // -> e
                try expectLength(message, Self.messageLengths.0, "message 1")
                let re = PublicKey(unsafeBytes: message.baseAddress!)
                remoteEphemeralKey = re
                mixHash(re)
                _ = try decryptAndHash(UnsafeRawBufferPointer(rebasing: message[32...]))
                step = .writeMessage2
            case .readMessage2:
                // <- e, ee, s, es
                try expectLength(message, Self.messageLengths.1, "message 2")
                let re = PublicKey(unsafeBytes: message.baseAddress!)
                remoteEphemeralKey = re
                mixHash(re)
                try mixKey(dh: Self.ephemeralScalarOffset, re)  // ee
                let rs = try publicKey(decryptAndHash(UnsafeRawBufferPointer(rebasing: message[32..<80])))
                remoteStaticKey = rs
                try mixKey(dh: Self.ephemeralScalarOffset, rs)  // es (initiator: DH(rs, e))
                guard try decryptAndHash(UnsafeRawBufferPointer(rebasing: message[80...])).isEmpty else {
                    throw failure("non-empty payload in message 2")
                }
                step = .writeMessage3
            case .readMessage3:
                // -> s, se
                try expectLength(message, Self.messageLengths.2, "message 3")
                let rs = try publicKey(decryptAndHash(UnsafeRawBufferPointer(rebasing: message[0..<48])))
                remoteStaticKey = rs
                try mixKey(dh: Self.ephemeralScalarOffset, rs)  // se (responder: DH(rs, e))
                guard try decryptAndHash(UnsafeRawBufferPointer(rebasing: message[48...])).isEmpty else {
                    throw failure("non-empty payload in message 3")
                }
                step = .complete
            case .writeMessage1, .writeMessage2, .writeMessage3:
                throw failure("received a handshake message out of turn")
            case .complete:
                throw failure("received a handshake message after the handshake")
            case .failed:
                throw failure("the handshake failed earlier")
            }
        } catch {
            step = .failed
            throw error
        }
    }

    /// Reads the peer's next handshake message.
    package mutating func readMessage(_ message: [UInt8]) throws(ReplicationError) {
        // Array.withUnsafeBytes rethrows untyped errors: carry the typed one out in a Result.
        let result = message.withUnsafeBytes { bytes in
            Result { () throws(ReplicationError) in try self.readMessage(bytes) }
        }
        try result.get()
    }

    /// Ends the handshake: the transport keys, the handshake hash and the remote static key.
    ///
    /// `(T1, T2) = HKDF(ck, empty)`, truncated to 32 bytes; the initiator sends with T1 and receives with T2.
    /// - Throws: ``ReplicationError`` (`handshakeFailed`) unless the handshake is complete.
    package consuming func split() throws(ReplicationError) -> NoiseTransportKeys {
        guard step == .complete, let remoteStaticKey else {
            throw failure("split before the handshake completed")
        }
        let keys = SecureBytes(count: 64)
        let empty = UnsafeRawBufferPointer(start: nil, count: 0)
        NoisePrimitives.hkdf(
            chainingKey: UnsafeRawBufferPointer(start: secrets.bytes(at: Self.ckOffset), count: 64),
            inputKeyMaterial: empty, t1: secrets.bytes(at: Self.t1Offset), t2: secrets.bytes(at: Self.t2Offset),
            scratch: secrets.bytes(at: Self.scratchOffset))
        let (tx, rx) = isInitiator ? (Self.t1Offset, Self.t2Offset) : (Self.t2Offset, Self.t1Offset)
        keys.bytes(at: 0).update(from: secrets.bytes(at: tx), count: 32)
        keys.bytes(at: 32).update(from: secrets.bytes(at: rx), count: 32)
        return NoiseTransportKeys(
            isInitiator: isInitiator, handshakeHash: handshakeHash, localStaticKey: localStaticKey,
            remoteStaticKey: remoteStaticKey, keys: keys)
    }

    // MARK: - Symmetric state

    private func failure(_ message: String) -> ReplicationError {
        ReplicationError(.handshakeFailed, "Noise handshake: \(message)")
    }

    private func publicKey(_ bytes: [UInt8]) -> PublicKey {
        // `decryptAndHash` of a 48-byte ciphertext yields exactly 32 bytes.
        bytes.withUnsafeBytes { PublicKey(unsafeBytes: $0.baseAddress!) }
    }

    private func expectLength(_ message: UnsafeRawBufferPointer, _ length: Int, _ name: String) throws(ReplicationError) {
        guard message.count == length else {
            throw failure("\(name) is \(message.count) bytes, expected \(length)")
        }
    }

    /// `h = BLAKE2b-512(h ‖ data)`.
    private func mixHash(_ data: UnsafeRawBufferPointer) {
        let buffer = secrets.bytes(at: Self.scratchOffset)
        let h = secrets.bytes(at: Self.hOffset)
        buffer.update(from: h, count: 64)
        if data.count > 0 {
            (buffer + 64).update(from: data.baseAddress!.assumingMemoryBound(to: UInt8.self), count: data.count)
        }
        _ = crypto_generichash(h, 64, buffer, UInt64(64 + data.count), nil, 0)
    }

    private func mixHash(_ key: PublicKey) {
        key.withUnsafeBytes { mixHash($0) }
    }

    /// `MixKey(DH(remote, local))`: `(ck, k) = HKDF(ck, dh)`, `k` truncated to 32 bytes, nonce reset.
    private mutating func mixKey(dh scalarOffset: Int, _ remote: PublicKey) throws(ReplicationError) {
        let dh = secrets.bytes(at: Self.dhOffset)
        try NoisePrimitives.dh(scalar: secrets.bytes(at: scalarOffset), publicKey: remote, into: dh)
        NoisePrimitives.hkdf(
            chainingKey: UnsafeRawBufferPointer(start: secrets.bytes(at: Self.ckOffset), count: 64),
            inputKeyMaterial: UnsafeRawBufferPointer(start: dh, count: 32),
            t1: secrets.bytes(at: Self.t1Offset), t2: secrets.bytes(at: Self.t2Offset),
            scratch: secrets.bytes(at: Self.scratchOffset))
        secrets.bytes(at: Self.ckOffset).update(from: secrets.bytes(at: Self.t1Offset), count: 64)
        secrets.bytes(at: Self.kOffset).update(from: secrets.bytes(at: Self.t2Offset), count: 32)
        sodium_memzero(dh, 32)
        sodium_memzero(secrets.bytes(at: Self.t1Offset), 128)
        hasKey = true
        nonce = 0
    }

    /// Noise `EncryptAndHash`: the ciphertext (plaintext plus a 16-byte tag) once a key exists, else the
    /// plaintext; then `MixHash` of what is sent.
    private mutating func encryptAndHash(_ plaintext: [UInt8]) throws(ReplicationError) -> [UInt8] {
        guard hasKey else {
            plaintext.withUnsafeBytes { mixHash($0) }
            return plaintext
        }
        var out = [UInt8](repeating: 0, count: plaintext.count + NoisePrimitives.tagLength)
        let ad = UnsafeRawBufferPointer(start: secrets.bytes(at: Self.hOffset), count: 64)
        plaintext.withUnsafeBytes { p in
            out.withUnsafeMutableBufferPointer { o in
                NoisePrimitives.encrypt(
                    key: secrets.bytes(at: Self.kOffset), counter: nonce, ad: ad, plaintext: p, into: o.baseAddress!)
            }
        }
        nonce += 1
        out.withUnsafeBytes { mixHash($0) }
        return out
    }

    /// Noise `DecryptAndHash`: the plaintext once a key exists, else the bytes as they are; then `MixHash` of
    /// what was received.
    private mutating func decryptAndHash(_ ciphertext: UnsafeRawBufferPointer) throws(ReplicationError) -> [UInt8] {
        guard hasKey else {
            mixHash(ciphertext)
            return Array(ciphertext)
        }
        guard ciphertext.count >= NoisePrimitives.tagLength else { throw failure("ciphertext shorter than its tag") }
        var out = [UInt8](repeating: 0, count: ciphertext.count - NoisePrimitives.tagLength)
        let ad = UnsafeRawBufferPointer(start: secrets.bytes(at: Self.hOffset), count: 64)
        let ok = out.withUnsafeMutableBufferPointer { o in
            // `o.baseAddress` is nil for an empty payload; libsodium writes nothing then.
            NoisePrimitives.decrypt(
                key: secrets.bytes(at: Self.kOffset), counter: nonce, ad: ad, ciphertext: ciphertext,
                into: o.baseAddress ?? secrets.bytes(at: Self.dhOffset))
        }
        guard ok else { throw failure("a handshake message did not authenticate") }
        nonce += 1
        mixHash(ciphertext)
        return out
    }
}

/// What a completed Noise handshake yields: the two 32-byte transport keys (in `sodium_malloc` memory), the
/// handshake hash and both static keys.
package struct NoiseTransportKeys: ~Copyable {
    /// True for the initiator.
    package let isInitiator: Bool
    /// The final handshake hash `h` (64 bytes), equal on both sides.
    package let handshakeHash: [UInt8]
    /// This side's static public key.
    package let localStaticKey: PublicKey
    /// The peer's static public key (its identity), authenticated by the handshake.
    package let remoteStaticKey: PublicKey
    /// `tx (32) ‖ rx (32)`.
    private let keys: SecureBytes

    fileprivate init(
        isInitiator: Bool, handshakeHash: [UInt8], localStaticKey: PublicKey, remoteStaticKey: PublicKey,
        keys: consuming SecureBytes
    ) {
        self.isInitiator = isInitiator
        self.handshakeHash = handshakeHash
        self.localStaticKey = localStaticKey
        self.remoteStaticKey = remoteStaticKey
        self.keys = keys
    }

    /// The 32-byte key this side sends with. Do not let the pointer escape.
    package func withTransmitKey<R, E: Error>(_ body: (UnsafeRawBufferPointer) throws(E) -> R) throws(E) -> R {
        try keys.withUnsafeBytes(at: 0, length: 32, body)
    }

    /// The 32-byte key this side receives with. Do not let the pointer escape.
    package func withReceiveKey<R, E: Error>(_ body: (UnsafeRawBufferPointer) throws(E) -> R) throws(E) -> R {
        try keys.withUnsafeBytes(at: 32, length: 32, body)
    }
}
