/// JSON text parsed into a flat tape of values, without building strings or numbers until asked.
///
/// Only what RFC 8259 allows is accepted, and nothing `JSONDecoder` rejects even where a type does not read it:
/// strings are valid UTF-8 with valid escapes (surrogates in pairs) and no control characters, and containers
/// nest no deeper than `JSONDecoder` allows. Anything else is a parse failure (and the caller falls back to
/// Foundation, which produces the authoritative error).
struct JSONTape {
    enum Kind: UInt8 { case object, array, string, number, bool, null }

    struct Node {
        var kind: Kind
        /// Byte range of the token (for containers: the opening bracket).
        var start: Int32
        var end: Int32
        /// Index of the node after this value and everything inside it.
        var next: Int32
        /// Members (objects: key/value pairs) or elements; for strings, ``Node/escapes`` and
        /// ``Node/nonASCII`` flags; for bools, 1 for true.
        var count: Int32

        /// String flag: the string holds escapes.
        static let escapes: Int32 = 1
        /// String flag: the string holds bytes 0x80 and above (valid UTF-8).
        static let nonASCII: Int32 = 2

        var hasEscapes: Bool { count & Node.escapes != 0 }
        var isASCII: Bool { count & Node.nonASCII == 0 }
    }

    /// `JSONDecoder`'s limit: it rejects arrays and objects nested deeper than this.
    static let maximumDepth = 512

    struct Failure: Error {}

    private(set) var bytes: [UInt8] = []
    private(set) var nodes: [Node] = []

    /// An empty tape, to ``parse(_:)`` into.
    init() {}

    init(_ bytes: [UInt8]) throws {
        try parse(bytes)
    }

    /// Parses `bytes` in place of what the tape held, keeping its node storage for the next document.
    mutating func parse(_ bytes: [UInt8]) throws {
        guard bytes.count < Int32.max else { throw Failure() }
        self.bytes = bytes
        nodes.removeAll(keepingCapacity: true)
        if nodes.capacity < 8 { nodes.reserveCapacity(8) }
        var i = skipSpace(0)
        try parseValue(&i, depth: 0)
        i = skipSpace(i)
        guard i == bytes.count else { throw Failure() }
    }

    private func skipSpace(_ start: Int) -> Int {
        var i = start
        while i < bytes.count {
            switch bytes[i] {
            case 0x20, 0x09, 0x0A, 0x0D: i += 1
            default: return i
            }
        }
        return i
    }

    private mutating func parseValue(_ i: inout Int, depth: Int) throws {
        guard i < bytes.count, nodes.count < 1 << 20 else { throw Failure() }
        let start = i
        switch bytes[i] {
        case UInt8(ascii: "{"):
            guard depth < Self.maximumDepth else { throw Failure() }
            let index = nodes.count
            nodes.append(Node(kind: .object, start: Int32(start), end: Int32(start + 1), next: 0, count: 0))
            i = skipSpace(i + 1)
            var count: Int32 = 0
            if i < bytes.count, bytes[i] == UInt8(ascii: "}") {
                i += 1
            } else {
                while true {
                    guard i < bytes.count, bytes[i] == UInt8(ascii: "\"") else { throw Failure() }
                    try parseString(&i)
                    i = skipSpace(i)
                    guard i < bytes.count, bytes[i] == UInt8(ascii: ":") else { throw Failure() }
                    i = skipSpace(i + 1)
                    try parseValue(&i, depth: depth + 1)
                    count += 1
                    i = skipSpace(i)
                    guard i < bytes.count else { throw Failure() }
                    if bytes[i] == UInt8(ascii: ",") {
                        i = skipSpace(i + 1)
                        continue
                    }
                    guard bytes[i] == UInt8(ascii: "}") else { throw Failure() }
                    i += 1
                    break
                }
            }
            nodes[index].count = count
            nodes[index].next = Int32(nodes.count)
        case UInt8(ascii: "["):
            guard depth < Self.maximumDepth else { throw Failure() }
            let index = nodes.count
            nodes.append(Node(kind: .array, start: Int32(start), end: Int32(start + 1), next: 0, count: 0))
            i = skipSpace(i + 1)
            var count: Int32 = 0
            if i < bytes.count, bytes[i] == UInt8(ascii: "]") {
                i += 1
            } else {
                while true {
                    try parseValue(&i, depth: depth + 1)
                    count += 1
                    i = skipSpace(i)
                    guard i < bytes.count else { throw Failure() }
                    if bytes[i] == UInt8(ascii: ",") {
                        i = skipSpace(i + 1)
                        continue
                    }
                    guard bytes[i] == UInt8(ascii: "]") else { throw Failure() }
                    i += 1
                    break
                }
            }
            nodes[index].count = count
            nodes[index].next = Int32(nodes.count)
        case UInt8(ascii: "\""):
            try parseString(&i)
        case UInt8(ascii: "t"):
            try literal(&i, "true")
            nodes.append(Node(kind: .bool, start: Int32(start), end: Int32(i), next: Int32(nodes.count + 1), count: 1))
        case UInt8(ascii: "f"):
            try literal(&i, "false")
            nodes.append(Node(kind: .bool, start: Int32(start), end: Int32(i), next: Int32(nodes.count + 1), count: 0))
        case UInt8(ascii: "n"):
            try literal(&i, "null")
            nodes.append(Node(kind: .null, start: Int32(start), end: Int32(i), next: Int32(nodes.count + 1), count: 0))
        default:
            try parseNumber(&i)
            nodes.append(Node(kind: .number, start: Int32(start), end: Int32(i), next: Int32(nodes.count + 1), count: 0))
        }
    }

