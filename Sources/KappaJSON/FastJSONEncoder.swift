import Foundation

extension FastJSON {
    /// JSON for `value` that decodes (with `JSONDecoder`) to what `JSONEncoder().encode(value)` decodes to, written
    /// straight into bytes; or `nil` to have the caller ask `JSONEncoder`, which then also gives the authoritative
    /// error. It gives up on what `JSONEncoder` treats specially or where streaming could differ from it: `Data`,
    /// `Date`, `URL` and `Decimal`, 128-bit integers, non-finite numbers, `superEncoder`, a value that throws (even
    /// when the type catches it), a value that encodes nothing or twice, a key encoded twice in one object, and a
    /// container written to after a later sibling was started.
    ///
    /// Members are written in the order the type encodes them (`JSONEncoder` orders them by its dictionary);
    /// numbers are written as `JSONEncoder` writes them (shortest round-trip digits, no `.0` suffix) and strings
    /// escaped as it escapes them (`/` as `\/`, control characters as `\n`, `\t`, … or `\u00XX`).
    package static func encode<T: Encodable>(_ value: T) -> [UInt8]? {
        let writer = FastJSONWriter()
        do {
            try writer.encodeValue(value, depth: 0, path: [])
        } catch {
            return nil
        }
        // A give-up that the value's own `encode(to:)` caught (`try?`) still counts.
        return writer.gaveUp ? nil : writer.bytes
    }
}

/// One open object or array of the document being written.
final class FastJSONFrame {
    let isObject: Bool
    /// Its place in the writer's stack of open containers.
    let depth: Int
    // Unchecked here and in the writer and encoder below: one encoding runs on one thread, and no access to these
    // overlaps another (dynamic checks were about a sixth of encoding a small value).
    @exclusivity(unchecked) var count = 0
    @exclusivity(unchecked) var closed = false
    /// The keys written so far: the first without an allocation, then an array, then a set once there are many.
    @exclusivity(unchecked) private var firstKey: String?
    @exclusivity(unchecked) private var keys: [String] = []
    @exclusivity(unchecked) private var keySet: Set<String>?

    init(isObject: Bool, depth: Int) {
        self.isObject = isObject
        self.depth = depth
    }

    /// Records `key`; false when the object already has it.
    func insert(_ key: String) -> Bool {
        guard let firstKey else {
            firstKey = key
            return true
        }
        if key == firstKey { return false }
        if keySet != nil { return keySet!.insert(key).inserted }
        if keys.contains(key) { return false }
        keys.append(key)
        if keys.count > 16 {
            keySet = Set(keys)
            keys = []
        }
        return true
    }
}

/// Writes a document front to back. Containers are closed when the value that opened them ends, or when a
/// container below them is written to again; writing to a closed one gives up.
final class FastJSONWriter {
    @exclusivity(unchecked) var bytes: [UInt8] = []
    @exclusivity(unchecked) private var stack: [FastJSONFrame] = []
    /// Set by every give-up, so one caught inside a value's `encode(to:)` is not lost.
    @exclusivity(unchecked) private(set) var gaveUp = false

    struct GiveUp: Error {}

    func giveUp() -> GiveUp {
        gaveUp = true
        return GiveUp()
    }

    init() {
        bytes.reserveCapacity(64)
    }

    /// Encodes `value` at the current position, which belongs to the container at `depth - 1` (none at 0).
    func encodeValue<T: Encodable>(_ value: T, depth: Int, path: [any CodingKey]) throws {
        if FastJSON.isSpecial(T.self) { throw giveUp() }
        let encoder = FastJSONValueEncoder(writer: self, depth: depth, codingPath: path)
        do {
            try value.encode(to: encoder)
        } catch {
            // What the value wrote before it threw stays in the bytes (a key, a separator, an open container), where
            // JSONEncoder writes nothing for it: a caller that catches the error must not get these bytes.
            gaveUp = true
            throw error
        }
        // Nothing written: JSONEncoder writes `{}` here, or throws at the top level.
        guard encoder.state != .empty else { throw giveUp() }
        close(above: depth)
    }

