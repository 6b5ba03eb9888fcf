public import Foundation
import KappaJSON

/// Turns the database's values into feed blocks and back. Feeds store bytes; encodings live at the edge.
public struct ValueEncoding<Value>: Sendable {
    /// Encodes a value into a block.
    public let encode: @Sendable (Value) throws -> [UInt8]
    /// Decodes a block; throwing marks the block undecodable (reported on ``Kappa/errors`` and skipped).
    public let decode: @Sendable ([UInt8]) throws -> Value
    /// Decodes a run of blocks at once (one result per block), when the encoding has a faster way than block by
    /// block; `nil` for ``decode`` per block.
    @usableFromInline
    let decodeRun: (@Sendable (ArraySlice<[UInt8]>) -> [Result<Value, any Error>])?
    /// Encodes values at once (one block per value), when the encoding has a faster way than value by value;
    /// `nil` for ``encode`` per value.
    @usableFromInline
    let encodeRun: (@Sendable ([Value]) throws -> [[UInt8]])?

    /// A custom codec.
    public init(encode: @escaping @Sendable (Value) throws -> [UInt8], decode: @escaping @Sendable ([UInt8]) throws -> Value) {
        self.encode = encode
        self.decode = decode
        decodeRun = nil
        encodeRun = nil
    }

    @usableFromInline
    init(encode: @escaping @Sendable (Value) throws -> [UInt8], decode: @escaping @Sendable ([UInt8]) throws -> Value,
         encodeRun: @escaping @Sendable ([Value]) throws -> [[UInt8]],
         decodeRun: @escaping @Sendable (ArraySlice<[UInt8]>) -> [Result<Value, any Error>]) {
        self.encode = encode
        self.decode = decode
        self.encodeRun = encodeRun
        self.decodeRun = decodeRun
    }

    /// Encodes every value, one block each.
    func encodeAll(_ values: [Value]) throws -> [[UInt8]] {
        if let encodeRun { return try encodeRun(values) }
        var blocks = [[UInt8]]()
        blocks.reserveCapacity(values.count)
        for value in values { blocks.append(try encode(value)) }
        return blocks
    }
}

extension ValueEncoding where Value: Sendable {
    /// Below this many blocks a batch is decoded on the caller's thread alone.
    static var splitThreshold: Int { 256 }

    /// Decodes every block, the second half of a large batch in a child task, so a batch's decoding (most of
    /// an indexer's work for JSON) uses a second core when one is free.
    func decodeConcurrently(_ blocks: [[UInt8]]) async -> [Result<Value, any Error>] {
        guard blocks.count >= Self.splitThreshold else { return decodeResults(blocks[...]) }
        let middle = blocks.count / 2
        async let tail = decodeResults(blocks[middle...])
        var results = decodeResults(blocks[..<middle])
        results.reserveCapacity(blocks.count)
        results += await tail
        return results
    }

    private func decodeResults(_ blocks: ArraySlice<[UInt8]>) -> [Result<Value, any Error>] {
        if let decodeRun { return decodeRun(blocks) }
        return Self.results(blocks, decode)
    }
}

extension ValueEncoding {
    /// `decode` of each block. One loop rather than `map` with `Result.catching`: in this generic (unspecialised)
    /// code each closure call looked up the metadata of `Result<Value, any Error>` again, per block.
    static func results(_ blocks: ArraySlice<[UInt8]>, _ decode: ([UInt8]) throws -> Value) -> [Result<Value, any Error>] {
        var results = [Result<Value, any Error>]()
        results.reserveCapacity(blocks.count)
        for block in blocks {
            do {
                results.append(.success(try decode(block)))
            } catch {
                results.append(.failure(error))
            }
        }
        return results
    }
}

extension ValueEncoding where Value: Codable & Sendable {
    /// JSON, the default: what Foundation's `JSONEncoder` writes and `JSONDecoder` reads.
    ///
    /// Values are written by a fast encoder for the common shapes, which falls back to `JSONEncoder` for
    /// anything it treats specially (`Data`, `Date`, `URL`, `Decimal`, non-finite numbers, `superEncoder`, …);
    /// its output decodes to the same value as `JSONEncoder`'s (members in the order the type encodes them).
    /// Blocks are read with a fast decoder that falls back to `JSONDecoder` wherever it could differ from it, so
    /// values (and errors) are always `JSONDecoder`'s.
    @inlinable
    public static var json: ValueEncoding<Value> {
        let encoder = JSONEncoder()
        let decoder = JSONDecoder()
        return ValueEncoding(
            encode: { value in try encodeJSON(value, with: encoder) },
            decode: { bytes in try decodeJSON(bytes, with: decoder) },
            encodeRun: { values in try encodeJSON(values, with: encoder) },
            decodeRun: { blocks in decodeJSON(blocks, with: decoder) })
    }

    /// ``encodeJSON(_:with:)`` for each value, reusing the fast encoder's buffers across the run.
    @usableFromInline
    static func encodeJSON(_ values: [Value], with encoder: JSONEncoder) throws -> [[UInt8]] {
        let writer = FastJSONWriter()
        var blocks = [[UInt8]]()
        blocks.reserveCapacity(values.count)
        for value in values { blocks.append(try encodeJSON(value, with: encoder, writer: writer)) }
        return blocks
    }

    /// ``decodeJSON(_:with:)`` for each block, reusing the fast decoder's storage across the run.
    @usableFromInline
    static func decodeJSON(_ blocks: ArraySlice<[UInt8]>, with decoder: JSONDecoder) -> [Result<Value, any Error>] {
        let reader = FastJSONReader()
        return results(blocks) { try decodeJSON($0, with: decoder, reader: reader) }
    }

    /// The fast encoder's bytes, or `encoder`'s where the fast one gives up.
    @usableFromInline
    static func encodeJSON(_ value: Value, with encoder: JSONEncoder) throws -> [UInt8] {
        try encodeJSON(value, with: encoder, writer: FastJSONWriter())
    }

    private static func encodeJSON(_ value: Value, with encoder: JSONEncoder, writer: FastJSONWriter) throws -> [UInt8] {
        if let bytes = writer.encode(value) { return bytes }
        return [UInt8](try encoder.encode(value))
    }

    /// The fast decoder's value, or `decoder`'s where the fast one gives up.
    ///
    /// Not inlinable: `KappaJSON` is internal to the package. The fast decoder is generic without
    /// specialisation either way, and `JSONDecoder.decode` is not inlinable.
    @usableFromInline
    static func decodeJSON(_ bytes: [UInt8], with decoder: JSONDecoder) throws -> Value {
        try decodeJSON(bytes, with: decoder, reader: FastJSONReader())
    }

    private static func decodeJSON(_ bytes: [UInt8], with decoder: JSONDecoder, reader: FastJSONReader) throws -> Value {
        if let value = reader.decode(Value.self, from: bytes) { return value }
        return try decoder.decode(Value.self, from: Data(bytes))
    }
}

extension ValueEncoding where Value == String {
    /// UTF-8 text; a block that is not valid UTF-8 is undecodable.
    public static var utf8: ValueEncoding<String> {
        ValueEncoding(
            encode: { Array($0.utf8) },
            decode: { bytes in
                guard let string = String(validating: bytes, as: UTF8.self) else {
                    throw KappaError(.undecodableEntry, "block is not valid UTF-8")
                }
                return string
            })
    }
}

extension ValueEncoding where Value == [UInt8] {
    /// The block bytes as they are.
    public static var binary: ValueEncoding<[UInt8]> {
        ValueEncoding(encode: { $0 }, decode: { $0 })
    }
}
