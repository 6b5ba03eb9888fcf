public import Foundation

/// Turns the database's values into feed blocks and back. Feeds store bytes; encodings live at the edge.
public struct ValueEncoding<Value>: Sendable {
    /// Encodes a value into a block.
    public let encode: @Sendable (Value) throws -> [UInt8]
    /// Decodes a block; throwing marks the block undecodable (reported on ``Kappa/errors`` and skipped).
    public let decode: @Sendable ([UInt8]) throws -> Value
    /// Decodes many blocks at once, or returns `nil` to have each decoded with ``decode`` (the default).
    @usableFromInline
    let decodeBatch: @Sendable ([[UInt8]]) -> [Value]?

    /// A custom codec.
    public init(encode: @escaping @Sendable (Value) throws -> [UInt8], decode: @escaping @Sendable ([UInt8]) throws -> Value) {
        self.init(encode: encode, decode: decode, decodeBatch: { _ in nil })
    }

    @usableFromInline
    init(encode: @escaping @Sendable (Value) throws -> [UInt8], decode: @escaping @Sendable ([UInt8]) throws -> Value,
         decodeBatch: @escaping @Sendable ([[UInt8]]) -> [Value]?) {
        self.encode = encode
        self.decode = decode
        self.decodeBatch = decodeBatch
    }

    /// Decodes every block; `failed` is called with the index and error of each undecodable one.
    func decodeAll(_ blocks: [[UInt8]], failed: (Int, any Error) -> Void) -> [Value?] {
        if blocks.count > 1, let values = decodeBatch(blocks), values.count == blocks.count {
            return values
        }
        var values = [Value?]()
        values.reserveCapacity(blocks.count)
        for i in blocks.indices {
            do {
                values.append(try decode(blocks[i]))
            } catch {
                failed(i, error)
                values.append(nil)
            }
        }
        return values
    }
}

extension ValueEncoding where Value: Codable & Sendable {
    /// JSON (Foundation's `JSONEncoder`/`JSONDecoder`), the default.
    ///
    /// A batch of blocks that are each exactly one complete JSON value is parsed as one JSON array, which
    /// costs a fraction of parsing them one by one; any failure falls back to decoding each block alone, so
    /// the result is always the same as per-block decoding.
    @inlinable
    public static var json: ValueEncoding<Value> {
        let encoder = JSONEncoder()
        let decoder = JSONDecoder()
        return ValueEncoding(
            encode: { value in [UInt8](try encoder.encode(value)) },
            decode: { bytes in try decoder.decode(Value.self, from: Data(bytes)) },
            decodeBatch: { blocks in
                var joined = Data()
                joined.reserveCapacity(blocks.reduce(2) { $0 + $1.count + 1 })
                joined.append(UInt8(ascii: "["))
                for (i, block) in blocks.enumerated() {
                    guard JSONShape.isSingleValue(block) else { return nil }
                    if i > 0 { joined.append(UInt8(ascii: ",")) }
                    joined.append(contentsOf: block)
                }
                joined.append(UInt8(ascii: "]"))
                return try? decoder.decode([Value].self, from: joined)
            })
    }
}

/// A structural check on JSON text, without parsing it.
@usableFromInline
enum JSONShape {
    /// True when `bytes` holds at most one top-level JSON value: brackets balance outside strings, no string is
    /// left open, and there is no comma at the top level. Joining such blocks with commas inside `[` `]` gives
    /// an array whose elements are exactly the blocks (each block must still parse on its own for the
    /// array to parse).
    @usableFromInline
    static func isSingleValue(_ bytes: [UInt8]) -> Bool {
        var depth = 0
        var inString = false
        var escaped = false
        var sawValue = false
        for byte in bytes {
            if inString {
                if escaped {
                    escaped = false
                } else if byte == UInt8(ascii: "\\") {
                    escaped = true
                } else if byte == UInt8(ascii: "\"") {
                    inString = false
                }
                continue
            }
            switch byte {
            case UInt8(ascii: "\""):
                inString = true
                sawValue = true
            case UInt8(ascii: "["), UInt8(ascii: "{"):
                depth += 1
                sawValue = true
            case UInt8(ascii: "]"), UInt8(ascii: "}"):
                depth -= 1
                if depth < 0 { return false }
            case UInt8(ascii: ","):
                if depth == 0 { return false }
            case UInt8(ascii: " "), UInt8(ascii: "\t"), UInt8(ascii: "\n"), UInt8(ascii: "\r"):
                break
            default:
                sawValue = true
            }
        }
        return depth == 0 && !inString && sawValue
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