    /// Closes every container deeper than `depth`.
    func close(above depth: Int) {
        while stack.count > depth {
            let frame = stack.removeLast()
            frame.closed = true
            bytes.append(frame.isObject ? UInt8(ascii: "}") : UInt8(ascii: "]"))
        }
    }

    func open(isObject: Bool, depth: Int) throws -> FastJSONFrame {
        guard stack.count == depth else { throw giveUp() }
        let frame = FastJSONFrame(isObject: isObject, depth: depth)
        stack.append(frame)
        bytes.append(isObject ? UInt8(ascii: "{") : UInt8(ascii: "["))
        return frame
    }

    /// Makes `frame` the innermost open container and writes the separator before its next member.
    func prepare(_ frame: FastJSONFrame) throws {
        guard !frame.closed else { throw giveUp() }
        close(above: frame.depth + 1)
        guard stack.last === frame else { throw giveUp() }
        if frame.count > 0 { bytes.append(UInt8(ascii: ",")) }
        frame.count += 1
    }

    /// Starts the member `key` of `frame`.
    func prepare(_ frame: FastJSONFrame, key: String) throws {
        guard frame.insert(key) else { throw giveUp() }
        try prepare(frame)
        writeString(key)
        bytes.append(UInt8(ascii: ":"))
    }

    // MARK: Scalars

    func writeNull() { bytes.append(contentsOf: [0x6E, 0x75, 0x6C, 0x6C]) }

    func write(_ value: Bool) {
        if value { bytes.append(contentsOf: [0x74, 0x72, 0x75, 0x65]) } else { bytes.append(contentsOf: [0x66, 0x61, 0x6C, 0x73, 0x65]) }
    }

    func write<T: FixedWidthInteger>(_ value: T) {
        if value == 0 {
            bytes.append(UInt8(ascii: "0"))
            return
        }
        // Digits of the magnitude, last first, in a stack buffer (40 holds any 128-bit value).
        withUnsafeTemporaryAllocation(of: UInt8.self, capacity: 40) { buffer in
            var n = value.magnitude
            var i = 40
            while n != 0 {
                let (q, r) = n.quotientAndRemainder(dividingBy: 10)
                i -= 1
                buffer[i] = UInt8(ascii: "0") + UInt8(truncatingIfNeeded: r)
                n = q
            }
            if value < 0 { bytes.append(UInt8(ascii: "-")) }
            bytes.append(contentsOf: UnsafeBufferPointer(rebasing: buffer[i..<40]))
        }
    }

    func write<F: BinaryFloatingPoint & CustomStringConvertible>(_ value: F) throws {
        guard value.isFinite else { throw giveUp() }
        var text = value.description
        if text.hasSuffix(".0") { text.removeLast(2) }
        bytes.append(contentsOf: text.utf8)
    }

    private static let hex: [UInt8] = Array("0123456789abcdef".utf8)

    func writeString(_ string: String) {
        bytes.append(UInt8(ascii: "\""))
        var string = string
        string.withUTF8 { utf8 in
            var start = 0
            for i in 0..<utf8.count {
                let byte = utf8[i]
                guard byte < 0x20 || byte == UInt8(ascii: "\"") || byte == UInt8(ascii: "\\") || byte == UInt8(ascii: "/") else {
                    continue
                }
                bytes.append(contentsOf: UnsafeBufferPointer(rebasing: utf8[start..<i]))
                start = i + 1
                bytes.append(UInt8(ascii: "\\"))
                switch byte {
                case UInt8(ascii: "\""), UInt8(ascii: "\\"), UInt8(ascii: "/"): bytes.append(byte)
                case 0x08: bytes.append(UInt8(ascii: "b"))
                case 0x0C: bytes.append(UInt8(ascii: "f"))
                case 0x0A: bytes.append(UInt8(ascii: "n"))
                case 0x0D: bytes.append(UInt8(ascii: "r"))
                case 0x09: bytes.append(UInt8(ascii: "t"))
                default:
                    bytes.append(contentsOf: [UInt8(ascii: "u"), UInt8(ascii: "0"), UInt8(ascii: "0"),
                                              Self.hex[Int(byte >> 4)], Self.hex[Int(byte & 0xF)]])
                }
            }
            bytes.append(contentsOf: UnsafeBufferPointer(rebasing: utf8[start...]))
        }
        bytes.append(UInt8(ascii: "\""))
    }
}

