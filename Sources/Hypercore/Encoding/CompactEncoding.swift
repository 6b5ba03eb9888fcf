/// Writes compact-encoding (holepunchto/compact-encoding) values into a byte array. All integers little-endian.
public struct CompactEncoder: Sendable {
    /// The bytes written so far.
    public var bytes: [UInt8]

    /// Creates an encoder, reserving `capacity` bytes.
    public init(capacity: Int = 64) {
        bytes = []
        bytes.reserveCapacity(capacity)
    }

    /// `uint`: one byte up to 0xFC, else a 0xFD/0xFE/0xFF marker and a u16/u32/u64.
    @inlinable
    public mutating func uint(_ value: UInt64) {
        if value <= 0xFC {
            bytes.append(UInt8(value))
        } else if value <= 0xFFFF {
            bytes.append(0xFD)
            fixed(UInt16(value))
        } else if value <= 0xFFFF_FFFF {
            bytes.append(0xFE)
            fixed(UInt32(value))
        } else {
            bytes.append(0xFF)
            fixed(value)
        }
    }

    /// `uint` of an `Int` (which must not be negative).
    @inlinable
    public mutating func uint(_ value: Int) {
        uint(UInt64(value))
    }

    /// A fixed-width little-endian integer.
    @inlinable
    public mutating func fixed<T: FixedWidthInteger>(_ value: T) {
        withUnsafeBytes(of: value.littleEndian) { bytes.append(contentsOf: $0) }
    }

    /// A single byte.
    @inlinable
    public mutating func byte(_ value: UInt8) {
        bytes.append(value)
    }

    /// Raw bytes, no length prefix (`fixed32`, `fixed64`, `raw`).
    @inlinable
    public mutating func raw(_ value: some Sequence<UInt8>) {
        bytes.append(contentsOf: value)
    }

    /// 32 raw bytes.
    @inlinable
    public mutating func fixed32(_ value: Bytes32) {
        value.withUnsafeBytes { bytes.append(contentsOf: $0) }
    }

    /// `buffer`: `uint(length) ‖ bytes`.
    @inlinable
    public mutating func buffer(_ value: some Collection<UInt8>) {
        uint(value.count)
        bytes.append(contentsOf: value)
    }

    /// `optionalBuffer` (compact-encoding v2 `buffer`): a nil buffer is the single byte 0.
    public mutating func optionalBuffer(_ value: [UInt8]?) {
        if let value { buffer(value) } else { bytes.append(0) }
    }

    /// `string`: `uint(utf8 length) ‖ utf8`.
    public mutating func string(_ value: String) {
        buffer(Array(value.utf8))
    }

    /// A tree node: `uint(index) ‖ uint(size) ‖ fixed32(hash)`.
    @inlinable
    public mutating func node(_ node: TreeNode) {
        uint(node.index)
        uint(node.size)
        fixed32(node.hash)
    }

    /// `array(node)`: `uint(count)` then each node.
    package mutating func nodes(_ nodes: [TreeNode]) {
        uint(nodes.count)
        guard !nodes.isEmpty else { return }
        // One append for the whole array, then raw writes: per-field appends cost more than the bytes.
        let start = bytes.count
        bytes.append(contentsOf: repeatElement(0, count: Self.nodesLength(nodes) - Self.uintLength(nodes.count)))
        bytes.withUnsafeMutableBytes { buffer in
            guard var p = buffer.baseAddress.map({ $0 + start }) else { return }
            for node in nodes {
                p = Self.write(node.index, at: p)
                p = Self.write(node.size, at: p)
                p.storeBytes(of: node.hash.storage.0, toByteOffset: 0, as: UInt64.self)
                p.storeBytes(of: node.hash.storage.1, toByteOffset: 8, as: UInt64.self)
                p.storeBytes(of: node.hash.storage.2, toByteOffset: 16, as: UInt64.self)
                p.storeBytes(of: node.hash.storage.3, toByteOffset: 24, as: UInt64.self)
                p += 32
            }
        }
    }

