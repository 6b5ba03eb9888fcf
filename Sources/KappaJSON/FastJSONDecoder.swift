import Foundation

/// Decodes `Decodable` values from JSON faster than Foundation's `JSONDecoder` for the common shapes, and
/// gives up (returns `nil`) wherever it cannot be certain to produce exactly what `JSONDecoder` would: types
/// `JSONDecoder` treats specially (`Data`, `Date`, `URL`, `Decimal`), `Float`, numbers written with a
/// fraction or exponent for integer types, subnormal numbers and zeros with an exponent for `Double`, `\u`
/// escapes, escaped or duplicate keys, `superDecoder`, and any document `JSONDecoder` rejects, even for a
/// member the type does not read (see ``JSONTape``). The caller then decodes with `JSONDecoder`, which also
/// produces the authoritative error for invalid input.
package enum FastJSON {
    /// True when `bytes` is one JSON value (RFC 8259) that `JSONDecoder` accepts; `false` is not always
    /// authoritative (a document nested deeper than ``JSONTape`` follows), so a caller may ask Foundation then.
    package static func isValid(_ bytes: [UInt8]) -> Bool {
        (try? JSONTape(bytes)) != nil
    }

    /// The value `JSONDecoder().decode(type, from: bytes)` returns, or `nil` to have the caller ask
    /// `JSONDecoder`; never a value where `JSONDecoder` throws.
    package static func decode<T: Decodable>(_ type: T.Type, from bytes: [UInt8]) -> T? {
        FastJSONReader().decode(type, from: bytes)
    }

    /// The types Foundation's coders treat specially (by their strategies), which the fast ones leave to them.
    static func isSpecial<T>(_ type: T.Type) -> Bool {
        T.self == Data.self || T.self == Date.self || T.self == URL.self || T.self == Decimal.self
    }
}

/// Decodes one document after another with the same tape storage and state: one allocation per batch
/// rather than two per document. Not for use from several threads at once.
package final class FastJSONReader {
    private var state = FastJSONState(tape: JSONTape())

    package init() {}

    /// What ``FastJSON/decode(_:from:)`` returns for the same arguments.
    package func decode<T: Decodable>(_ type: T.Type, from bytes: [UInt8]) -> T? {
        // A type that kept its decoder keeps the state alive: leave that one to it.
        if !isKnownUniquelyReferenced(&state) { state = FastJSONState(tape: JSONTape()) }
        state.gaveUp = false
        do {
            try state.tape.parse(bytes)
        } catch {
            return nil
        }
        let value = try? state.value(T.self, at: 0, path: [])
        // A give-up inside a `try?` of the value's own init still counts.
        return state.gaveUp ? nil : value
    }
}

/// The tape being decoded and whether decoding gave up somewhere.
final class FastJSONState {
    // Unchecked: a state is used by one decode at a time on one thread, and the tape is replaced only between
    // documents (``FastJSONReader``), never while a container reads it; dynamic checks cost ~4 % of decoding.
    @exclusivity(unchecked) var tape: JSONTape
    @exclusivity(unchecked) var gaveUp = false

    init(tape: JSONTape) {
        self.tape = tape
    }

    struct GiveUp: Error {}

    func giveUp() -> any Error {
        gaveUp = true
        return GiveUp()
    }

    func node(_ index: Int) -> JSONTape.Node { tape.nodes[index] }

    func value<T: Decodable>(_ type: T.Type, at index: Int, path: [any CodingKey]) throws -> T {
        if FastJSON.isSpecial(T.self) { throw giveUp() }
        return try T(from: FastJSONDecoder(state: self, index: index, codingPath: path))
    }

    func mismatch<T>(_ type: T.Type, _ index: Int, _ path: @autoclosure () -> [any CodingKey]) -> any Error {
        if node(index).kind == .null {
            return DecodingError.valueNotFound(type, .init(codingPath: path(), debugDescription: "Cannot get \(type) -- found null value instead"))
        }
        return DecodingError.typeMismatch(type, .init(codingPath: path(), debugDescription: "Expected to decode \(type) but found another value instead."))
    }

    func bool(at index: Int, path: @autoclosure () -> [any CodingKey]) throws -> Bool {
        let n = node(index)
        guard n.kind == .bool else { throw mismatch(Bool.self, index, path()) }
        return n.count == 1
    }

    func string(at index: Int, path: @autoclosure () -> [any CodingKey]) throws -> String {
        let n = node(index)
        guard n.kind == .string else { throw mismatch(String.self, index, path()) }
        guard let s = tape.string(n) else { throw giveUp() }
        return s
    }

