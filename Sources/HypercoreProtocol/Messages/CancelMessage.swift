package import Hypercore

/// `cancel` (type 2): the sender no longer wants the answer to one of its requests (spec D.4).
///
/// Wire form: `uint(requestId)`.
package struct CancelMessage: WireMessage {
    /// The id of the request to cancel.
    package var requestId: UInt64

    /// Creates a `cancel`.
    package init(requestId: UInt64) { self.requestId = requestId }

    package init(decoding d: inout CompactDecoder) throws(HypercoreError) {
        requestId = try d.uint()
    }

    package var encodedLength: Int { CompactEncoder.uintLength(requestId) }

    package func encode(into e: inout CompactEncoder) { e.uint(requestId) }
}
