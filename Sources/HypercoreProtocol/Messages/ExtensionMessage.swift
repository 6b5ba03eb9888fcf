package import Hypercore

/// `extension` (type 9): a message of a named per-core extension (spec D.4).
///
/// Wire form: `string(name) ‖ raw(message)`: the message runs to the end of the payload, so trailing bytes
/// belong to it. An empty name means "the name of the previous extension message on this channel".
package struct ExtensionMessage: WireMessage {
    /// The extension's name (empty: same as the previous one on this channel).
    package var name: String
    /// The extension's message bytes.
    package var message: [UInt8]

    /// Creates an `extension`.
    package init(name: String, message: [UInt8]) {
        self.name = name
        self.message = message
    }

    package init(decoding d: inout CompactDecoder) throws(HypercoreError) {
        name = try d.string()
        message = d.rest()
    }

    package var encodedLength: Int {
        let n = name.utf8.count
        return CompactEncoder.uintLength(n) + n + message.count
    }

    package func encode(into e: inout CompactEncoder) {
        e.uint(name.utf8.count)
        e.bytes.append(contentsOf: name.utf8)
        e.bytes.append(contentsOf: message)
    }
}