    func double(at index: Int, path: @autoclosure () -> [any CodingKey]) throws -> Double {
        let n = node(index)
        guard n.kind == .number else { throw mismatch(Double.self, index, path()) }
        guard let d = tape.double(n) else { throw giveUp() }
        return d
    }

    func integer<T: FixedWidthInteger>(_ type: T.Type, at index: Int, path: @autoclosure () -> [any CodingKey]) throws -> T {
        let n = node(index)
        guard n.kind == .number else { throw mismatch(T.self, index, path()) }
        guard let v = tape.integer(n, as: T.self) else { throw giveUp() }
        return v
    }
}

struct FastJSONDecoder: Decoder, SingleValueDecodingContainer {
    let state: FastJSONState
    let index: Int
    let codingPath: [any CodingKey]
    var userInfo: [CodingUserInfoKey: Any] { [:] }

    func container<Key: CodingKey>(keyedBy type: Key.Type) throws -> KeyedDecodingContainer<Key> {
        guard state.node(index).kind == .object else { throw state.mismatch([String: Any].self, index, codingPath) }
        return KeyedDecodingContainer(FastKeyedContainer<Key>(state: state, object: index, codingPath: codingPath))
    }

    func unkeyedContainer() throws -> any UnkeyedDecodingContainer {
        guard state.node(index).kind == .array else { throw state.mismatch([Any].self, index, codingPath) }
        return FastUnkeyedContainer(state: state, array: index, codingPath: codingPath)
    }

    func singleValueContainer() throws -> any SingleValueDecodingContainer { self }

    func decodeNil() -> Bool { state.node(index).kind == .null }
    func decode(_ type: Bool.Type) throws -> Bool { try state.bool(at: index, path: codingPath) }
    func decode(_ type: String.Type) throws -> String { try state.string(at: index, path: codingPath) }
    func decode(_ type: Double.Type) throws -> Double { try state.double(at: index, path: codingPath) }
    func decode(_ type: Float.Type) throws -> Float { throw state.giveUp() }
    func decode(_ type: Int.Type) throws -> Int { try state.integer(Int.self, at: index, path: codingPath) }
    func decode(_ type: Int8.Type) throws -> Int8 { try state.integer(Int8.self, at: index, path: codingPath) }
    func decode(_ type: Int16.Type) throws -> Int16 { try state.integer(Int16.self, at: index, path: codingPath) }
    func decode(_ type: Int32.Type) throws -> Int32 { try state.integer(Int32.self, at: index, path: codingPath) }
    func decode(_ type: Int64.Type) throws -> Int64 { try state.integer(Int64.self, at: index, path: codingPath) }
    func decode(_ type: UInt.Type) throws -> UInt { try state.integer(UInt.self, at: index, path: codingPath) }
    func decode(_ type: UInt8.Type) throws -> UInt8 { try state.integer(UInt8.self, at: index, path: codingPath) }
    func decode(_ type: UInt16.Type) throws -> UInt16 { try state.integer(UInt16.self, at: index, path: codingPath) }
    func decode(_ type: UInt32.Type) throws -> UInt32 { try state.integer(UInt32.self, at: index, path: codingPath) }
    func decode(_ type: UInt64.Type) throws -> UInt64 { try state.integer(UInt64.self, at: index, path: codingPath) }
    func decode(_ type: Int128.Type) throws -> Int128 { throw state.giveUp() }
    func decode(_ type: UInt128.Type) throws -> UInt128 { throw state.giveUp() }
    func decode<T: Decodable>(_ type: T.Type) throws -> T { try state.value(T.self, at: index, path: codingPath) }
}

struct FastKeyedContainer<Key: CodingKey>: KeyedDecodingContainerProtocol {
    let state: FastJSONState
    let object: Int
    let codingPath: [any CodingKey]

    /// The members as (key node, value node) indexes.
    private var members: [(key: Int, value: Int)] {
        var out = [(key: Int, value: Int)]()
        let n = state.node(object)
        out.reserveCapacity(Int(n.count))
        var i = object + 1
        for _ in 0..<n.count {
            out.append((i, i + 1))
            i = Int(state.node(i + 1).next)
        }
        return out
    }

    var allKeys: [Key] {
        var keys = [Key]()
        var seen = Set<String>()
        for member in members {
            guard let name = state.tape.string(state.node(member.key)), seen.insert(name).inserted else {
                _ = state.giveUp()
                return []
            }
            if let key = Key(stringValue: name) { keys.append(key) }
        }
        return keys
    }

