import Foundation
import KappaJSON
import Testing

/// Input `JSONDecoder` rejects is never decoded by the fast decoder, wherever it sits in the document:
/// in a member the type reads, in one it leaves unread, in a key, deep inside an unread value.
@Suite struct FastJSONRejectionTests {
    /// Values `JSONDecoder` rejects when it reads them.
    static let invalidValues: [[UInt8]] =
        [
            // Numbers that underflow or overflow a Double, zeros with some exponents, numbers outside the grammar.
            "1e-400", "-1e-400", "2e-324", "0.000000000000000000001e-310", "1e400", "-1e400", "1.7976931348623159e308",
            "0e8", "0E1", "0.000e5", "-0.0e1", "-0.0E-3",
            "01", "-01", "00", "-", "1.", ".5", "+1", "1e", "1e+", "1E-", "0x10", "1.5.5", "--1", "NaN", "Infinity",
            "-Infinity",
            // Escapes: unknown, short or non-hex \u, lone or unpaired surrogates.
            #""\x""#, #""\'""#, #""\U0041""#, #""\u12""#, #""\u12g4""#, #""\ud800""#, #""\udc00""#, #""\ud800\u0041""#,
            #""\ud800x""#, #""\udbff\ud800""#, #""a\""#,
            // Control characters.
            "\"\u{01}\"", "\"\u{1F}\"", "\"\t\"", "\"\n\"", "\"\u{0}\"",
        ].map { Array($0.utf8) }
        + [
            // Invalid UTF-8: stray continuation bytes, bytes that never occur, overlong forms, encoded
            // surrogates, truncated sequences, code points above U+10FFFF.
            [0x80], [0xBF], [0xFF], [0xFE], [0xC0, 0x80], [0xC1, 0xBF], [0xE0, 0x80, 0x80], [0xF0, 0x80, 0x80, 0x80],
            [0xED, 0xA0, 0x80], [0xED, 0xBF, 0xBF], [0xE2, 0x82], [0xC3], [0xF0, 0x9F, 0x98], [0xF4, 0x90, 0x80, 0x80],
            [0xF5, 0x80, 0x80, 0x80], [0xF8, 0x88, 0x80, 0x80, 0x80], [0x61, 0xC3, 0x28],
        ].map { [0x22] + $0 + [0x22] }

    /// Documents holding `value` where a type reads it, where it does not, as a key and inside unread values.
    static func documents(with value: [UInt8]) -> [[UInt8]] {
        func text(_ s: String) -> [UInt8] { Array(s.utf8) }
        var docs = [
            value,
            text("{\"v\":") + value + text("}"),
            text("{\"a\":1,\"v\":") + value + text("}"),
            text("{\"v\":") + value + text(",\"a\":1}"),
            text("{\"a\":1,\"x\":[1,{\"v\":[") + value + text("]}]}"),
            text("[1,") + value + text("]"),
        ]
        if value.first == UInt8(ascii: "\"") {
            docs.append(text("{\"a\":1,") + value + text(":1}"))
            docs.append(text("{") + value + text(":1,\"a\":1}"))
            docs.append(text("{\"a\":1,\"x\":{") + value + text(":1}}"))
        }
        return docs
    }

    static func violations(_ bytes: [UInt8]) -> [String] {
        [
            contractViolation(Double.self, bytes), contractViolation(String.self, bytes),
            contractViolation(Int.self, bytes), contractViolation(JSONValue.self, bytes),
            contractViolation(Nothing.self, bytes), contractViolation(OnlyA.self, bytes),
            contractViolation(DoubleField.self, bytes), contractViolation([JSONValue].self, bytes),
            contractViolation([String: Int].self, bytes), contractViolation(Summary.self, bytes),
        ].compactMap { $0 }
    }

    @Test func valuesFoundationRejectsAreRejectedReadOrUnread() {
        for value in Self.invalidValues {
            #expect((try? JSONDecoder().decode(JSONValue.self, from: Data(value))) == nil, "\(escaped(value))")
            for doc in Self.documents(with: value) {
                #expect(Self.violations(doc) == [])
            }
        }
    }

    /// `JSONDecoder` allows 512 levels. Types that do not descend keep the test fast: `JSONDecoder` takes
    /// seconds to decode 512 levels of ``JSONValue`` in a debug build.
    @Test func nestingDeeperThanFoundationAllowsIsRejected() {
        for depth in [511, 512, 513, 600, 5_000] {
            let open = [UInt8](repeating: UInt8(ascii: "["), count: depth)
            let close = [UInt8](repeating: UInt8(ascii: "]"), count: depth)
            let array = open + close
            let member = Array("{\"a\":1,\"x\":".utf8) + open + close + [UInt8(ascii: "}")]
            #expect(contractViolation(Nothing.self, array) == nil, "depth \(depth)")
            #expect(contractViolation([Nothing].self, array) == nil, "depth \(depth)")
            #expect(contractViolation(Nothing.self, member) == nil, "depth \(depth)")
            #expect(contractViolation(OnlyA.self, member) == nil, "depth \(depth)")
            // Up to the limit, the fast path is taken.
            #expect((FastJSON.decode(Nothing.self, from: array) != nil) == (depth <= 512), "depth \(depth)")
        }
    }

    @Test func documentsOutsideTheGrammarAreRejected() {
        let texts = [
            "{\"a\":1}x", "{\"a\":1}\u{0}", "{\"a\":1}\u{0C}", "\u{0C}{\"a\":1}", "{\"a\":1,}", "[1,]",
            "{\"a\":1 \"b\":2}", "{\"a\":1,\"x\":tru}", "{\"a\":1,\"x\":nulll}", "{\"a\":1,\"x\":[1 2]}",
            "{\"a\":1,\"x\":{1:2}}", "{\"a\":1,\"x\":}", "{\"a\":1,\"x\"}", "{\"a\" 1}", "", " ", "[", "{", "\"",
            "{\"a\":1", "\u{FEFF}{\"a\":1}", "{\"a\":1,\"a\":2}", "{\"a\":1,\"\\u0061\":2}",
        ]
        let docs = texts.map { Array($0.utf8) } + [[0xEF, 0xBB, 0xBF] + Array("{\"a\":1}".utf8)]
        for doc in docs {
            #expect(Self.violations(doc) == [])
        }
    }

    @Test func validDocumentsWithUnusualUnreadContentStayOnTheFastPath() {
        let docs = [
            #"{"a":1,"x":"\ud83d\ude00 \u00e9 é 😀 \n \/ \u0000"}"#,
            #"{"a":1,"x":1e-400,"y":1e400,"z":-0.0}"#,
            #"{"a":1,"x":{"\ud83d\ude00":["\uDBFF\uDFFF", "\#u{7F}"]}}"#,
        ]
        for doc in docs {
            #expect(FastJSON.decode(OnlyA.self, from: Array(doc.utf8)) == OnlyA(a: 1), "\(doc)")
            #expect(Self.violations(Array(doc.utf8)) == [])
        }
    }
}
