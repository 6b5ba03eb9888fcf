import Foundation
import KappaJSON
import KappaTesting
import Testing

/// Valid documents, mutated at random, decode as `JSONDecoder` decodes them or not at all.
///
/// Each seed writes 160 documents and 6 mutants of each (1 to 3 mutations), 1,120 documents decoded as 6 types.
@Suite struct FastJSONFuzzTests {
    /// Writes random valid JSON documents of ``Record``s.
    struct Writer {
        var rng: SeededGenerator

        mutating func pick<T>(_ choices: [T]) -> T { choices.randomElement(using: &rng)! }
        mutating func chance(_ percent: Int) -> Bool { Int.random(in: 0..<100, using: &rng) < percent }

        mutating func space() -> String { chance(80) ? "" : pick([" ", "\n  ", "\t", "\r\n"]) }

        mutating func integer(_ range: ClosedRange<Int64>) -> String {
            chance(20)
                ? String(pick([range.lowerBound, range.upperBound, 0])) : String(Int64.random(in: range, using: &rng))
        }

        mutating func digits() -> String {
            String((0..<Int.random(in: 1...20, using: &rng)).map { _ in pick(Array("0123456789")) })
        }

        /// A number in one of the forms JSON allows.
        mutating func number() -> String {
            switch Int.random(in: 0..<8, using: &rng) {
            case 0: return integer(-1_000_000...1_000_000)
            case 1: return integer(Int64.min...Int64.max)
            case 2: return integer(-99...99) + "." + digits()
            case 3:
                return integer(-9...9) + pick(["e", "E"]) + pick(["", "+", "-"])
                    + String(Int.random(in: 0...300, using: &rng))
            case 4:
                return integer(-99...99) + "." + digits() + pick(["e", "E"]) + pick(["", "+", "-"])
                    + String(Int.random(in: 0...300, using: &rng))
            case 5:
                return pick([
                    "0", "-0", "0.0", "-0.0", "0e0", "0E-400", "1e-320", "4.9e-324", "2.2250738585072014e-308",
                    "1.7976931348623157e308", "5e-324",
                ])
            case 6: return String(Int.random(in: 1...9, using: &rng)) + digits() + digits()
            default: return "0." + digits()
            }
        }

        /// A string literal with unicode and escapes (rarely `\u` escapes, on which reading gives up).
        mutating func string() -> String {
            let pieces = [
                "a", "name", "hello world", "é", "日本", "😀", "\u{7F}", "0", "e",
                "\\n", "\\t", "\\\"", "\\\\", "\\/", "\\b", "\\f", "\\r",
            ]
            let unicodeEscapes = ["\\u00e9", "\\u0041", "\\ud83d\\ude00", "\\u0000", "\\uFFFF", "\\uDBFF\\uDFFF"]
            let n = Int.random(in: 0...4, using: &rng)
            return "\"" + (0..<n).map { _ in chance(2) ? pick(unicodeEscapes) : pick(pieces) }.joined() + "\""
        }

        /// A key: mostly without escapes, on which looking keys up gives up.
        mutating func key() -> String {
            guard chance(90) else { return string() }
            let name = pick(["id", "a", "name", "é", "日本", "😀", "x y"])
            return "\"" + name + String(Int.random(in: 0...99, using: &rng)) + "\""
        }

        /// Any JSON value, for members no type reads.
        mutating func value(depth: Int = 0) -> String {
            switch Int.random(in: 0..<(depth > 2 ? 5 : 7), using: &rng) {
            case 0: return "null"
            case 1: return pick(["true", "false"])
            case 2, 3: return number()
            case 4: return string()
            case 5: return array(Int.random(in: 0...3, using: &rng)) { $0.value(depth: depth + 1) }
            default: return object(Int.random(in: 0...3, using: &rng)) { $0.value(depth: depth + 1) }
            }
        }

        mutating func array(_ count: Int, _ element: (inout Writer) -> String) -> String {
            "[" + space() + (0..<count).map { _ in element(&self) }.joined(separator: "," + space()) + space() + "]"
        }

        mutating func object(_ count: Int, _ value: (inout Writer) -> String) -> String {
            let members = (0..<count).map { _ in space() + key() + space() + ":" + space() + value(&self) }
            return "{" + members.joined(separator: ",") + "}"
        }

        mutating func record() -> String {
            var members: [(String, String)] = [
                ("id", integer(Int64.min...Int64.max)), ("name", string()), ("score", number()),
                ("ok", pick(["true", "false"])),
                ("small", integer(0...255)), ("tags", array(Int.random(in: 0...3, using: &rng)) { $0.string() }),
                ("counts", object(Int.random(in: 0...3, using: &rng)) { $0.integer(-1000...1000) }),
                (
                    "points",
                    array(Int.random(in: 0...3, using: &rng)) { w in
                        "{\"x\":" + w.integer(-1000...1000) + ",\"y\":" + w.space() + w.number() + "}"
                    }
                ),
            ]
            if chance(70) { members.append(("note", chance(30) ? "null" : string())) }
            if chance(70) { members.append(("parent", chance(30) ? "null" : integer(-1000...1000))) }
            for _ in 0..<Int.random(in: 0...3, using: &rng) {
                members.append((pick(["extra", "meta", "x", "é", "😀"]), value()))
            }
            members.shuffle(using: &rng)
            return "{" + space()
                + members.map { "\"\($0.0)\"" + space() + ":" + space() + $0.1 }.joined(separator: "," + space())
                + space() + "}"
        }

