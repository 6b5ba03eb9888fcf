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

/// Any JSON value, reading all of it: every key, string and number of the document.
indirect enum JSONValue: Decodable, Equatable {
    case null
    case bool(Bool)
    /// The bit pattern, so that `-0.0` and `0.0` differ.
    case number(bitPattern: UInt64)
    case string(String)
    case array([JSONValue])
    case object([String: JSONValue])

    init(from decoder: any Decoder) throws {
        let c = try decoder.singleValueContainer()
        if c.decodeNil() {
            self = .null
        } else if let b = try? c.decode(Bool.self) {
            self = .bool(b)
        } else if let d = try? c.decode(Double.self) {
            self = .number(bitPattern: d.bitPattern)
        } else if let s = try? c.decode(String.self) {
            self = .string(s)
        } else if let a = try? c.decode([JSONValue].self) {
            self = .array(a)
        } else {
            self = .object(try c.decode([String: JSONValue].self))
        }
    }
}

/// Reads nothing, so only the document's validity decides whether it decodes.
struct Nothing: Decodable, Equatable {}

/// Reads one member, `a`, and leaves the others unread.
struct OnlyA: Decodable, Equatable {
    var a: Int
}

/// Reads member `v` as a `Double`.
struct DoubleField: Decodable, Equatable {
    var v: Double
}

struct Point: Decodable, Equatable {
    var x: Int
    var y: Double
}

/// The fuzz tests' documents: every shape the decoder handles, with optionals, nested arrays and dictionaries.
struct Record: Decodable, Equatable {
    var id: Int64
    var name: String
    var score: Double
    var ok: Bool
    var small: UInt8
    var tags: [String]
    var counts: [String: Int]
    var points: [Point]
    var note: String?
    var parent: Int?
}

/// Reads two of ``Record``'s members and leaves the rest unread.
struct Summary: Decodable, Equatable {
    var id: Int64
    var points: [Point]
}
