import Foundation

/// Accepts a number or an array of numbers, so a misattributed element would still decode.
enum Loose: Decodable, Equatable {
    case one(Int)
    case many([Int])

    init(from decoder: any Decoder) throws {
        let c = try decoder.singleValueContainer()
        if let n = try? c.decode(Int.self) { self = .one(n) } else { self = .many(try c.decode([Int].self)) }
    }
}

struct Inner: Codable, Equatable {
    var x: Int8
    var y: [String: UInt16]
}

struct Sample: Codable, Equatable {
    var n: Int
    var s: String?
    var d: Double
    var b: Bool
    var list: [Int]
    var nested: Inner?
}

enum Color: String, Decodable, Equatable {
    case red, green
}
