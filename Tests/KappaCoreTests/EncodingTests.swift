import Foundation
import Testing
import KappaTesting
@testable import KappaCore

/// Accepts a number or an array of numbers, so a misattributed element would still decode.
enum Loose: Codable, Sendable, Equatable {
    case one(Int)
    case many([Int])

    init(from decoder: any Decoder) throws {
        let c = try decoder.singleValueContainer()
        if let n = try? c.decode(Int.self) { self = .one(n) } else { self = .many(try c.decode([Int].self)) }
    }

    func encode(to encoder: any Encoder) throws {
        var c = encoder.singleValueContainer()
        switch self {
        case .one(let n): try c.encode(n)
        case .many(let ns): try c.encode(ns)
        }
    }
}

struct Inner: Codable, Equatable, Sendable {
    var x: Int8
    var y: [String: UInt16]
}

struct Sample: Codable, Equatable, Sendable {
    var n: Int
    var s: String?
    var d: Double
    var b: Bool
    var list: [Int]
    var nested: Inner?
}

struct Special: Codable, Equatable, Sendable {
    var date: Date
    var data: Data
    var url: URL
    var dec: Decimal
    var f: Float
}

enum Color: String, Codable, Equatable, Sendable {
    case red, green
}

/// Same answer as Foundation's JSONDecoder: equal values, or both fail.
func agrees<T: Codable & Equatable & Sendable>(_ type: T.Type, _ text: String, sourceLocation: SourceLocation = #_sourceLocation) {
    let bytes = Array(text.utf8)
    let ours = try? ValueEncoding<T>.json.decode(bytes)
    let foundation = try? JSONDecoder().decode(T.self, from: Data(bytes))
    #expect(ours == foundation, "\(T.self) from \(text)", sourceLocation: sourceLocation)
}

@Suite struct ValueEncodingTests {
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

    @Test(arguments: 0..<30)
    func randomDocumentsDecodeAsFoundationDoes(seed: Int) {
        var rng = SeededGenerator(seed: UInt64(seed) &* 7919)
        for _ in 0..<60 {
            let text = Self.document(&rng)
            agrees(Int.self, text)
            agrees(Int8.self, text)
            agrees(UInt8.self, text)
            agrees(Double.self, text)
            agrees(Bool.self, text)
            agrees(String.self, text)
            agrees([Int].self, text)
            agrees([Int?].self, text)
            agrees([String: Int].self, text)
            agrees(Sample.self, text)
            agrees(Inner.self, text)
            agrees(Color.self, text)
            agrees(Loose.self, text)
            agrees([Loose].self, text)
        }
    }

    @Test func everyFragmentDecodesAsFoundationDoes() {
        for text in Self.fragments {
            agrees(Int.self, text)
            agrees(Int64.self, text)
            agrees(UInt64.self, text)
            agrees(Double.self, text)
            agrees(Float.self, text)
            agrees(String.self, text)
            agrees(Inner.self, text)
            agrees(Color.self, text)
            agrees(Loose.self, text)
        }
    }

    @Test func encodedValuesRoundTrip() throws {
        let encoding = ValueEncoding<Sample>.json
        let values = [
            Sample(n: -5, s: "héllo \"quoted\" \\ / \n", d: 0.1, b: true, list: [1, 2, 3], nested: Inner(x: -128, y: ["a": 65535])),
            Sample(n: Int.max, s: nil, d: -1e-300, b: false, list: [], nested: nil),
        ]
        for value in values {
            #expect(try encoding.decode(try encoding.encode(value)) == value)
        }
        let special = Special(date: Date(timeIntervalSinceReferenceDate: 12.5), data: Data([0, 255]),
                              url: URL(string: "https://example.com/a")!, dec: Decimal(string: "1.25")!, f: 0.5)
        let specialEncoding = ValueEncoding<Special>.json
        #expect(try specialEncoding.decode(try specialEncoding.encode(special)) == special)
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

    @Test func undecodableBlocksThrow() {
        #expect(throws: (any Error).self) { try ValueEncoding<Int>.json.decode(Array("x".utf8)) }
        #expect(throws: (any Error).self) { try ValueEncoding<Sample>.json.decode(Array("{}".utf8)) }
    }
}
