import Foundation
import KappaJSON
import KappaTesting
import Testing

/// The fast encoder writes what decodes as `JSONEncoder`'s output decodes — byte for byte where member order
/// cannot differ — or gives up.
@Suite struct FastJSONEncoderTests {
    struct Inner: Codable, Equatable {
        var a: Int8
        var b: UInt64
        var c: Int
        var s: String
        var d: Double
        var f: Float
        var flag: Bool
        var optional: Int?
    }

    enum Shape: Codable, Equatable {
        case circle(radius: Double)
        case square(Int, String)
        case empty
    }

    struct Outer: Codable, Equatable {
        var id: Int64
        var inner: Inner
        var list: [Inner]
        var map: [String: [Int]]
        var numbered: [Int: String]
        var nested: [[String]]
        var shape: Shape
        var maybe: Inner?
        var words: Set<String>
    }

    struct Random {
        var rng: SeededGenerator
        mutating func chance(_ percent: Int) -> Bool { Int.random(in: 0..<100, using: &rng) < percent }
        mutating func count(_ most: Int) -> Int { Int.random(in: 0...most, using: &rng) }

        mutating func string() -> String {
            let pieces = ["a", "kappa", " ", "\"", "\\", "/", "\n", "\t", "\u{0}", "\u{1F}", "\u{7F}", "é", "e\u{301}",
                          "日本", "🦀", "\u{2028}", "\r", "\u{8}", "\u{C}", "{", "}", "[", ":", ","]
            return (0..<count(8)).map { _ in pieces.randomElement(using: &rng)! }.joined()
        }

        mutating func double() -> Double {
            switch Int.random(in: 0..<6, using: &rng) {
            case 0: return Double(Int.random(in: -1_000_000...1_000_000, using: &rng))
            case 1: return Double.random(in: -1...1, using: &rng)
            case 2: return [0.0, -0.0, 0.1, 1e16, 1e21, 1e-7, .leastNonzeroMagnitude, .greatestFiniteMagnitude, .leastNormalMagnitude,
                            -.greatestFiniteMagnitude, 123456789012345680000.0].randomElement(using: &rng)!
            default:
                while true {
                    let d = Double(bitPattern: UInt64.random(in: .min ... .max, using: &rng))
                    if d.isFinite { return d }
                }
            }
        }

        mutating func float() -> Float {
            while true {
                let f = chance(50) ? Float(bitPattern: UInt32.random(in: .min ... .max, using: &rng))
                    : Float(Int.random(in: -1000...1000, using: &rng)) / 8
                if f.isFinite { return f }
            }
        }

        mutating func inner() -> Inner {
            Inner(a: Int8.random(in: .min ... .max, using: &rng), b: chance(20) ? .max : UInt64.random(in: 0...1000, using: &rng),
                  c: chance(20) ? [Int.min, Int.max, 0, -1].randomElement(using: &rng)! : Int.random(in: -99_999...99_999, using: &rng),
                  s: string(), d: double(), f: float(), flag: chance(50), optional: chance(50) ? nil : count(100))
        }

        mutating func outer() -> Outer {
            var map: [String: [Int]] = [:]
            for _ in 0..<count(4) { map[string()] = (0..<count(3)).map { _ in count(1000) - 500 } }
            var numbered: [Int: String] = [:]
            for _ in 0..<count(3) { numbered[count(50) - 25] = string() }
            let shape: Shape = [.circle(radius: double()), .square(count(9), string()), .empty].randomElement(using: &rng)!
            return Outer(id: Int64.random(in: .min ... .max, using: &rng), inner: inner(), list: (0..<count(3)).map { _ in inner() },
                         map: map, numbered: numbered, nested: (0..<count(3)).map { _ in (0..<count(3)).map { _ in string() } },
                         shape: shape, maybe: chance(50) ? inner() : nil, words: Set((0..<count(4)).map { _ in string() }))
        }
    }

    /// Parsed as plain JSON, so documents compare whatever the order of their members.
    static func parsed(_ bytes: [UInt8]) throws -> NSObject {
        try JSONSerialization.jsonObject(with: Data(bytes), options: [.fragmentsAllowed]) as! NSObject
    }

