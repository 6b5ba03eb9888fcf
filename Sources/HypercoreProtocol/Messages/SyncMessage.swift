package import Hypercore

/// `sync` (type 0): the sender's fork and length, and the length it last received from us (spec D.4, D.5).
///
/// Wire form: `uint(flags) ‖ uint(fork) ‖ uint(length) ‖ uint(remoteLength)`.
package struct SyncMessage: WireMessage {
    /// The flag bits of a `sync`. Unknown bits are kept, so a message re-encodes as it arrived.
    package struct Flags: OptionSet, Sendable, Hashable {
        package var rawValue: UInt64
        /// Creates flags from their wire value.
        package init(rawValue: UInt64) { self.rawValue = rawValue }

        /// The sender can prove an upgrade from our length to its length (bit 0).
        package static let canUpgrade = Flags(rawValue: 1 << 0)
        /// The sender serves blocks (bit 1).
        package static let uploading = Flags(rawValue: 1 << 1)
        /// The sender wants blocks (bit 2).
        package static let downloading = Flags(rawValue: 1 << 2)
        /// The sender has the core's manifest (bit 3, v10.21+).
        package static let hasManifest = Flags(rawValue: 1 << 3)
        /// The sender accepts unsolicited data (bit 4, v11).
        package static let allowPush = Flags(rawValue: 1 << 4)
    }

    /// The flag bits.
    package var flags: Flags
    /// The sender's fork.
    package var fork: UInt64
    /// The sender's signed length.
    package var length: UInt64
    /// The length the sender last received from us, or 0 when our forks differ.
    package var remoteLength: UInt64

    /// Creates a `sync`.
    package init(flags: Flags, fork: UInt64, length: UInt64, remoteLength: UInt64) {
        self.flags = flags
        self.fork = fork
        self.length = length
        self.remoteLength = remoteLength
    }

    package init(decoding d: inout CompactDecoder) throws(HypercoreError) {
        flags = Flags(rawValue: try d.uint())
        fork = try d.uint()
        length = try d.uint()
        remoteLength = try d.uint()
    }

    package var encodedLength: Int {
        CompactEncoder.uintLength(flags.rawValue) + CompactEncoder.uintLength(fork)
            + CompactEncoder.uintLength(length) + CompactEncoder.uintLength(remoteLength)
    }

    package func encode(into e: inout CompactEncoder) {
        e.uint(flags.rawValue)
        e.uint(fork)
        e.uint(length)
        e.uint(remoteLength)
    }
}
