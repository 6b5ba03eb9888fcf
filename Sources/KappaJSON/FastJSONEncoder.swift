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
    ///
    /// To encode many values, reuse one ``FastJSONWriter``: it keeps its buffers between values.
    package static func encode<T: Encodable>(_ value: T) -> [UInt8]? {
        FastJSONWriter().encode(value)
    }
}

/// Names one container (or one value's encoder) of the document being written: its depth and a serial number
/// that the writer never hands out twice, so a container or encoder kept past its end is recognised as stale.
/// One word, so an encoder or container made of a writer, a token and a coding path fits an existential's inline
/// buffer (no allocation per value).
struct FastJSONToken: Equatable {
    private let bits: UInt64
    static let depthBits = 16
    /// Deeper values give the encoding up (JSONEncoder would need that much stack too).
    static let maxDepth = (1 << depthBits) - 1

    init(depth: Int, serial: UInt64) {
        bits = serial << UInt64(Self.depthBits) | UInt64(depth)
    }

    var depth: Int { Int(bits & UInt64(Self.maxDepth)) }
}

/// Writes JSON documents front to back; reusable, one document at a time, on one thread.
///
/// The open objects and arrays are a stack of plain records (no allocation per container); containers and
/// encoders hold a ``FastJSONToken`` and check it against the stack on every write. Containers are closed when the
/// value that opened them ends, or when a container below them is written to again; writing to a closed one gives
/// up.
package final class FastJSONWriter {
    /// One open object or array.
    struct Frame {
        let serial: UInt64
        let isObject: Bool
        var count = 0
        /// Where this object's keys start in `keys` (its keys are the last ones: only the innermost container is
        /// written to).
        let keysStart: Int
        /// The keys as a set, once an object has many.
        var keySet: Set<String>?
    }

    /// What the encoder of the value being written at one depth has done.
    struct Slot {
        enum State { case empty, single, keyed, unkeyed }
        var serial: UInt64 = 0
        var state = State.empty
        /// Its container's serial, when it opened one (at the same depth).
        var frame: UInt64 = 0
    }

    // Unchecked: a writer is used by one encoding at a time on one thread, and no access overlaps another
    // (dynamic exclusivity checks were about a sixth of encoding a small value).
    @exclusivity(unchecked) private(set) var bytes: [UInt8] = []
    @exclusivity(unchecked) private var stack: [Frame] = []
    @exclusivity(unchecked) private var slots: [Slot] = []
    @exclusivity(unchecked) private var keys: [String] = []
    @exclusivity(unchecked) private var lastSerial: UInt64 = 0
    /// Set by every give-up, so one caught inside a value's `encode(to:)` is not lost.
    @exclusivity(unchecked) private(set) var gaveUp = false

    struct GiveUp: Error {}

    package init() {
        bytes.reserveCapacity(256)
    }

    /// The document for `value`, or `nil` where ``FastJSON/encode(_:)`` gives up.
    package func encode<T: Encodable>(_ value: T) -> [UInt8]? {
        bytes.removeAll(keepingCapacity: true)
        stack.removeAll(keepingCapacity: true)
        slots.removeAll(keepingCapacity: true)
        keys.removeAll(keepingCapacity: true)
        gaveUp = false
        do {
            try encodeValue(value, depth: 0, path: [])
        } catch {
            return nil
        }
        // A give-up that the value's own `encode(to:)` caught (`try?`) still counts.
        if gaveUp { return nil }
        // An exact-size copy: `Array(bytes)` would share the buffer, so every block kept the writer's capacity and
        // the next value's `removeAll(keepingCapacity:)` allocated a new one.
        return bytes.withUnsafeBufferPointer { Array($0) }
    }

    func giveUp() -> GiveUp {
        gaveUp = true
        return GiveUp()
    }

    private func nextSerial() -> UInt64 {
        lastSerial += 1
        return lastSerial
    }

    /// Encodes `value` at the current position, which belongs to the container at `depth - 1` (none at 0).
    func encodeValue<T: Encodable>(_ value: T, depth: Int, path: [any CodingKey]) throws {
        if FastJSON.isSpecial(T.self) { throw giveUp() }
        guard depth < FastJSONToken.maxDepth else { throw giveUp() }
        while slots.count <= depth { slots.append(Slot()) }
        // A single-value container encoding a value hands its depth to that value's encoder: the outer one is put
        // back afterwards (and is stale meanwhile).
        let outer = slots[depth]
        let serial = nextSerial()
        slots[depth] = Slot(serial: serial)
        defer { slots[depth] = outer }
        let encoder = FastJSONValueEncoder(writer: self, token: FastJSONToken(depth: depth, serial: serial), codingPath: path)
        do {
            try value.encode(to: encoder)
        } catch {
            // What the value wrote before it threw stays in the bytes (a key, a separator, an open container), where
            // JSONEncoder writes nothing for it: a caller that catches the error must not get these bytes.
            gaveUp = true
            throw error
        }
        // Nothing written: JSONEncoder writes `{}` here, or throws at the top level.
        guard slots[depth].state != .empty else { throw giveUp() }
        close(above: depth)
    }

    /// Closes every container deeper than `depth`.
    func close(above depth: Int) {
        while stack.count > depth {
            let frame = stack.removeLast()
            keys.removeSubrange(frame.keysStart...)
            bytes.append(frame.isObject ? UInt8(ascii: "}") : UInt8(ascii: "]"))
        }
    }

    /// Opens an object or array at `depth`, which must be the next one.
    func open(isObject: Bool, depth: Int) throws -> FastJSONToken {
        guard stack.count == depth, depth < FastJSONToken.maxDepth else { throw giveUp() }
        let serial = nextSerial()
        stack.append(Frame(serial: serial, isObject: isObject, keysStart: keys.count))
        bytes.append(isObject ? UInt8(ascii: "{") : UInt8(ascii: "["))
        return FastJSONToken(depth: depth, serial: serial)
    }

    func isOpen(_ frame: FastJSONToken) -> Bool {
        let depth = frame.depth
        return depth < stack.count && FastJSONToken(depth: depth, serial: stack[depth].serial) == frame
    }

    /// The number of members written to `frame`; `nil` once it is closed.
    func count(_ frame: FastJSONToken) -> Int? {
        isOpen(frame) ? stack[frame.depth].count : nil
    }

    /// Makes `frame` the innermost open container and writes the separator before its next member.
    func prepare(_ frame: FastJSONToken) throws {
        guard isOpen(frame) else { throw giveUp() }
        let depth = frame.depth
        close(above: depth + 1)
        if stack[depth].count > 0 { bytes.append(UInt8(ascii: ",")) }
        stack[depth].count += 1
    }

    /// Starts the member `key` of the object `frame`.
    func prepare(_ frame: FastJSONToken, key: String) throws {
        guard isOpen(frame) else { throw giveUp() }
        close(above: frame.depth + 1)
        guard insertKey(key) else { throw giveUp() }
        try prepare(frame)
        writeString(key)
        bytes.append(UInt8(ascii: ":"))
    }

    /// Records `key` in the innermost object; false when it already has it.
    private func insertKey(_ key: String) -> Bool {
        let top = stack.count - 1
        if stack[top].keySet != nil { return stack[top].keySet!.insert(key).inserted }
        let start = stack[top].keysStart
        for i in start..<keys.count where keys[i] == key { return false }
        keys.append(key)
        if keys.count - start > 16 {
            stack[top].keySet = Set(keys[start...])
        }
        return true
    }

    // MARK: Encoders' state

    /// The slot of the encoder `token`; `nil` when the encoder is stale (its value ended, or a value it handed its
    /// position to is being written).
    private func slot(_ token: FastJSONToken) -> Int? {
        let depth = token.depth
        guard depth < slots.count, FastJSONToken(depth: depth, serial: slots[depth].serial) == token else { return nil }
        return depth
    }

    /// The container of the encoder `token`: opened on the first ask, the same one on the next; `nil` (and the
    /// encoding given up) when the encoder is stale or already wrote something else.
    func container(of token: FastJSONToken, isObject: Bool) -> FastJSONToken? {
        guard let depth = slot(token) else {
            _ = giveUp()
            return nil
        }
        switch slots[depth].state {
        case .empty:
            guard let frame = try? open(isObject: isObject, depth: depth) else { return nil }
            slots[depth].state = isObject ? .keyed : .unkeyed
            slots[depth].frame = stack[depth].serial
            return frame
        case .keyed where isObject, .unkeyed where !isObject:
            return FastJSONToken(depth: depth, serial: slots[depth].frame)
        default:
            _ = giveUp()
            return nil
        }
    }

    /// Marks the encoder `token` as having written its one single value.
    func claimSingle(_ token: FastJSONToken) throws {
        guard let depth = slot(token), slots[depth].state == .empty else { throw giveUp() }
        slots[depth].state = .single
    }

    /// A token that names no encoder and no container: everything asked of it gives up.
    func staleToken() -> FastJSONToken {
        FastJSONToken(depth: 0, serial: nextSerial())
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
/// may be asked for again, and continues the same object). Its state is in the writer, under its token.
struct FastJSONValueEncoder: Encoder {
    let writer: FastJSONWriter
    let token: FastJSONToken
    let codingPath: [any CodingKey]
    var userInfo: [CodingUserInfoKey: Any] { [:] }

    func container<Key: CodingKey>(keyedBy type: Key.Type) -> KeyedEncodingContainer<Key> {
        KeyedEncodingContainer(FastJSONKeyedContainer<Key>(writer: writer, frame: writer.container(of: token, isObject: true),
                                                           codingPath: codingPath))
    }

    func unkeyedContainer() -> any UnkeyedEncodingContainer {
        FastJSONUnkeyedContainer(writer: writer, frame: writer.container(of: token, isObject: false), codingPath: codingPath)
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
        try writer.claimSingle(encoder.token)
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
        try writer.encodeValue(value, depth: encoder.token.depth, path: encoder.codingPath)
    }
}

/// The members of one object.
struct FastJSONKeyedContainer<Key: CodingKey>: KeyedEncodingContainerProtocol {
    let writer: FastJSONWriter
    /// `nil` when the container could not be opened: every call then gives up.
    let frame: FastJSONToken?
    let codingPath: [any CodingKey]

    private func start(_ key: Key) throws -> FastJSONToken {
        guard let frame else { throw writer.giveUp() }
        try writer.prepare(frame, key: key.stringValue)
        return frame
    }

    mutating func encodeNil(forKey key: Key) throws { _ = try start(key); writer.writeNull() }
    mutating func encode(_ value: Bool, forKey key: Key) throws { _ = try start(key); writer.write(value) }
    mutating func encode(_ value: String, forKey key: Key) throws { _ = try start(key); writer.writeString(value) }
    mutating func encode(_ value: Double, forKey key: Key) throws { _ = try start(key); try writer.write(value) }
    mutating func encode(_ value: Float, forKey key: Key) throws { _ = try start(key); try writer.write(value) }
    mutating func encode(_ value: Int, forKey key: Key) throws { _ = try start(key); writer.write(value) }
    mutating func encode(_ value: Int8, forKey key: Key) throws { _ = try start(key); writer.write(value) }
    mutating func encode(_ value: Int16, forKey key: Key) throws { _ = try start(key); writer.write(value) }
    mutating func encode(_ value: Int32, forKey key: Key) throws { _ = try start(key); writer.write(value) }
    mutating func encode(_ value: Int64, forKey key: Key) throws { _ = try start(key); writer.write(value) }
    mutating func encode(_ value: UInt, forKey key: Key) throws { _ = try start(key); writer.write(value) }
    mutating func encode(_ value: UInt8, forKey key: Key) throws { _ = try start(key); writer.write(value) }
    mutating func encode(_ value: UInt16, forKey key: Key) throws { _ = try start(key); writer.write(value) }
    mutating func encode(_ value: UInt32, forKey key: Key) throws { _ = try start(key); writer.write(value) }
    mutating func encode(_ value: UInt64, forKey key: Key) throws { _ = try start(key); writer.write(value) }
    mutating func encode(_ value: Int128, forKey key: Key) throws { throw writer.giveUp() }
    mutating func encode(_ value: UInt128, forKey key: Key) throws { throw writer.giveUp() }

    mutating func encode<T: Encodable>(_ value: T, forKey key: Key) throws {
        let frame = try start(key)
        try writer.encodeValue(value, depth: frame.depth + 1, path: codingPath + [key])
    }

    mutating func nestedContainer<NestedKey: CodingKey>(keyedBy keyType: NestedKey.Type, forKey key: Key)
        -> KeyedEncodingContainer<NestedKey>
    {
        let nested = (try? start(key)).flatMap { try? writer.open(isObject: true, depth: $0.depth + 1) }
        return KeyedEncodingContainer(FastJSONKeyedContainer<NestedKey>(writer: writer, frame: nested,
                                                                       codingPath: codingPath + [key]))
    }

    mutating func nestedUnkeyedContainer(forKey key: Key) -> any UnkeyedEncodingContainer {
        let nested = (try? start(key)).flatMap { try? writer.open(isObject: false, depth: $0.depth + 1) }
        return FastJSONUnkeyedContainer(writer: writer, frame: nested, codingPath: codingPath + [key])
    }

    mutating func superEncoder() -> any Encoder { FastJSONRefusingEncoder(writer, codingPath: codingPath) }
    mutating func superEncoder(forKey key: Key) -> any Encoder { FastJSONRefusingEncoder(writer, codingPath: codingPath + [key]) }
}

/// The elements of one array.
struct FastJSONUnkeyedContainer: UnkeyedEncodingContainer {
    let writer: FastJSONWriter
    let frame: FastJSONToken?
    let codingPath: [any CodingKey]
    /// The count when last written through this container, for `count` once the array is closed.
    private var written = 0

    init(writer: FastJSONWriter, frame: FastJSONToken?, codingPath: [any CodingKey]) {
        self.writer = writer
        self.frame = frame
        self.codingPath = codingPath
    }

    var count: Int { frame.flatMap { writer.count($0) } ?? written }

    private mutating func start() throws -> FastJSONToken {
        guard let frame else { throw writer.giveUp() }
        try writer.prepare(frame)
        written = writer.count(frame) ?? written
        return frame
    }

    mutating func encodeNil() throws { _ = try start(); writer.writeNull() }
    mutating func encode(_ value: Bool) throws { _ = try start(); writer.write(value) }
    mutating func encode(_ value: String) throws { _ = try start(); writer.writeString(value) }
    mutating func encode(_ value: Double) throws { _ = try start(); try writer.write(value) }
    mutating func encode(_ value: Float) throws { _ = try start(); try writer.write(value) }
    mutating func encode(_ value: Int) throws { _ = try start(); writer.write(value) }
    mutating func encode(_ value: Int8) throws { _ = try start(); writer.write(value) }
    mutating func encode(_ value: Int16) throws { _ = try start(); writer.write(value) }
    mutating func encode(_ value: Int32) throws { _ = try start(); writer.write(value) }
    mutating func encode(_ value: Int64) throws { _ = try start(); writer.write(value) }
    mutating func encode(_ value: UInt) throws { _ = try start(); writer.write(value) }
    mutating func encode(_ value: UInt8) throws { _ = try start(); writer.write(value) }
    mutating func encode(_ value: UInt16) throws { _ = try start(); writer.write(value) }
    mutating func encode(_ value: UInt32) throws { _ = try start(); writer.write(value) }
    mutating func encode(_ value: UInt64) throws { _ = try start(); writer.write(value) }
    mutating func encode(_ value: Int128) throws { throw writer.giveUp() }
    mutating func encode(_ value: UInt128) throws { throw writer.giveUp() }

    mutating func encode<T: Encodable>(_ value: T) throws {
        let frame = try start()
        try writer.encodeValue(value, depth: frame.depth + 1, path: codingPath + [IndexKey(written - 1)])
    }

    mutating func nestedContainer<NestedKey: CodingKey>(keyedBy keyType: NestedKey.Type) -> KeyedEncodingContainer<NestedKey> {
        let started = try? start()
        let path = codingPath + [IndexKey(count - 1)]
        let nested = started.flatMap { try? writer.open(isObject: true, depth: $0.depth + 1) }
        return KeyedEncodingContainer(FastJSONKeyedContainer<NestedKey>(writer: writer, frame: nested, codingPath: path))
    }

    mutating func nestedUnkeyedContainer() -> any UnkeyedEncodingContainer {
        let started = try? start()
        let path = codingPath + [IndexKey(count - 1)]
        let nested = started.flatMap { try? writer.open(isObject: false, depth: $0.depth + 1) }
        return FastJSONUnkeyedContainer(writer: writer, frame: nested, codingPath: path)
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
        // A stale token: its single value is refused.
        FastJSONSingleValueContainer(encoder: FastJSONValueEncoder(writer: writer, token: writer.staleToken(), codingPath: codingPath))
    }
}
