internal import CSodium

/// A fixed-size buffer of secret bytes in `sodium_malloc` memory (guard pages, no swap where supported),
/// wiped with `sodium_memzero` and freed when it goes out of scope.
///
/// Non-copyable, so the memory has exactly one owner and its lifetime is the owner's: a copy can neither
/// outlive the wipe nor be freed twice. The bytes start zeroed.
package struct SecureBytes: ~Copyable {
    /// The number of bytes: the count asked for, rounded up to a multiple of 64.
    package let count: Int
    private let base: UnsafeMutableRawPointer

    /// Allocates `count` zeroed bytes (rounded up internally to a multiple of 64 so the address is aligned).
    package init(count: Int) {
        precondition(count > 0, "SecureBytes needs at least one byte")
        SodiumLibrary.ensureInitialised()
        // sodium_malloc places the block right before a guard page: a size that is a multiple of 64 keeps
        // the start 64-byte aligned.
        let rounded = (count + 63) & ~63
        guard let pointer = sodium_malloc(rounded) else {
            // sodium_malloc fails only when the process is out of memory (as in Hypercore's SecretKey).
            preconditionFailure("sodium_malloc failed: out of memory")
        }
        sodium_memzero(pointer, rounded)
        self.base = pointer
        self.count = rounded
    }

    deinit {
        sodium_memzero(base, count)
        sodium_free(base)
    }

    /// The first byte. Valid while `self` is alive; do not let it escape the owner's scope.
    package var pointer: UnsafeMutableRawPointer { base }

    /// A typed pointer to the byte at `offset`. Valid while `self` is alive.
    package func bytes(at offset: Int) -> UnsafeMutablePointer<UInt8> {
        (base + offset).assumingMemoryBound(to: UInt8.self)
    }

    /// Calls `body` with the bytes from `offset` for `length` bytes.
    package func withUnsafeBytes<R, E: Error>(
        at offset: Int = 0, length: Int, _ body: (UnsafeRawBufferPointer) throws(E) -> R
    ) throws(E) -> R {
        precondition(offset >= 0 && length >= 0 && offset + length <= count, "SecureBytes range out of bounds")
        return try body(UnsafeRawBufferPointer(start: base + offset, count: length))
    }
}

/// One-time libsodium initialisation for this module.
enum SodiumLibrary {
    private static let initialised: Bool = sodium_init() >= 0

    /// Ensures libsodium is initialised. `sodium_init` fails only without a source of randomness, in which
    /// case no key can be made safely.
    @inline(__always)
    static func ensureInitialised() {
        precondition(initialised, "libsodium failed to initialise (no source of randomness)")
    }
}
