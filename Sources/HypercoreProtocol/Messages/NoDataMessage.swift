package import Hypercore

/// `noData` (type 4): the sender cannot answer a request (spec D.4).
///
/// Wire form: `uint(requestId) ‖ [uint(flags) ‖ [uint(reason)]]`. The bracketed tail is hypercore 11: flag
/// bit 0 says a reason follows. A message without a ``reason`` encodes as hypercore 10 does (no tail).
package struct NoDataMessage: WireMessage {
    /// Why a request was not answered (hypercore 11). Unknown values are kept.
    package struct Reason: RawRepresentable, Sendable, Hashable {
        package var rawValue: UInt64
        /// Creates a reason from its wire value.
        package init(rawValue: UInt64) { self.rawValue = rawValue }

        /// The sender does not have what was asked for (1).
        package static let notAvailable = Reason(rawValue: 1)
        /// The request was invalid (2).
        package static let invalidRequest = Reason(rawValue: 2)
    }

    /// The id of the request that is not answered.
    package var requestId: UInt64
    /// The reason, when the sender gave one.
    package var reason: Reason?

    /// Creates a `noData`.
    package init(requestId: UInt64, reason: Reason? = nil) {
        self.requestId = requestId
        self.reason = reason
    }

    package init(decoding d: inout CompactDecoder) throws(HypercoreError) {
        requestId = try d.uint()
        let flags = try optionalTrailingUInt(&d) ?? 0
        reason = flags & 1 != 0 ? Reason(rawValue: try d.uint()) : nil
    }

    package var encodedLength: Int {
        CompactEncoder.uintLength(requestId) + (reason.map { 1 + CompactEncoder.uintLength($0.rawValue) } ?? 0)
    }

    package func encode(into e: inout CompactEncoder) {
        e.uint(requestId)
        if let reason {
            e.uint(UInt64(1))
            e.uint(reason.rawValue)
        }
    }
}
