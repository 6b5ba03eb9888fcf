internal import CSodium

/// The sending half of libsodium's `crypto_secretstream_xchacha20poly1305`: each message becomes
/// `tag ‖ ciphertext ‖ MAC` (17 bytes of overhead), tagged `TAG_MESSAGE`, without additional data (spec D.2).
///
/// A class because its state changes with every message and must not be duplicated (a copy would reuse
/// nonces). The state holds the key and lives in `sodium_malloc` memory, wiped on release.
///
/// `@unchecked Sendable` because it is handed from the task that ran the handshake to the stream's state, and
/// from there to whichever task holds the stream's write lock (the region checker cannot follow that). Only
/// the holder of the write lock calls ``push(_:into:)`` or ``frames(_:)``
/// (``SecretStreamStateMachine/cipherForWriter(now:)``), so no two threads ever use it at once.
final class SecretStreamPushCipher: @unchecked Sendable {
    /// Length of the header `init_push` produces, 24 bytes.
    static let headerLength = 24
    /// Bytes added to each message: the encrypted tag byte and the 16-byte MAC.
    static let overhead = 17

    private let state: SecureBytes

    private var statePointer: UnsafeMutablePointer<crypto_secretstream_xchacha20poly1305_state> {
        state.pointer.assumingMemoryBound(to: crypto_secretstream_xchacha20poly1305_state.self)
    }

    /// Starts a stream with the 32-byte `key`; the header the receiver needs is written to `header` (24 bytes).
    init(key: UnsafeRawBufferPointer, header: UnsafeMutablePointer<UInt8>) {
        precondition(key.count == 32, "secretstream keys are 32 bytes")
        SodiumLibrary.ensureInitialised()
        state = SecureBytes(count: crypto_secretstream_xchacha20poly1305_statebytes())
        _ = crypto_secretstream_xchacha20poly1305_init_push(
            statePointer, header, key.baseAddress!.assumingMemoryBound(to: UInt8.self))
    }

    /// Encrypts `messages` into one buffer of frames, each `u24le(n + 17) ‖ tag ‖ ciphertext ‖ MAC`.
    /// Every message must be at most `2^24 − 1 − 17` bytes long.
    func frames(_ messages: [[UInt8]]) -> [UInt8] {
        let frameOverhead = Framing.prefixLength + Self.overhead
        var total = 0
        for message in messages { total += frameOverhead + message.count }
        return [UInt8](unsafeUninitializedCapacity: total) { output, initialized in
            var offset = 0
            for message in messages {
                let frame = output.baseAddress! + offset
                Framing.writePrefix(message.count + Self.overhead, to: frame)
                message.withUnsafeBytes { push($0, into: frame + Framing.prefixLength) }
                offset += frameOverhead + message.count
            }
            initialized = total
        }
    }

    /// Encrypts `message`, writing `message.count + 17` bytes to `output`.
    func push(_ message: UnsafeRawBufferPointer, into output: UnsafeMutablePointer<UInt8>) {
        _ = crypto_secretstream_xchacha20poly1305_push(
            statePointer, output, nil, message.baseAddress?.assumingMemoryBound(to: UInt8.self),
            UInt64(message.count), nil, 0, UInt8(crypto_secretstream_xchacha20poly1305_TAG_MESSAGE))
    }
}

/// The receiving half of libsodium's `crypto_secretstream_xchacha20poly1305` (see ``SecretStreamPushCipher``).
///
/// Confined to the task that reads the transport. The state lives in `sodium_malloc` memory, wiped on release.
final class SecretStreamPullCipher {
    private let state: SecureBytes

    private var statePointer: UnsafeMutablePointer<crypto_secretstream_xchacha20poly1305_state> {
        state.pointer.assumingMemoryBound(to: crypto_secretstream_xchacha20poly1305_state.self)
    }

    /// Starts receiving a stream with the 32-byte `key` and the sender's 24-byte `header`.
    init(key: UnsafeRawBufferPointer, header: UnsafeRawBufferPointer) {
        precondition(key.count == 32 && header.count == SecretStreamPushCipher.headerLength,
                     "secretstream keys are 32 bytes and headers 24")
        SodiumLibrary.ensureInitialised()
        state = SecureBytes(count: crypto_secretstream_xchacha20poly1305_statebytes())
        // init_pull cannot fail for a 24-byte header: any bytes are a valid nonce (a wrong one fails the
        // first message).
        _ = crypto_secretstream_xchacha20poly1305_init_pull(
            statePointer, header.baseAddress!.assumingMemoryBound(to: UInt8.self),
            key.baseAddress!.assumingMemoryBound(to: UInt8.self))
    }

    /// Decrypts one message (`tag ‖ ciphertext ‖ MAC`, at least 17 bytes). Any tag is accepted, as
    /// secret-stream does; hypercore only sends `TAG_MESSAGE`.
    /// - Throws: ``ReplicationError`` with code ``ReplicationError/Code/malformedFrame`` when shorter than
    ///   17 bytes, ``ReplicationError/Code/decryptionFailed`` when it does not authenticate.
    func pull(_ ciphertext: UnsafeRawBufferPointer) throws(ReplicationError) -> [UInt8] {
        let overhead = SecretStreamPushCipher.overhead
        guard ciphertext.count >= overhead else {
            throw ReplicationError(.malformedFrame, "secret-stream message of \(ciphertext.count) bytes (minimum 17)")
        }
        let length = ciphertext.count - overhead
        var tag: UInt8 = 0
        func pull(into output: UnsafeMutablePointer<UInt8>) -> Int32 {
            crypto_secretstream_xchacha20poly1305_pull(
                statePointer, output, nil, &tag,
                ciphertext.baseAddress!.assumingMemoryBound(to: UInt8.self), UInt64(ciphertext.count), nil, 0)
        }
        var status: Int32 = 0
        let plaintext: [UInt8]
        if length == 0 {
            // An empty message (a keep-alive): libsodium writes no plaintext, but wants a valid pointer.
            var unused: UInt8 = 0
            status = pull(into: &unused)
            plaintext = []
        } else {
            plaintext = [UInt8](unsafeUninitializedCapacity: length) { buffer, initialized in
                status = pull(into: buffer.baseAddress!)
                initialized = status == 0 ? length : 0
            }
        }
        guard status == 0 else {
            throw ReplicationError(.decryptionFailed, "a secret-stream message did not authenticate")
        }
        return plaintext
    }
}
