public import Hypercore

/// A local writable feed of a ``Kappa`` database, appending typed values.
///
/// ```swift
/// try await core.writer("default").append(1)
/// ```
public struct KappaWriter<Value: Sendable>: Sendable {
    /// The underlying feed.
    public let feed: Feed
    /// The writer's local name.
    public let name: String
    let encoding: ValueEncoding<Value>

    /// The feed key.
    public var key: PublicKey { feed.key }

    /// Appends one value; returns its sequence number.
    /// - Throws: ``KappaError/Code/encoding`` when the value does not encode; feed errors otherwise.
    @discardableResult
    public func append(_ value: Value) async throws -> UInt64 {
        try await feed.append(try encode(value))
    }

    /// Appends values as one atomic batch with one signature; returns their sequence numbers.
    @discardableResult
    public func append(contentsOf values: [Value]) async throws -> Range<UInt64> {
        let blocks: [[UInt8]]
        do {
            blocks = try encoding.encodeAll(values)
        } catch {
            throw KappaError(.encoding, "cannot encode a value for writer \(name)", cause: error)
        }
        return try await feed.append(contentsOf: blocks)
    }

    private func encode(_ value: Value) throws -> [UInt8] {
        do {
            return try encoding.encode(value)
        } catch {
            throw KappaError(.encoding, "cannot encode a value for writer \(name)", cause: error)
        }
    }
}