    /// The value node for `key`; gives up on escaped or duplicate keys (keys compare as `String`s, as in
    /// `JSONDecoder`).
    private func find(_ key: Key) throws -> Int? {
        let name = key.stringValue
        let nameIsASCII = name.utf8.allSatisfy { $0 < 0x80 }
        var found: Int?
        var i = object + 1
        for _ in 0..<state.node(object).count {
            let keyNode = state.node(i)
            if keyNode.hasEscapes { throw state.giveUp() }  // escaped key: leave to Foundation
            if state.tape.stringEquals(keyNode, name, keyIsASCII: nameIsASCII) {
                if found != nil { throw state.giveUp() }  // duplicate key
                found = i + 1
            }
            i = Int(state.node(i + 1).next)
        }
        return found
    }

    private func required(_ key: Key) throws -> Int {
        guard let index = try find(key) else {
            throw DecodingError.keyNotFound(key, .init(codingPath: codingPath, debugDescription: "No value associated with key \(key)."))
        }
        return index
    }

    private func path(_ key: Key) -> [any CodingKey] { codingPath + [key] }

    func contains(_ key: Key) -> Bool { ((try? find(key)) ?? nil) != nil }
    func decodeNil(forKey key: Key) throws -> Bool { state.node(try required(key)).kind == .null }
    func decode(_ type: Bool.Type, forKey key: Key) throws -> Bool { try state.bool(at: try required(key), path: path(key)) }
    func decode(_ type: String.Type, forKey key: Key) throws -> String { try state.string(at: try required(key), path: path(key)) }
    func decode(_ type: Double.Type, forKey key: Key) throws -> Double { try state.double(at: try required(key), path: path(key)) }
    func decode(_ type: Float.Type, forKey key: Key) throws -> Float { throw state.giveUp() }
    func decode(_ type: Int.Type, forKey key: Key) throws -> Int { try state.integer(Int.self, at: try required(key), path: path(key)) }
    func decode(_ type: Int8.Type, forKey key: Key) throws -> Int8 { try state.integer(Int8.self, at: try required(key), path: path(key)) }
    func decode(_ type: Int16.Type, forKey key: Key) throws -> Int16 { try state.integer(Int16.self, at: try required(key), path: path(key)) }
    func decode(_ type: Int32.Type, forKey key: Key) throws -> Int32 { try state.integer(Int32.self, at: try required(key), path: path(key)) }
    func decode(_ type: Int64.Type, forKey key: Key) throws -> Int64 { try state.integer(Int64.self, at: try required(key), path: path(key)) }
    func decode(_ type: UInt.Type, forKey key: Key) throws -> UInt { try state.integer(UInt.self, at: try required(key), path: path(key)) }
    func decode(_ type: UInt8.Type, forKey key: Key) throws -> UInt8 { try state.integer(UInt8.self, at: try required(key), path: path(key)) }
    func decode(_ type: UInt16.Type, forKey key: Key) throws -> UInt16 { try state.integer(UInt16.self, at: try required(key), path: path(key)) }
    func decode(_ type: UInt32.Type, forKey key: Key) throws -> UInt32 { try state.integer(UInt32.self, at: try required(key), path: path(key)) }
    func decode(_ type: UInt64.Type, forKey key: Key) throws -> UInt64 { try state.integer(UInt64.self, at: try required(key), path: path(key)) }
    func decode(_ type: Int128.Type, forKey key: Key) throws -> Int128 { throw state.giveUp() }
    func decode(_ type: UInt128.Type, forKey key: Key) throws -> UInt128 { throw state.giveUp() }
    func decode<T: Decodable>(_ type: T.Type, forKey key: Key) throws -> T {
        try state.value(T.self, at: try required(key), path: path(key))
    }

    func nestedContainer<NestedKey: CodingKey>(keyedBy type: NestedKey.Type, forKey key: Key) throws -> KeyedDecodingContainer<NestedKey> {
        try FastJSONDecoder(state: state, index: try required(key), codingPath: path(key)).container(keyedBy: type)
    }

    func nestedUnkeyedContainer(forKey key: Key) throws -> any UnkeyedDecodingContainer {
        try FastJSONDecoder(state: state, index: try required(key), codingPath: path(key)).unkeyedContainer()
    }

    func superDecoder() throws -> any Decoder { throw state.giveUp() }
    func superDecoder(forKey key: Key) throws -> any Decoder { throw state.giveUp() }
}