    private func literal(_ i: inout Int, _ word: StaticString) throws {
        let n = word.utf8CodeUnitCount
        guard i + n <= bytes.count else { throw Failure() }
        for k in 0..<n where bytes[i + k] != word.utf8Start[k] { throw Failure() }
        i += n
    }

    /// `-? (0 | [1-9][0-9]*) (. [0-9]+)? ([eE] [+-]? [0-9]+)?`
    private func parseNumber(_ i: inout Int) throws {
        func digit(_ at: Int) -> Bool { at < bytes.count && bytes[at] >= 0x30 && bytes[at] <= 0x39 }
        if i < bytes.count, bytes[i] == UInt8(ascii: "-") { i += 1 }
        guard digit(i) else { throw Failure() }
        if bytes[i] == UInt8(ascii: "0") {
            i += 1
        } else {
            while digit(i) { i += 1 }
        }
        if i < bytes.count, bytes[i] == UInt8(ascii: ".") {
            i += 1
            guard digit(i) else { throw Failure() }
            while digit(i) { i += 1 }
        }
        if i < bytes.count, bytes[i] == UInt8(ascii: "e") || bytes[i] == UInt8(ascii: "E") {
            i += 1
            if i < bytes.count, bytes[i] == UInt8(ascii: "+") || bytes[i] == UInt8(ascii: "-") { i += 1 }
            guard digit(i) else { throw Failure() }
            while digit(i) { i += 1 }
        }
    }

    private mutating func parseString(_ i: inout Int) throws {
        let start = i
        i += 1
        var flags: Int32 = 0
        while true {
            guard i < bytes.count else { throw Failure() }
            let b = bytes[i]
            if b == UInt8(ascii: "\"") { break }
            if b < 0x20 { throw Failure() }
            if b == UInt8(ascii: "\\") {
                flags |= Node.escapes
                try skipEscape(&i)
            } else if b >= 0x80 {
                flags |= Node.nonASCII
                try skipUTF8(&i)
            } else {
                i += 1
            }
        }
        i += 1
        nodes.append(
            Node(kind: .string, start: Int32(start + 1), end: Int32(i - 1), next: Int32(nodes.count + 1), count: flags))
    }

    /// Moves past the escape at `i`: one of `\"` `\\` `\/` `\b` `\f` `\n` `\r` `\t`, or `\u` and four hex digits, a
    /// surrogate only as a high one directly followed by an escaped low one (`JSONDecoder` rejects lone ones).
    private func skipEscape(_ i: inout Int) throws {
        guard i + 1 < bytes.count else { throw Failure() }
        switch bytes[i + 1] {
        case UInt8(ascii: "\""), UInt8(ascii: "\\"), UInt8(ascii: "/"), UInt8(ascii: "b"), UInt8(ascii: "f"),
            UInt8(ascii: "n"), UInt8(ascii: "r"), UInt8(ascii: "t"):
            i += 2
        case UInt8(ascii: "u"):
            let unit = try hex4(at: i + 2)
            i += 6
            if unit & 0xFC00 == 0xD800 {
                guard i + 1 < bytes.count, bytes[i] == UInt8(ascii: "\\"), bytes[i + 1] == UInt8(ascii: "u"),
                    try hex4(at: i + 2) & 0xFC00 == 0xDC00
                else { throw Failure() }
                i += 6
            } else if unit & 0xFC00 == 0xDC00 {
                throw Failure()
            }
        default:
            throw Failure()
        }
    }

    /// The four hex digits at `at` as a UTF-16 code unit.
    private func hex4(at: Int) throws -> UInt16 {
        guard at + 4 <= bytes.count else { throw Failure() }
        var unit: UInt16 = 0
        for k in at..<at + 4 {
            let b = bytes[k]
            let digit: UInt8
            switch b {
            case UInt8(ascii: "0")...UInt8(ascii: "9"): digit = b - UInt8(ascii: "0")
            case UInt8(ascii: "a")...UInt8(ascii: "f"): digit = b - UInt8(ascii: "a") + 10
            case UInt8(ascii: "A")...UInt8(ascii: "F"): digit = b - UInt8(ascii: "A") + 10
            default: throw Failure()
            }
            unit = unit << 4 | UInt16(digit)
        }
        return unit
    }