/// The encoder handed to one value: it may write one single value or open one container (a keyed container
/// may be asked for again, and continues the same object).
final class FastJSONValueEncoder: Encoder {
    enum State { case empty, single, keyed, unkeyed }

    let writer: FastJSONWriter
    let depth: Int
    let codingPath: [any CodingKey]
    var userInfo: [CodingUserInfoKey: Any] { [:] }
    @exclusivity(unchecked) var state = State.empty
    @exclusivity(unchecked) var frame: FastJSONFrame?

    init(writer: FastJSONWriter, depth: Int, codingPath: [any CodingKey]) {
        self.writer = writer
        self.depth = depth
        self.codingPath = codingPath
    }

    private func frame(isObject: Bool) throws -> FastJSONFrame {
        switch state {
        case .empty:
            let frame = try writer.open(isObject: isObject, depth: depth)
            self.frame = frame
            state = isObject ? .keyed : .unkeyed
            return frame
        case .keyed where isObject, .unkeyed where !isObject:
            return frame!
        default:
            throw writer.giveUp()
        }
    }

    func container<Key: CodingKey>(keyedBy type: Key.Type) -> KeyedEncodingContainer<Key> {
        do {
            return KeyedEncodingContainer(FastJSONKeyedContainer<Key>(writer: writer, frame: try frame(isObject: true),
                                                                      codingPath: codingPath))
        } catch {
            return KeyedEncodingContainer(FastJSONKeyedContainer<Key>(writer: writer, frame: nil, codingPath: codingPath))
        }
    }

    func unkeyedContainer() -> any UnkeyedEncodingContainer {
        FastJSONUnkeyedContainer(writer: writer, frame: try? frame(isObject: false), codingPath: codingPath)
    }

    func singleValueContainer() -> any SingleValueEncodingContainer {
        FastJSONSingleValueContainer(encoder: self)
    }
}

/// Writes the one value of an encoder.
struct FastJSONSingleValueContainer: SingleValueEncodingContainer {
    let encoder: FastJSONValueEncoder
    var codingPath: [any CodingKey] { encoder.codingPath }
    private var writer: FastJSONWriter { encoder.writer }

    private func claim() throws {
        guard encoder.state == .empty else { throw writer.giveUp() }
        encoder.state = .single
    }

    func encodeNil() throws { try claim(); writer.writeNull() }
    func encode(_ value: Bool) throws { try claim(); writer.write(value) }
    func encode(_ value: String) throws { try claim(); writer.writeString(value) }
    func encode(_ value: Double) throws { try claim(); try writer.write(value) }
    func encode(_ value: Float) throws { try claim(); try writer.write(value) }
    func encode(_ value: Int) throws { try claim(); writer.write(value) }
    func encode(_ value: Int8) throws { try claim(); writer.write(value) }
    func encode(_ value: Int16) throws { try claim(); writer.write(value) }
    func encode(_ value: Int32) throws { try claim(); writer.write(value) }
    func encode(_ value: Int64) throws { try claim(); writer.write(value) }
    func encode(_ value: UInt) throws { try claim(); writer.write(value) }
    func encode(_ value: UInt8) throws { try claim(); writer.write(value) }
    func encode(_ value: UInt16) throws { try claim(); writer.write(value) }
    func encode(_ value: UInt32) throws { try claim(); writer.write(value) }
    func encode(_ value: UInt64) throws { try claim(); writer.write(value) }
    func encode(_ value: Int128) throws { throw writer.giveUp() }
    func encode(_ value: UInt128) throws { throw writer.giveUp() }
    func encode<T: Encodable>(_ value: T) throws {
        try claim()
        // The value writes at this encoder's position, as if it had been given this encoder.
        encoder.state = .empty
        try writer.encodeValue(value, depth: encoder.depth, path: encoder.codingPath)
        encoder.state = .single
    }
}