        mutating func document() -> [UInt8] {
            Array((chance(80) ? record() : array(Int.random(in: 1...3, using: &rng)) { $0.record() }).utf8)
        }

        /// Control characters, JSON punctuation, digits, and bytes that are invalid or start sequences in UTF-8.
        static let interestingBytes: [UInt8] = [
            0x00, 0x01, 0x08, 0x09, 0x0A, 0x0C, 0x0D, 0x1F, 0x20, 0x22, 0x2B, 0x2C, 0x2D, 0x2E, 0x30, 0x31,
            0x35, 0x39, 0x3A, 0x45, 0x5B, 0x5C, 0x5D, 0x65, 0x75, 0x7B, 0x7D, 0x7F, 0x80, 0x9F, 0xA0, 0xBF,
            0xC0, 0xC1, 0xC2, 0xDF, 0xE0, 0xED, 0xEF, 0xF0, 0xF4, 0xF5, 0xFE, 0xFF,
        ]

        /// `bytes` with one random mutation: a flipped bit, a byte replaced, inserted or deleted, random bytes
        /// inserted, a region duplicated, a digit made an `e`, a backslash inserted, the end cut off, digits or an
        /// out-of-range exponent added to a number, a doubtful `\u` escape inserted.
        mutating func mutate(_ bytes: [UInt8]) -> [UInt8] {
            var b = bytes
            guard !b.isEmpty else { return [pick(Self.interestingBytes)] }
            let at = Int.random(in: 0..<b.count, using: &rng)
            let digitIndices = b.indices.filter { b[$0] >= 0x30 && b[$0] <= 0x39 }
            switch Int.random(in: 0..<12, using: &rng) {
            case 0: b[at] ^= 1 << UInt8.random(in: 0...7, using: &rng)
            case 1: b[at] = pick(Self.interestingBytes)
            case 2: b.insert(pick(Self.interestingBytes), at: at)
            case 3: b.remove(at: at)
            case 4:
                b.insert(
                    contentsOf: (0..<Int.random(in: 1...4, using: &rng)).map { _ in
                        UInt8.random(in: 0...255, using: &rng)
                    }, at: at)
            case 5:
                let end = min(b.count, at + Int.random(in: 1...16, using: &rng))
                b.insert(contentsOf: b[at..<end], at: Int.random(in: 0...b.count, using: &rng))
            case 6:
                if let d = digitIndices.randomElement(using: &rng) {
                    b[d] = pick([UInt8(ascii: "e"), UInt8(ascii: "E")])
                }
            case 7:
                b.insert(contentsOf: [UInt8(ascii: "\\")] + (chance(50) ? [pick(Self.interestingBytes)] : []), at: at)
            case 8: b.removeSubrange(at...)
            case 9:
                if let d = digitIndices.randomElement(using: &rng) {
                    b.insert(contentsOf: Array(digits().utf8), at: d + 1)
                }
            case 10:
                if let d = digitIndices.randomElement(using: &rng) {
                    b.insert(
                        contentsOf: Array(pick(["e-400", "e400", "e-324", "E+999", "e-4", "e-308", ".5e-330"]).utf8),
                        at: d + 1)
                }
            default:
                let escape = pick([
                    "\\ud800", "\\udc00", "\\uD83D", "\\uDE00", "\\u12g4", "\\u", "\\u00", "\\x", "\\ud83d\\ude00",
                ])
                b.insert(contentsOf: Array(escape.utf8), at: at)
            }
            return b
        }
    }

    /// Every contract violation of decoding `bytes` as each of the test types.
    static func violations(_ bytes: [UInt8]) -> [String] {
        [
            contractViolation(Record.self, bytes), contractViolation(Summary.self, bytes),
            contractViolation([Record].self, bytes), contractViolation([Summary].self, bytes),
            contractViolation(Nothing.self, bytes), contractViolation(JSONValue.self, bytes),
        ].compactMap { $0 }
    }

    @Test(arguments: 0..<8)
    func mutatedDocumentsDecodeAsFoundationDoesOrNotAtAll(seed: Int) {
        var writer = Writer(rng: SeededGenerator(seed: UInt64(seed) &+ 0x5EED))
        var failures = [String]()
        var documents = 0
        var fastRecords = 0
        var fastNothing = 0
        for _ in 0..<160 {
            let document = writer.document()
            documents += 1
            failures += Self.violations(document)
            if FastJSON.decode(Record.self, from: document) != nil
                || FastJSON.decode([Record].self, from: document) != nil
            {
                fastRecords += 1
            }
            if FastJSON.decode(Nothing.self, from: document) != nil { fastNothing += 1 }
            for _ in 0..<6 {
                var mutant = document
                for _ in 0..<Int.random(in: 1...3, using: &writer.rng) { mutant = writer.mutate(mutant) }
                failures += Self.violations(mutant)
            }
        }
        #expect(failures.isEmpty, "\(failures.count) violations, first: \(failures.prefix(8).joined(separator: "\n"))")
        // The unmutated documents are valid, so the validation rejects none of them; records stay on the fast
        // path unless they hold what it leaves to JSONDecoder (\u escapes or escaped keys that are read, duplicate
        // keys, subnormal numbers).
        #expect(fastNothing == documents)
        #expect(fastRecords * 2 > documents, "\(fastRecords) of \(documents) records on the fast path")
    }
}