    /// Moves past the multi-byte UTF-8 sequence starting at `i`, which must be well formed (Unicode table 3-7:
    /// no overlong forms, no surrogates, nothing above U+10FFFF).
    private func skipUTF8(_ i: inout Int) throws {
        func continuation(_ at: Int, _ range: ClosedRange<UInt8> = 0x80...0xBF) -> Bool {
            at < bytes.count && range.contains(bytes[at])
        }
        let length: Int
        switch bytes[i] {
        case 0xC2...0xDF:
            length = 2
        case 0xE0:
            guard continuation(i + 1, 0xA0...0xBF) else { throw Failure() }
            length = 3
        case 0xE1...0xEC, 0xEE...0xEF:
            length = 3
        case 0xED:
            guard continuation(i + 1, 0x80...0x9F) else { throw Failure() }
            length = 3
        case 0xF0:
            guard continuation(i + 1, 0x90...0xBF) else { throw Failure() }
            length = 4
        case 0xF1...0xF3:
            length = 4
        case 0xF4:
            guard continuation(i + 1, 0x80...0x8F) else { throw Failure() }
            length = 4
        default:
            throw Failure()
        }
        for k in 1..<length where !continuation(i + k) { throw Failure() }
        i += length
    }

    // MARK: Reading values

    /// True when the escape-free string node equals `key` as `JSONDecoder` matches keys: by `String` equality,
    /// which is canonical equivalence (the Kelvin sign U+212A equals "K"). Bytes are compared when both are ASCII.
    func stringEquals(_ node: Node, _ key: String, keyIsASCII: Bool) -> Bool {
        guard !node.hasEscapes else { return false }
        guard node.isASCII && keyIsASCII else {
            return String(decoding: bytes[Int(node.start)..<Int(node.end)], as: UTF8.self) == key
        }
        var key = key
        return key.withUTF8 { k in
            let n = Int(node.end - node.start)
            guard k.count == n else { return false }
            var j = 0
            var p = Int(node.start)
            while j < n {
                if k[j] != bytes[p] { return false }
                j += 1
                p += 1
            }
            return true
        }
    }

    /// The string value, or `nil` where decoding is not certain to match Foundation's.
    func string(_ node: Node) -> String? {
        let range = Int(node.start)..<Int(node.end)
        if !node.hasEscapes {
            return String(validating: bytes[range], as: UTF8.self)
        }
        var out = [UInt8]()
        out.reserveCapacity(range.count)
        var i = range.lowerBound
        while i < range.upperBound {
            let b = bytes[i]
            guard b == UInt8(ascii: "\\") else {
                out.append(b)
                i += 1
                continue
            }
            guard i + 1 < range.upperBound else { return nil }
            switch bytes[i + 1] {
            case UInt8(ascii: "\""): out.append(0x22)
            case UInt8(ascii: "\\"): out.append(0x5C)
            case UInt8(ascii: "/"): out.append(0x2F)
            case UInt8(ascii: "b"): out.append(0x08)
            case UInt8(ascii: "f"): out.append(0x0C)
            case UInt8(ascii: "n"): out.append(0x0A)
            case UInt8(ascii: "r"): out.append(0x0D)
            case UInt8(ascii: "t"): out.append(0x09)
            default: return nil  // \u escapes and anything else: leave to Foundation
            }
            i += 2
        }
        return String(validating: out, as: UTF8.self)
    }

    /// The integer value when the number is written as a plain integer that fits `T`.
    func integer<T: FixedWidthInteger>(_ node: Node, as: T.Type) -> T? {
        var i = Int(node.start)
        let end = Int(node.end)
        let negative = bytes[i] == UInt8(ascii: "-")
        if negative { i += 1 }
        guard i < end else { return nil }
        var value: T = 0
        while i < end {
            let b = bytes[i]
            guard b >= 0x30 && b <= 0x39 else { return nil }  // fraction or exponent
            let d = T(b - 0x30)
            let (m, o1) = value.multipliedReportingOverflow(by: 10)
            let (s, o2) = negative ? m.subtractingReportingOverflow(d) : m.addingReportingOverflow(d)
            if o1 || o2 { return nil }
            value = s
            i += 1
        }
        if negative && value == 0 { return nil }  // "-0": leave to Foundation
        return value
    }

    /// The number as a `Double`, when it is a normal number or a zero written without an exponent.
    ///
    /// `JSONDecoder` rejects numbers that overflow to infinity or underflow to zero (`1e-400`), and some zeros
    /// with an exponent (`0e5`, `-0.0e1`, but not `0e+5`); subnormal numbers, at the edge of underflow, are left
    /// to it too.
    func double(_ node: Node) -> Double? {
        let range = Int(node.start)..<Int(node.end)
        let text = String(decoding: bytes[range], as: UTF8.self)
        guard let value = Double(text), value.isFinite, !value.isSubnormal else { return nil }
        if value == 0 {
            for i in range {
                switch bytes[i] {
                case UInt8(ascii: "0"), UInt8(ascii: "-"), UInt8(ascii: "."): continue
                default: return nil
                }
            }
        }
        return value
    }
}