/// The members of one object.
struct FastJSONKeyedContainer<Key: CodingKey>: KeyedEncodingContainerProtocol {
    let writer: FastJSONWriter
    /// `nil` when the container could not be opened: every call then gives up.
    let frame: FastJSONFrame?
    let codingPath: [any CodingKey]

    private func start(_ key: Key) throws {
        guard let frame else { throw writer.giveUp() }
        try writer.prepare(frame, key: key.stringValue)
    }

    mutating func encodeNil(forKey key: Key) throws { try start(key); writer.writeNull() }
    mutating func encode(_ value: Bool, forKey key: Key) throws { try start(key); writer.write(value) }
    mutating func encode(_ value: String, forKey key: Key) throws { try start(key); writer.writeString(value) }
    mutating func encode(_ value: Double, forKey key: Key) throws { try start(key); try writer.write(value) }
    mutating func encode(_ value: Float, forKey key: Key) throws { try start(key); try writer.write(value) }
    mutating func encode(_ value: Int, forKey key: Key) throws { try start(key); writer.write(value) }
    mutating func encode(_ value: Int8, forKey key: Key) throws { try start(key); writer.write(value) }
    mutating func encode(_ value: Int16, forKey key: Key) throws { try start(key); writer.write(value) }
    mutating func encode(_ value: Int32, forKey key: Key) throws { try start(key); writer.write(value) }
    mutating func encode(_ value: Int64, forKey key: Key) throws { try start(key); writer.write(value) }
    mutating func encode(_ value: UInt, forKey key: Key) throws { try start(key); writer.write(value) }
    mutating func encode(_ value: UInt8, forKey key: Key) throws { try start(key); writer.write(value) }
    mutating func encode(_ value: UInt16, forKey key: Key) throws { try start(key); writer.write(value) }
    mutating func encode(_ value: UInt32, forKey key: Key) throws { try start(key); writer.write(value) }
    mutating func encode(_ value: UInt64, forKey key: Key) throws { try start(key); writer.write(value) }
    mutating func encode(_ value: Int128, forKey key: Key) throws { throw writer.giveUp() }
    mutating func encode(_ value: UInt128, forKey key: Key) throws { throw writer.giveUp() }

    mutating func encode<T: Encodable>(_ value: T, forKey key: Key) throws {
        try start(key)
        try writer.encodeValue(value, depth: frame!.depth + 1, path: codingPath + [key])
    }

    mutating func nestedContainer<NestedKey: CodingKey>(keyedBy keyType: NestedKey.Type, forKey key: Key)
        -> KeyedEncodingContainer<NestedKey>
    {
        let nested: Void? = try? start(key)
        let frame = nested.flatMap { try? writer.open(isObject: true, depth: self.frame!.depth + 1) }
        return KeyedEncodingContainer(FastJSONKeyedContainer<NestedKey>(writer: writer, frame: frame,
                                                                       codingPath: codingPath + [key]))
    }

    mutating func nestedUnkeyedContainer(forKey key: Key) -> any UnkeyedEncodingContainer {
        let nested: Void? = try? start(key)
        let frame = nested.flatMap { try? writer.open(isObject: false, depth: self.frame!.depth + 1) }
        return FastJSONUnkeyedContainer(writer: writer, frame: frame, codingPath: codingPath + [key])
    }

    mutating func superEncoder() -> any Encoder { FastJSONRefusingEncoder(writer, codingPath: codingPath) }
    mutating func superEncoder(forKey key: Key) -> any Encoder { FastJSONRefusingEncoder(writer, codingPath: codingPath + [key]) }
}

/// The elements of one array.
struct FastJSONUnkeyedContainer: UnkeyedEncodingContainer {
    let writer: FastJSONWriter
    let frame: FastJSONFrame?
    let codingPath: [any CodingKey]
    var count: Int { frame?.count ?? 0 }

    private func start() throws {
        guard let frame else { throw writer.giveUp() }
        try writer.prepare(frame)
    }

