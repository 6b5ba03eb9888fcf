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

@Suite struct ValueEncodingTests {
    static let blocks: [String] = [
        "1", "1,2", "[3", "4]", "\"a", "b\"", "", "}", "{\"n\":1}", " 5 ", "\"x,y\"", "\"\\\"]\"", "[1,2]", "7 8", "[", "]",
    ]

    @Test func shapeCheck() {
        #expect(JSONShape.isSingleValue(Array("[1,2]".utf8)))
        #expect(JSONShape.isSingleValue(Array("\"x,y\"".utf8)))
        #expect(JSONShape.isSingleValue(Array("\"\\\"]\"".utf8)))
        #expect(!JSONShape.isSingleValue(Array("1,2".utf8)))
        #expect(!JSONShape.isSingleValue(Array("[3".utf8)))
        #expect(!JSONShape.isSingleValue(Array("4]".utf8)))
        #expect(!JSONShape.isSingleValue(Array("\"a".utf8)))
        #expect(!JSONShape.isSingleValue([]))
        #expect(!JSONShape.isSingleValue(Array("}".utf8)))
    }

    /// Whatever mix of blocks, batch decoding gives exactly what decoding each block alone gives.
    @Test(arguments: 0..<40)
    func batchDecodingEqualsSingleDecoding(seed: Int) {
        var rng = SeededGenerator(seed: UInt64(seed))
        let picks = (0..<(2 + seed % 7)).map { _ in Self.blocks[Int(rng.next() % UInt64(Self.blocks.count))] }
        let blocks = picks.map { Array($0.utf8) }
        let encoding = ValueEncoding<Loose>.json
        let batch = encoding.decodeAll(blocks) { _, _ in }
        let single = blocks.map { try? encoding.decode($0) }
        #expect(batch == single, "\(picks)")
    }

    @Test func validBatchDecodes() throws {
        let encoding = ValueEncoding<Int>.json
        let blocks = try (0..<50).map { try encoding.encode($0) }
        #expect(encoding.decodeAll(blocks) { _, _ in Issue.record("undecodable") } == Array(0..<50))
    }
}