    @Test(arguments: 0..<10)
    func randomValuesDecodeAsFoundationsOutputDoes(seed: Int) throws {
        var random = Random(rng: SeededGenerator(seed: UInt64(seed)))
        for _ in 0..<200 {
            let value = random.outer()
            let fast = try #require(FastJSON.encode(value))
            let foundation = [UInt8](try JSONEncoder().encode(value))
            #expect(try JSONDecoder().decode(Outer.self, from: Data(fast)) == value)
            #expect(try JSONDecoder().decode(Outer.self, from: Data(foundation)) == value)
            #expect(try Self.parsed(fast).isEqual(try Self.parsed(foundation)), "\(String(decoding: fast, as: UTF8.self))")
            // The fast decoder reads it too, to the same value (or leaves it to JSONDecoder).
            if let back = FastJSON.decode(Outer.self, from: fast) { #expect(back == value) }
        }
    }

    /// Where member order cannot differ, the bytes are JSONEncoder's.
    @Test(arguments: 0..<5)
    func scalarsStringsAndArraysAreFoundationsBytes(seed: Int) throws {
        struct One: Codable { var n: Int }
        var random = Random(rng: SeededGenerator(seed: UInt64(seed) + 100))
        for _ in 0..<300 {
            let doubles = (0..<random.count(6)).map { _ in random.double() }
            let floats = (0..<random.count(6)).map { _ in random.float() }
            let strings = (0..<random.count(6)).map { _ in random.string() }
            let integers: [Int64] = (0..<random.count(6)).map { _ in Int64.random(in: .min ... .max, using: &random.rng) }
            let one = One(n: Int.random(in: .min ... .max, using: &random.rng))
            #expect(FastJSON.encode(doubles) == [UInt8](try JSONEncoder().encode(doubles)), "\(doubles)")
            #expect(FastJSON.encode(floats) == [UInt8](try JSONEncoder().encode(floats)), "\(floats)")
            #expect(FastJSON.encode(strings) == [UInt8](try JSONEncoder().encode(strings)), "\(strings)")
            #expect(FastJSON.encode(integers) == [UInt8](try JSONEncoder().encode(integers)))
            #expect(FastJSON.encode(one) == [UInt8](try JSONEncoder().encode(one)))
            #expect(FastJSON.encode([true, false]) == [UInt8](try JSONEncoder().encode([true, false])))
            #expect(FastJSON.encode(Optional<Int>.none) == [UInt8](try JSONEncoder().encode(Optional<Int>.none)))
        }
    }

    struct WithDate: Codable { var at: Date }
    struct WithData: Codable { var bytes: Data }
    struct WithURL: Codable { var url: URL }
    struct WithDecimal: Codable { var amount: Decimal }
    class Base: Codable { var a = 1 }
    final class Derived: Base {
        var b = 2
        override func encode(to encoder: any Encoder) throws {
            var container = encoder.container(keyedBy: CodingKeys.self)
            try container.encode(b, forKey: .b)
            try super.encode(to: container.superEncoder())
        }
        enum CodingKeys: CodingKey { case b }
    }
    struct TwiceTheKey: Encodable {
        enum Keys: CodingKey { case k }
        func encode(to encoder: any Encoder) throws {
            var container = encoder.container(keyedBy: Keys.self)
            try container.encode(1, forKey: .k)
            try container.encode(2, forKey: .k)
        }
    }
    /// Writes `names` as keys in order, each with its position.
    struct Keys: Encodable {
        struct Key: CodingKey {
            var stringValue: String
            var intValue: Int? { nil }
            init(stringValue: String) { self.stringValue = stringValue }
            init?(intValue: Int) { nil }
        }
        var names: [String]
        func encode(to encoder: any Encoder) throws {
            var container = encoder.container(keyedBy: Key.self)
            for (i, name) in names.enumerated() { try container.encode(i, forKey: Key(stringValue: name)) }
        }
    }
    struct Nothing: Encodable {
        func encode(to encoder: any Encoder) throws {}
    }
    /// Catches the give-up of a member it cannot write and goes on.
    struct Swallowing: Encodable {
        enum Keys: CodingKey { case bad, good }
        func encode(to encoder: any Encoder) throws {
            var container = encoder.container(keyedBy: Keys.self)
            try? container.encode(Double.infinity, forKey: .bad)
            try container.encode(1, forKey: .good)
        }
    }
    struct Failing: Error {}
    /// Writes a member, opens a container or writes nothing, then throws.
    struct Throwing: Encodable {
        enum Keys: CodingKey { case x }
        var writeFirst: Bool
        func encode(to encoder: any Encoder) throws {
            if writeFirst {
                var container = encoder.container(keyedBy: Keys.self)
                try container.encode(1, forKey: .x)
            }
            throw Failing()
        }
    }
    /// Catches the error of a member that throws, in a keyed, an unkeyed and a single-value container.
    struct CatchingMemberErrors: Encodable {
        enum Keys: CodingKey { case a, b, list }
        var writeFirst: Bool
        func encode(to encoder: any Encoder) throws {
            var container = encoder.container(keyedBy: Keys.self)
            try? container.encode(Throwing(writeFirst: writeFirst), forKey: .a)
            try container.encode(1, forKey: .b)
            var list = container.nestedUnkeyedContainer(forKey: .list)
            try list.encode(1)
            try? list.encode(Throwing(writeFirst: writeFirst))
            try list.encode(2)
        }
    }
    struct CatchingSingleValue: Encodable {
        func encode(to encoder: any Encoder) throws {
            var single = encoder.singleValueContainer()
            try? single.encode(Throwing(writeFirst: true))
            try single.encode("s")
        }
    }
    /// Catches the refusal of a 128-bit integer (JSONEncoder writes it).
    struct CatchingWide: Encodable {
        enum Keys: CodingKey { case wide, n }
        func encode(to encoder: any Encoder) throws {
            var container = encoder.container(keyedBy: Keys.self)
            try? container.encode(Int128(1) << 100, forKey: .wide)
            try container.encode(1, forKey: .n)
        }
    }
    /// Writes to a nested container after its parent moved on.
    struct LateNested: Encodable {
        enum Keys: CodingKey { case first, second }
        func encode(to encoder: any Encoder) throws {
            var container = encoder.container(keyedBy: Keys.self)
            var first = container.nestedUnkeyedContainer(forKey: .first)
            try first.encode(1)
            try container.encode(2, forKey: .second)
            try first.encode(3)
        }
    }
    /// Asks for its keyed container twice: one object, as with JSONEncoder.
    struct TwoAsks: Codable, Equatable {
        var x = 1
        var y = "two"
        enum CodingKeys: CodingKey { case x, y }
        init() {}
        init(from decoder: any Decoder) throws {
            let c = try decoder.container(keyedBy: CodingKeys.self)
            x = try c.decode(Int.self, forKey: .x)
            y = try c.decode(String.self, forKey: .y)
        }
        func encode(to encoder: any Encoder) throws {
            var one = encoder.container(keyedBy: CodingKeys.self)
            try one.encode(x, forKey: .x)
            var two = encoder.container(keyedBy: CodingKeys.self)
            try two.encode(y, forKey: .y)
        }
    }

    @Test func givesUpWhereFoundationDiffersOrItCannotStream() throws {
        #expect(FastJSON.encode(WithDate(at: Date(timeIntervalSince1970: 1))) == nil)
        #expect(FastJSON.encode(WithData(bytes: Data([1, 2]))) == nil)
        #expect(FastJSON.encode(WithURL(url: URL(string: "https://example.com/a")!)) == nil)
        #expect(FastJSON.encode(WithDecimal(amount: Decimal(string: "1.5")!)) == nil)
        #expect(FastJSON.encode([Double.nan]) == nil)
        #expect(FastJSON.encode(Float.infinity) == nil)
        #expect(FastJSON.encode(Derived()) == nil)
        #expect(FastJSON.encode(TwiceTheKey()) == nil)
        let twenty = (0..<20).map { "k\($0)" }
        for names in [["a", "b", "b"], ["a", "b", "a"], twenty + ["k0"], twenty + ["k10"], twenty + ["k19"]] {
            #expect(FastJSON.encode(Keys(names: names)) == nil, "\(names)")
        }
        let distinct = try #require(FastJSON.encode(Keys(names: twenty)))
        #expect(try Self.parsed(distinct).isEqual(try Self.parsed([UInt8](try JSONEncoder().encode(Keys(names: twenty))))))
        #expect(FastJSON.encode(Nothing()) == nil)
        #expect(FastJSON.encode(Swallowing()) == nil)
        #expect(FastJSON.encode(LateNested()) == nil)
        // A member's own error that the type catches: JSONEncoder leaves the member out; the fast encoder gives up
        // rather than leave a key, a separator or a container behind.
        #expect(FastJSON.encode(CatchingMemberErrors(writeFirst: false)) == nil)
        #expect(FastJSON.encode(CatchingMemberErrors(writeFirst: true)) == nil)
        #expect(FastJSON.encode(CatchingSingleValue()) == nil)
        #expect(FastJSON.encode(CatchingWide()) == nil)
        #expect(FastJSON.encode([UInt128(5)]) == nil)
        // A keyed container asked for twice continues one object.
        let twice = try #require(FastJSON.encode(TwoAsks()))
        #expect(try JSONDecoder().decode(TwoAsks.self, from: Data(twice)) == TwoAsks())
        #expect(try Self.parsed(twice).isEqual(try Self.parsed([UInt8](try JSONEncoder().encode(TwoAsks())))))
    }

    /// Keeps the encoder and a container it was given, for a later value to write through.
    final class Kept: @unchecked Sendable {  // test-only, used on one thread
        var encoder: (any Encoder)?
        var container: KeyedEncodingContainer<Keeper.Keys>?
    }
    struct Keeper: Encodable {
        enum Keys: CodingKey { case a, b }
        let kept: Kept
        func encode(to encoder: any Encoder) throws {
            var container = encoder.container(keyedBy: Keys.self)
            try container.encode(1, forKey: .a)
            kept.encoder = encoder
            kept.container = container
        }
    }
    /// Writes one member itself, then one through what an earlier value kept.
    struct LateWriter: Encodable {
        enum Keys: CodingKey { case x }
        let kept: Kept
        let throughEncoder: Bool
        func encode(to encoder: any Encoder) throws {
            var container = encoder.container(keyedBy: Keys.self)
            try container.encode(2, forKey: .x)
            if throughEncoder {
                var stale = kept.encoder!.container(keyedBy: Keeper.Keys.self)
                try stale.encode(3, forKey: .b)
            } else {
                try kept.container!.encode(3, forKey: .b)
            }
        }
    }

    /// One writer reused for many values (as a batch append does) writes what a fresh writer writes for each,
    /// give-ups in between included.
    @Test(arguments: 0..<3)
    func aReusedWriterWritesWhatFreshOnesWrite(seed: Int) throws {
        var random = Random(rng: SeededGenerator(seed: UInt64(seed) + 200))
        let writer = FastJSONWriter()
        for i in 0..<300 {
            switch i % 5 {
            case 0: #expect(writer.encode(TwiceTheKey()) == nil)
            case 1: #expect(writer.encode(LateNested()) == nil)
            case 2: #expect(writer.encode(CatchingMemberErrors(writeFirst: true)) == nil)
            default:
                let value = random.outer()
                let reused = try #require(writer.encode(value))
                #expect(reused == FastJSON.encode(value))
                #expect(try JSONDecoder().decode(Outer.self, from: Data(reused)) == value)
            }
        }
    }

    /// Each document is its own exact-size array: a small value after a large one does not keep the writer's
    /// large buffer (blocks of a batch are all held until the batch is appended).
    @Test func aReusedWriterReturnsExactSizeBlocks() throws {
        struct Text: Codable { var text: String }
        let writer = FastJSONWriter()
        let large = try #require(writer.encode(Text(text: String(repeating: "x", count: 1_000_000))))
        #expect(large.count == 1_000_011)
        let small = try #require(writer.encode(Text(text: "y")))
        #expect(small == Array(#"{"text":"y"}"#.utf8))
        #expect(small.capacity < 1_000)
    }

    /// An encoder or container kept past its value's end writes nothing into a later document: that value's
    /// encoding gives up, and the writer goes on.
    @Test func aKeptEncoderOrContainerCannotWriteIntoALaterValue() throws {
        for throughEncoder in [true, false] {
            let kept = Kept()
            let writer = FastJSONWriter()
            let first = try #require(writer.encode(Keeper(kept: kept)))
            #expect(String(decoding: first, as: UTF8.self) == #"{"a":1}"#)
            #expect(writer.encode(LateWriter(kept: kept, throughEncoder: throughEncoder)) == nil)
            let after = try #require(writer.encode(TwoAsks()))
            #expect(try JSONDecoder().decode(TwoAsks.self, from: Data(after)) == TwoAsks())
        }
    }
}
