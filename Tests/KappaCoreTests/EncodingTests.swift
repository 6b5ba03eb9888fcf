import Foundation
import Testing
import KappaCore

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

@Suite struct ValueEncodingTests {
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

    @Test func undecodableBlocksThrow() {
        #expect(throws: (any Error).self) { try ValueEncoding<Int>.json.decode(Array("x".utf8)) }
        #expect(throws: (any Error).self) { try ValueEncoding<Sample>.json.decode(Array("{}".utf8)) }
    }

    /// Blocks `JSONDecoder` rejects throw (and are reported and skipped), though the fast decoder could read them.
    @Test func blocksFoundationRejectsThrow() {
        let sample = #"{"n":1,"d":1.5,"b":true,"list":[]"#
        let blocks: [[UInt8]] = [
            Array(#"{"n":1,"d":1e-400,"b":true,"list":[]}"#.utf8),  // underflows to 0
            Array((sample + #","x\x":0}"#).utf8),  // invalid escape in an unread member's key
            Array((sample + #","\ud800":0}"#).utf8),  // lone surrogate in a key
            Array((sample + #","x":"\u12"}"#).utf8),  // short \u escape in an unread member
            Array((sample + #",""#).utf8) + [0xFF] + Array(#"":0}"#.utf8),  // invalid UTF-8 in a key
        ]
        for block in blocks {
            #expect(throws: (any Error).self) { try ValueEncoding<Sample>.json.decode(block) }
        }
        #expect(throws: (any Error).self) { try ValueEncoding<Double>.json.decode(Array("1e-400".utf8)) }
    }
}