    /// Writes `uint(value)` at `p` (which has room) and returns the position after it.
    @inline(__always)
    private static func write(_ value: UInt64, at p: UnsafeMutableRawPointer) -> UnsafeMutableRawPointer {
        if value <= 0xFC {
            p.storeBytes(of: UInt8(value), as: UInt8.self)
            return p + 1
        } else if value <= 0xFFFF {
            p.storeBytes(of: 0xFD, as: UInt8.self)
            p.storeBytes(of: UInt16(value).littleEndian, toByteOffset: 1, as: UInt16.self)
            return p + 3
        } else if value <= 0xFFFF_FFFF {
            p.storeBytes(of: 0xFE, as: UInt8.self)
            p.storeBytes(of: UInt32(value).littleEndian, toByteOffset: 1, as: UInt32.self)
            return p + 5
        } else {
            p.storeBytes(of: 0xFF, as: UInt8.self)
            p.storeBytes(of: value.littleEndian, toByteOffset: 1, as: UInt64.self)
            return p + 9
        }
    }

    /// `uint32array`: `uint(count) ‖ count × u32 LE`.
    package mutating func uint32Array(_ words: [UInt32]) {
        uint(words.count)
        for word in words { fixed(word) }
    }

    /// The number of bytes `uint(value)` writes: 1, 3, 5 or 9.
    @inlinable
    package static func uintLength(_ value: UInt64) -> Int {
        value <= 0xFC ? 1 : value <= 0xFFFF ? 3 : value <= 0xFFFF_FFFF ? 5 : 9
    }

    /// The number of bytes `uint(value)` writes, for an `Int` (which must not be negative).
    @inlinable
    package static func uintLength(_ value: Int) -> Int {
        uintLength(UInt64(value))
    }

    /// The number of bytes `node(_:)` writes.
    @inlinable
    package static func nodeLength(_ node: TreeNode) -> Int {
        uintLength(node.index) + uintLength(node.size) + 32
    }

    /// The number of bytes `nodes(_:)` writes.
    package static func nodesLength(_ nodes: [TreeNode]) -> Int {
        var n = uintLength(nodes.count)
        for node in nodes { n += nodeLength(node) }
        return n
    }
}

/// Reads compact-encoding values. Every read is bounds-checked and throws
/// ``HypercoreError/Code/malformed`` instead of reading past the end.
public struct CompactDecoder {
    private let base: UnsafeRawBufferPointer
    /// The read position.
    public private(set) var offset: Int

    /// The largest array count a decoder accepts (as compact-encoding does).
    public static let maxArrayCount = 0x100000

    /// Creates a decoder over `buffer`; the buffer must outlive the decoder.
    public init(_ buffer: UnsafeRawBufferPointer) {
        base = buffer
        offset = 0
    }

    /// Bytes left to read.
    public var remaining: Int { base.count - offset }

    /// True when everything was read.
    public var isAtEnd: Bool { offset >= base.count }

    @inline(__always)
    private func need(_ n: Int) throws(HypercoreError) {
        guard n >= 0, n <= base.count - offset else { throw truncated(n) }
    }

    @inline(never)
    private func truncated(_ n: Int) -> HypercoreError {
        HypercoreError(
            .malformed, "unexpected end of data (need \(n) bytes at offset \(offset), have \(base.count - offset))")
    }

    /// A single byte.
    @inline(__always)
    public mutating func byte() throws(HypercoreError) -> UInt8 {
        try need(1)
        defer { offset += 1 }
        return base[offset]
    }

    /// A fixed-width little-endian integer.
    public mutating func fixed<T: FixedWidthInteger>(_: T.Type) throws(HypercoreError) -> T {
        let n = MemoryLayout<T>.size
        try need(n)
        defer { offset += n }
        return T(littleEndian: base.loadUnaligned(fromByteOffset: offset, as: T.self))
    }

    /// `uint`. Non-minimal forms are accepted, as compact-encoding does.
    @inline(__always)
    public mutating func uint() throws(HypercoreError) -> UInt64 {
        let first = try byte()
        switch first {
        case 0xFD: return UInt64(try fixed(UInt16.self))
        case 0xFE: return UInt64(try fixed(UInt32.self))
        case 0xFF: return try fixed(UInt64.self)
        default: return UInt64(first)
        }
    }

    /// `uint` that must fit in an `Int` and be at most `limit`.
    public mutating func count(limit: Int = CompactDecoder.maxArrayCount) throws(HypercoreError) -> Int {
        let value = try uint()
        guard value <= UInt64(limit) else {
            throw HypercoreError(.malformed, "count \(value) exceeds the limit \(limit)")
        }
        return Int(value)
    }

