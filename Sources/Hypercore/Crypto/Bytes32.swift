/// A fixed 32-byte value: a BLAKE2b-256 hash, a public key or a discovery key.
///
/// Stored inline (no heap allocation), compared and hashed as four machine words.
public struct Bytes32: Hashable, Sendable, CustomStringConvertible {
    @usableFromInline
    internal var storage: (UInt64, UInt64, UInt64, UInt64)

    /// 32 zero bytes.
    public static let zero = Bytes32(storage: (0, 0, 0, 0))

    @usableFromInline
    internal init(storage: (UInt64, UInt64, UInt64, UInt64)) {
        self.storage = storage
    }

    /// Copies exactly 32 bytes from `bytes`.
    /// - Throws: ``HypercoreError`` with code ``HypercoreError/Code/invalidLength`` when `bytes` is not 32 bytes long.
    public init<Bytes: Collection<UInt8>>(_ bytes: Bytes) throws(HypercoreError) {
        guard bytes.count == 32 else {
            throw HypercoreError(.invalidLength, "expected 32 bytes, got \(bytes.count)")
        }
        self = .zero
        withUnsafeMutableBytes { dst in
            for (i, b) in bytes.enumerated() { dst[i] = b }
        }
    }

    /// Reads 32 bytes from `pointer` (which must hold at least 32 readable bytes).
    public init(unsafeBytes pointer: UnsafeRawPointer) {
        self = .zero
        withUnsafeMutableBytes { dst in
            dst.baseAddress!.copyMemory(from: pointer, byteCount: 32)
        }
    }

    /// Parses 64 hexadecimal characters.
    /// - Throws: ``HypercoreError`` with code ``HypercoreError/Code/invalidHex`` on malformed input.
    public init(hex: some StringProtocol) throws(HypercoreError) {
        guard let bytes = Hex.decode(hex), bytes.count == 32 else {
            throw HypercoreError(.invalidHex, "expected 64 hex characters")
        }
        try self.init(bytes)
    }

    /// Calls `body` with the 32 bytes.
    @inlinable
    public func withUnsafeBytes<R, E: Error>(_ body: (UnsafeRawBufferPointer) throws(E) -> R) throws(E) -> R {
        var copy = storage
        return try Swift.withUnsafeBytes(of: &copy) { buffer throws(E) in try body(buffer) }
    }

    /// Calls `body` with the 32 bytes, mutable.
    @inlinable
    public mutating func withUnsafeMutableBytes<R, E: Error>(
        _ body: (UnsafeMutableRawBufferPointer) throws(E) -> R
    ) throws(E) -> R {
        try Swift.withUnsafeMutableBytes(of: &storage) { buffer throws(E) in try body(buffer) }
    }

    /// The bytes as an array.
    public var bytes: [UInt8] { withUnsafeBytes { Array($0) } }

    /// Lower-case hexadecimal, 64 characters.
    public var hex: String { withUnsafeBytes { Hex.encode($0) } }

    public var description: String { hex }

    public static func == (lhs: Bytes32, rhs: Bytes32) -> Bool {
        lhs.storage.0 == rhs.storage.0 && lhs.storage.1 == rhs.storage.1
            && lhs.storage.2 == rhs.storage.2 && lhs.storage.3 == rhs.storage.3
    }

    public func hash(into hasher: inout Hasher) {
        hasher.combine(storage.0)
        hasher.combine(storage.1)
        hasher.combine(storage.2)
        hasher.combine(storage.3)
    }
}

/// A 64-byte Ed25519 signature.
public struct Signature: Hashable, Sendable, CustomStringConvertible {
    /// The first and second halves.
    internal var low: Bytes32
    internal var high: Bytes32

    /// 64 zero bytes (no signature).
    public static let zero = Signature(low: .zero, high: .zero)

    internal init(low: Bytes32, high: Bytes32) {
        self.low = low
        self.high = high
    }

    /// Copies exactly 64 bytes.
    /// - Throws: ``HypercoreError`` with code ``HypercoreError/Code/invalidLength`` otherwise.
    public init<Bytes: Collection<UInt8>>(_ bytes: Bytes) throws(HypercoreError) {
        guard bytes.count == 64 else {
            throw HypercoreError(.invalidLength, "expected a 64-byte signature, got \(bytes.count)")
        }
        let array = Array(bytes)
        self.low = try Bytes32(array[0..<32])
        self.high = try Bytes32(array[32..<64])
    }

    /// Reads 64 bytes from `pointer`.
    public init(unsafeBytes pointer: UnsafeRawPointer) {
        self.low = Bytes32(unsafeBytes: pointer)
        self.high = Bytes32(unsafeBytes: pointer + 32)
    }

    /// Calls `body` with the 64 bytes.
    public func withUnsafeBytes<R, E: Error>(_ body: (UnsafeRawBufferPointer) throws(E) -> R) throws(E) -> R {
        var copy = (low.storage, high.storage)
        return try Swift.withUnsafeBytes(of: &copy) { buffer throws(E) in try body(buffer) }
    }

    /// The bytes as an array.
    public var bytes: [UInt8] { withUnsafeBytes { Array($0) } }

    /// Lower-case hexadecimal, 128 characters.
    public var hex: String { withUnsafeBytes { Hex.encode($0) } }

    public var description: String { hex }
}

/// Hexadecimal helpers.
public enum Hex {
    private static let digits = Array("0123456789abcdef".utf8)

    /// Lower-case hex of `bytes`.
    public static func encode(_ bytes: some Sequence<UInt8>) -> String {
        var out = [UInt8]()
        out.reserveCapacity(bytes.underestimatedCount * 2)
        for b in bytes {
            out.append(digits[Int(b >> 4)])
            out.append(digits[Int(b & 0x0f)])
        }
        return String(decoding: out, as: UTF8.self)
    }

    /// The bytes of a hex string, or `nil` when it has odd length or a non-hex character.
    public static func decode(_ string: some StringProtocol) -> [UInt8]? {
        let utf8 = Array(string.utf8)
        guard utf8.count % 2 == 0 else { return nil }
        var out = [UInt8]()
        out.reserveCapacity(utf8.count / 2)
        var i = 0
        while i < utf8.count {
            guard let hi = value(utf8[i]), let lo = value(utf8[i + 1]) else { return nil }
            out.append(hi << 4 | lo)
            i += 2
        }
        return out
    }

    private static func value(_ c: UInt8) -> UInt8? {
        switch c {
        case UInt8(ascii: "0")...UInt8(ascii: "9"): c - UInt8(ascii: "0")
        case UInt8(ascii: "a")...UInt8(ascii: "f"): c - UInt8(ascii: "a") + 10
        case UInt8(ascii: "A")...UInt8(ascii: "F"): c - UInt8(ascii: "A") + 10
        default: nil
        }
    }
}
