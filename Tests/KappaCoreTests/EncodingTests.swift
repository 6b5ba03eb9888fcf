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
}
