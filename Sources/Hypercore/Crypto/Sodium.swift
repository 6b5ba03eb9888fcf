internal import CSodium

/// One-time libsodium initialisation.
enum Sodium {
    /// `sodium_init` runs once, on first use of any crypto function (thread-safe through `static let`).
    private static let initialised: Bool = sodium_init() >= 0

    /// Ensures libsodium is initialised. `sodium_init` only fails when no random source exists,
    /// in which case no key can be made safely and the process cannot continue.
    @inline(__always)
    static func ensureInitialised() {
        precondition(initialised, "libsodium failed to initialise (no source of randomness)")
    }
}