struct FastUnkeyedContainer: UnkeyedDecodingContainer {
    let state: FastJSONState
    let array: Int
    let codingPath: [any CodingKey]
    private(set) var currentIndex = 0
    private var position: Int

    init(state: FastJSONState, array: Int, codingPath: [any CodingKey]) {
        self.state = state
        self.array = array
        self.codingPath = codingPath
        position = array + 1
    }

    var count: Int? { Int(state.node(array).count) }
    var isAtEnd: Bool { currentIndex >= count! }

    private struct Index: CodingKey {
        var stringValue: String { "Index \(intValue!)" }
        var intValue: Int?
        init(_ i: Int) { intValue = i }
        init?(stringValue: String) { nil }
        init?(intValue: Int) { self.intValue = intValue }
    }

    private var path: [any CodingKey] { codingPath + [Index(currentIndex)] }

    private func current<T>(_ type: T.Type) throws -> Int {
        guard !isAtEnd else {
            throw DecodingError.valueNotFound(type, .init(codingPath: path, debugDescription: "Unkeyed container is at end."))
        }
        return position
    }

    private mutating func advance() {
        position = Int(state.node(position).next)
        currentIndex += 1
    }

    /// Runs `body` on the current element; the element's coding path is built only when `body` needs it (an
    /// error, a nested decoder), not for every primitive.
    private mutating func take<T>(_ body: (FastJSONState, Int, () -> [any CodingKey]) throws -> T) throws -> T {
        let position = try current(T.self)
        let path = { self.path }
        let value = try body(state, position, path)
        advance()
        return value
    }

    mutating func decodeNil() throws -> Bool {
        guard state.node(try current(Never.self)).kind == .null else { return false }
        advance()
        return true
    }

    mutating func decode(_ type: Bool.Type) throws -> Bool { try take { try $0.bool(at: $1, path: $2()) } }
    mutating func decode(_ type: String.Type) throws -> String { try take { try $0.string(at: $1, path: $2()) } }
    mutating func decode(_ type: Double.Type) throws -> Double { try take { try $0.double(at: $1, path: $2()) } }
    mutating func decode(_ type: Float.Type) throws -> Float { throw state.giveUp() }
    mutating func decode(_ type: Int.Type) throws -> Int { try take { try $0.integer(Int.self, at: $1, path: $2()) } }
    mutating func decode(_ type: Int8.Type) throws -> Int8 { try take { try $0.integer(Int8.self, at: $1, path: $2()) } }
    mutating func decode(_ type: Int16.Type) throws -> Int16 { try take { try $0.integer(Int16.self, at: $1, path: $2()) } }
    mutating func decode(_ type: Int32.Type) throws -> Int32 { try take { try $0.integer(Int32.self, at: $1, path: $2()) } }
    mutating func decode(_ type: Int64.Type) throws -> Int64 { try take { try $0.integer(Int64.self, at: $1, path: $2()) } }
    mutating func decode(_ type: UInt.Type) throws -> UInt { try take { try $0.integer(UInt.self, at: $1, path: $2()) } }
    mutating func decode(_ type: UInt8.Type) throws -> UInt8 { try take { try $0.integer(UInt8.self, at: $1, path: $2()) } }
    mutating func decode(_ type: UInt16.Type) throws -> UInt16 { try take { try $0.integer(UInt16.self, at: $1, path: $2()) } }
    mutating func decode(_ type: UInt32.Type) throws -> UInt32 { try take { try $0.integer(UInt32.self, at: $1, path: $2()) } }
    mutating func decode(_ type: UInt64.Type) throws -> UInt64 { try take { try $0.integer(UInt64.self, at: $1, path: $2()) } }
    mutating func decode(_ type: Int128.Type) throws -> Int128 { throw state.giveUp() }
    mutating func decode(_ type: UInt128.Type) throws -> UInt128 { throw state.giveUp() }
    mutating func decode<T: Decodable>(_ type: T.Type) throws -> T { try take { try $0.value(T.self, at: $1, path: $2()) } }

    mutating func nestedContainer<NestedKey: CodingKey>(keyedBy type: NestedKey.Type) throws -> KeyedDecodingContainer<NestedKey> {
        try take { try FastJSONDecoder(state: $0, index: $1, codingPath: $2()).container(keyedBy: type) }
    }

    mutating func nestedUnkeyedContainer() throws -> any UnkeyedDecodingContainer {
        try take { try FastJSONDecoder(state: $0, index: $1, codingPath: $2()).unkeyedContainer() }
    }

    mutating func superDecoder() throws -> any Decoder { throw state.giveUp() }
}