    /// `n` raw bytes, as a view into the buffer (valid while the buffer is).
    public mutating func rawView(_ n: Int) throws(HypercoreError) -> UnsafeRawBufferPointer {
        try need(n)
        defer { offset += n }
        return UnsafeRawBufferPointer(rebasing: base[offset..<offset + n])
    }

    /// `n` raw bytes, copied.
    public mutating func raw(_ n: Int) throws(HypercoreError) -> [UInt8] {
        Array(try rawView(n))
    }

    /// Everything left, copied.
    public mutating func rest() -> [UInt8] {
        defer { offset = base.count }
        return Array(UnsafeRawBufferPointer(rebasing: base[offset...]))
    }

    /// 32 raw bytes.
    public mutating func fixed32() throws(HypercoreError) -> Bytes32 {
        try need(32)
        defer { offset += 32 }
        return Bytes32(unsafeBytes: base.baseAddress! + offset)
    }

    /// `buffer`: `uint(length) ‖ bytes`.
    public mutating func buffer() throws(HypercoreError) -> [UInt8] {
        let n = try count(limit: Int.max)
        return try raw(n)
    }

    /// `string`: UTF-8 bytes with a length prefix.
    public mutating func string() throws(HypercoreError) -> String {
        let bytes = try buffer()
        guard let string = String(validating: bytes, as: UTF8.self) else {
            throw HypercoreError(.malformed, "string is not valid UTF-8")
        }
        return string
    }

    /// A tree node: `uint(index) ‖ uint(size) ‖ fixed32(hash)`.
    public mutating func node() throws(HypercoreError) -> TreeNode {
        let index = try uint()
        let size = try uint()
        let hash = try fixed32()
        return TreeNode(index: index, size: size, hash: hash)
    }

    /// `uint32array`: `uint(count) ‖ count × u32 LE`. The count is checked against the bytes left before
    /// anything is allocated.
    package mutating func uint32Array(limit: Int = CompactDecoder.maxArrayCount) throws(HypercoreError) -> [UInt32] {
        let n = try count(limit: limit)
        let view = try rawView(n * 4)  // n ≤ limit, so n * 4 cannot overflow
        return [UInt32](unsafeUninitializedCapacity: n) { words, initialized in
            for i in 0..<n {
                words[i] = UInt32(littleEndian: view.loadUnaligned(fromByteOffset: 4 * i, as: UInt32.self))
            }
            initialized = n
        }
    }

    /// `array(node)` with at most `limit` nodes; the count is checked against the bytes left (a node takes at
    /// least 34) before anything is allocated.
    package mutating func nodes(limit: Int) throws(HypercoreError) -> [TreeNode] {
        let n = try count(limit: limit)
        guard n <= remaining / 34 else {
            throw HypercoreError(.malformed, "\(n) nodes cannot fit in the \(remaining) bytes left")
        }
        var nodes = [TreeNode]()
        nodes.reserveCapacity(n)
        for _ in 0..<n {
            let index = try uint()
            let size = try uint()
            try need(32)
            guard let p = base.baseAddress.map({ $0 + offset }) else { break }  // not reached: 32 bytes are left
            let hash = Bytes32(
                storage: (
                    p.loadUnaligned(as: UInt64.self), p.loadUnaligned(fromByteOffset: 8, as: UInt64.self),
                    p.loadUnaligned(fromByteOffset: 16, as: UInt64.self),
                    p.loadUnaligned(fromByteOffset: 24, as: UInt64.self)
                ))
            offset += 32
            nodes.append(TreeNode(index: index, size: size, hash: hash))
        }
        return nodes
    }

    /// `array(node)`.
    public mutating func nodes() throws(HypercoreError) -> [TreeNode] {
        let n = try count()
        var nodes = [TreeNode]()
        nodes.reserveCapacity(Swift.min(n, remaining / 34 + 1))
        for _ in 0..<n { nodes.append(try node()) }
        return nodes
    }
}

extension CompactDecoder {
    /// Decodes `bytes` with `body`.
    public static func decode<R, E: Error>(
        _ bytes: [UInt8], _ body: (inout CompactDecoder) throws(E) -> R
    ) throws(E) -> R {
        let result: Result<R, E> = bytes.withUnsafeBytes { buffer in
            var decoder = CompactDecoder(buffer)
            do throws(E) {
                return .success(try body(&decoder))
            } catch {
                return .failure(error)
            }
        }
        return try result.get()
    }
}