    mutating func encodeNil() throws { try start(); writer.writeNull() }
    mutating func encode(_ value: Bool) throws { try start(); writer.write(value) }
    mutating func encode(_ value: String) throws { try start(); writer.writeString(value) }
    mutating func encode(_ value: Double) throws { try start(); try writer.write(value) }
    mutating func encode(_ value: Float) throws { try start(); try writer.write(value) }
    mutating func encode(_ value: Int) throws { try start(); writer.write(value) }
    mutating func encode(_ value: Int8) throws { try start(); writer.write(value) }
    mutating func encode(_ value: Int16) throws { try start(); writer.write(value) }
    mutating func encode(_ value: Int32) throws { try start(); writer.write(value) }
    mutating func encode(_ value: Int64) throws { try start(); writer.write(value) }
    mutating func encode(_ value: UInt) throws { try start(); writer.write(value) }
    mutating func encode(_ value: UInt8) throws { try start(); writer.write(value) }
    mutating func encode(_ value: UInt16) throws { try start(); writer.write(value) }
    mutating func encode(_ value: UInt32) throws { try start(); writer.write(value) }
    mutating func encode(_ value: UInt64) throws { try start(); writer.write(value) }
    mutating func encode(_ value: Int128) throws { throw writer.giveUp() }
    mutating func encode(_ value: UInt128) throws { throw writer.giveUp() }

    mutating func encode<T: Encodable>(_ value: T) throws {
        try start()
        try writer.encodeValue(value, depth: frame!.depth + 1, path: codingPath + [IndexKey(frame!.count - 1)])
    }

    mutating func nestedContainer<NestedKey: CodingKey>(keyedBy keyType: NestedKey.Type) -> KeyedEncodingContainer<NestedKey> {
        let nested: Void? = try? start()
        let path = codingPath + [IndexKey(count - 1)]
        let frame = nested.flatMap { try? writer.open(isObject: true, depth: self.frame!.depth + 1) }
        return KeyedEncodingContainer(FastJSONKeyedContainer<NestedKey>(writer: writer, frame: frame, codingPath: path))
    }

    mutating func nestedUnkeyedContainer() -> any UnkeyedEncodingContainer {
        let nested: Void? = try? start()
        let path = codingPath + [IndexKey(count - 1)]
        let frame = nested.flatMap { try? writer.open(isObject: false, depth: self.frame!.depth + 1) }
        return FastJSONUnkeyedContainer(writer: writer, frame: frame, codingPath: path)
    }

    mutating func superEncoder() -> any Encoder { FastJSONRefusingEncoder(writer, codingPath: codingPath) }

    struct IndexKey: CodingKey {
        var stringValue: String { "Index \(index)" }
        var intValue: Int? { index }
        let index: Int
        init(_ index: Int) { self.index = index }
        init?(stringValue: String) { nil }
        init?(intValue: Int) { index = intValue }
    }
}

/// Handed out for `superEncoder`, which `JSONEncoder` writes as a nested object under `super`: asking for it
/// gives the encoding up, and every container it gives refuses.
struct FastJSONRefusingEncoder: Encoder {
    let writer: FastJSONWriter
    let codingPath: [any CodingKey]
    var userInfo: [CodingUserInfoKey: Any] { [:] }

    init(_ writer: FastJSONWriter, codingPath: [any CodingKey]) {
        _ = writer.giveUp()
        self.writer = writer
        self.codingPath = codingPath
    }

    func container<Key: CodingKey>(keyedBy type: Key.Type) -> KeyedEncodingContainer<Key> {
        KeyedEncodingContainer(FastJSONKeyedContainer<Key>(writer: writer, frame: nil, codingPath: codingPath))
    }

    func unkeyedContainer() -> any UnkeyedEncodingContainer {
        FastJSONUnkeyedContainer(writer: writer, frame: nil, codingPath: codingPath)
    }

    func singleValueContainer() -> any SingleValueEncodingContainer {
        let encoder = FastJSONValueEncoder(writer: writer, depth: 0, codingPath: codingPath)
        encoder.state = .unkeyed  // a single value is refused
        return FastJSONSingleValueContainer(encoder: encoder)
    }
}
