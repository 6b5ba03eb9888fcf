import Foundation

/// Turns the database's values into feed blocks and back. Feeds store bytes; encodings live at the edge.
public struct ValueEncoding<Value>: Sendable {
    /// Encodes a value into a block.
    public let encode: @Sendable (Value) throws -> [UInt8]
    /// Decodes a block; throwing marks the block undecodable (reported on ``Kappa/errors`` and skipped).
    public let decode: @Sendable ([UInt8]) throws -> Value

    /// A custom codec.
    public init(encode: @escaping @Sendable (Value) throws -> [UInt8], decode: @escaping @Sendable ([UInt8]) throws -> Value) {
        self.encode = encode
        self.decode = decode
    }
}

extension ValueEncoding where Value: Codable & Sendable {
    /// JSON (Foundation's `JSONEncoder`/`JSONDecoder`), the default.
    public static var json: ValueEncoding<Value> {
        ValueEncoding(
            encode: { value in [UInt8](try JSONEncoder().encode(value)) },
            decode: { bytes in try JSONDecoder().decode(Value.self, from: Data(bytes)) })
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
