import Foundation
import KappaJSON
import KappaTesting
import Testing

@Suite struct FastJSONTests {
    static let fragments: [String] = [
        "0", "-0", "1", "-1", "255", "256", "-129", "1.0", "1e2", "1E+2", "0.5", "-2.5e-3", "1e400", "01", "9223372036854775807",
        "9223372036854775808", "-9223372036854775808", "true", "false", "null", "\"\"", "\"red\"", "\"green\"", "\"blue\"",
        "\"a\\\"b\"", "\"tab\\t\"", "\"\\u00e9\"", "\"\\ud83d\\ude00\"", "\"é\"", "\"\\x\"", "[]", "[1,2,3]", "[1,\"2\"]",
        "[null]", "{}", "{\"x\":1,\"y\":{}}", "{\"x\":300,\"y\":{}}", "{\"x\":1,\"y\":{\"k\":7}}", "{\"x\":1,\"x\":2,\"y\":{}}",
        "{\"\\u0078\":1,\"y\":{}}", " 7 ", "[1,]", "{\"a\":}", "\"unterminated", "nul", "1 2",
    ]

    static func document(_ rng: inout SeededGenerator, depth: Int = 0) -> String {
        let pick = Int(rng.next() % 10)
        if depth > 2 || pick < 5 { return fragments[Int(rng.next() % UInt64(fragments.count))] }
        if pick < 7 {
            let n = Int(rng.next() % 4)
            return "[" + (0..<n).map { _ in document(&rng, depth: depth + 1) }.joined(separator: ",") + "]"
        }
        let keys = ["n", "s", "d", "b", "list", "nested", "x", "y", "k", "date", "data", "url", "dec", "f"]
        let n = Int(rng.next() % 7)
        let members = (0..<n).map { _ in "\"\(keys[Int(rng.next() % UInt64(keys.count))])\": \(document(&rng, depth: depth + 1))" }
        return "{" + members.joined(separator: ", ") + "}"
    }

    /// Every contract violation of decoding `text` as each of the test types.
    static func violations(_ text: String) -> [String] {
        let bytes = Array(text.utf8)
        return [
            contractViolation(Int.self, bytes), contractViolation(Int8.self, bytes),
            contractViolation(UInt8.self, bytes), contractViolation(Int64.self, bytes),
            contractViolation(UInt64.self, bytes), contractViolation(Double.self, bytes),
            contractViolation(Float.self, bytes), contractViolation(Bool.self, bytes),
            contractViolation(String.self, bytes), contractViolation([Int].self, bytes),
            contractViolation([Int?].self, bytes), contractViolation([String: Int].self, bytes),
            contractViolation(Sample.self, bytes), contractViolation(Inner.self, bytes),
            contractViolation(Color.self, bytes), contractViolation(Loose.self, bytes),
            contractViolation([Loose].self, bytes),
        ].compactMap { $0 }
    }

    @Test(arguments: 0..<30)
    func randomDocumentsDecodeAsFoundationDoes(seed: Int) {
        var rng = SeededGenerator(seed: UInt64(seed) &* 7919)
        for _ in 0..<60 {
            let text = Self.document(&rng)
            #expect(Self.violations(text) == [])
        }
    }

    /// A reader reused across documents answers each as a fresh decode does, whatever came before it
    /// (a give-up, a parse failure, a larger document).
    @Test(arguments: 0..<10)
    func aReusedReaderAnswersAsFreshDecodes(seed: Int) {
        var rng = SeededGenerator(seed: UInt64(seed) &* 104_729)
        let reader = FastJSONReader()
        for _ in 0..<200 {
            let bytes = Array(Self.document(&rng).utf8)
            #expect(reader.decode(Sample.self, from: bytes) == FastJSON.decode(Sample.self, from: bytes))
            #expect(reader.decode([Loose].self, from: bytes) == FastJSON.decode([Loose].self, from: bytes))
            #expect(reader.decode(Int.self, from: bytes) == FastJSON.decode(Int.self, from: bytes))
        }
    }

    /// A type that keeps its decoder keeps what it read: the reader does not parse the next document into it.
    @Test func aDecoderKeptByTheValueIsNotReused() throws {
        final class Keeper: Decodable {
            let decoder: any Decoder
            init(from decoder: any Decoder) throws { self.decoder = decoder }
            var n: Int { get throws { try decoder.container(keyedBy: Key.self).decode(Int.self, forKey: .n) } }
            enum Key: CodingKey { case n }
        }
        let reader = FastJSONReader()
        let first = try #require(reader.decode(Keeper.self, from: Array(#"{"n":1}"#.utf8)))
        let second = try #require(reader.decode(Keeper.self, from: Array(#"{"n":2,"m":[3,4,5]}"#.utf8)))
        #expect(try first.n == 1)
        #expect(try second.n == 2)
    }

    @Test func everyFragmentDecodesAsFoundationDoes() {
        for text in Self.fragments {
            #expect(Self.violations(text) == [])
        }
    }

    /// `JSONDecoder` looks keys up by `String` equality, which is canonical equivalence: the Kelvin sign U+212A is
    /// the key "K", and a decomposed "é" is the precomposed one; of two equal keys the first wins.
    @Test func keysMatchAsFoundationMatchesThem() {
        struct Kelvin: Decodable, Equatable { var K: Int }
        struct Accent: Decodable, Equatable { var é: Int }
        let docs = [
            "{\"\u{212A}\":2,\"K\":1}", "{\"K\":1,\"\u{212A}\":2}", "{\"\u{212A}\":2}",
            "{\"e\u{301}\":2,\"\u{E9}\":1}", "{\"\u{E9}\":1,\"e\u{301}\":2}", "{\"e\u{301}\":2}",
        ]
        for doc in docs {
            let bytes = Array(doc.utf8)
            #expect(contractViolation(Kelvin.self, bytes) == nil)
            #expect(contractViolation(Accent.self, bytes) == nil)
            #expect(contractViolation([String: Int].self, bytes) == nil)
        }
        #expect(FastJSON.decode(Kelvin.self, from: Array("{\"\u{212A}\":2}".utf8)) == Kelvin(K: 2))
        #expect(FastJSON.decode(Accent.self, from: Array("{\"e\u{301}\":2}".utf8)) == Accent(é: 2))
    }

    @Test func fastPathIsTakenForCommonShapesOnly() throws {
        let sample = Sample(n: 3, s: "a", d: 1.5, b: true, list: [1], nested: Inner(x: 1, y: ["k": 2]))
        let bytes = [UInt8](try JSONEncoder().encode(sample))
        #expect(FastJSON.decode(Sample.self, from: bytes) == sample)
        #expect(FastJSON.decode(Int.self, from: Array("1e2".utf8)) == nil)
        #expect(FastJSON.decode(String.self, from: Array("\"\\u00e9\"".utf8)) == nil)
        #expect(FastJSON.decode([String: Int].self, from: Array("{\"a\":1,\"a\":2}".utf8)) == nil)
        let date = [UInt8](try JSONEncoder().encode(Date(timeIntervalSinceReferenceDate: 1)))
        #expect(FastJSON.decode(Date.self, from: date) == nil)
    }
}
