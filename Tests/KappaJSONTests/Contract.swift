import Foundation
import KappaJSON

/// How the fast decoder breaks its contract on `bytes`, or `nil` when it keeps it.
///
/// The contract: `FastJSON.decode` returns `nil` (its caller then decodes with `JSONDecoder`) or exactly the
/// value `JSONDecoder` decodes; never a value where `JSONDecoder` throws.
func contractViolation<T: Decodable & Equatable>(_ type: T.Type, _ bytes: [UInt8]) -> String? {
    guard let fast = FastJSON.decode(T.self, from: bytes) else { return nil }
    let foundation: T
    do {
        foundation = try JSONDecoder().decode(T.self, from: Data(bytes))
    } catch {
        return "\(T.self) from \(escaped(bytes)): fast decoder gave \(fast), JSONDecoder threw \(error)"
    }
    guard fast == foundation else {
        return "\(T.self) from \(escaped(bytes)): fast decoder gave \(fast), JSONDecoder gave \(foundation)"
    }
    return nil
}

/// `bytes` as a Swift string literal body: printable ASCII as is, everything else as `\xNN`.
func escaped(_ bytes: [UInt8]) -> String {
    var out = "\""
    for b in bytes {
        switch b {
        case UInt8(ascii: "\""): out += "\\\""
        case UInt8(ascii: "\\"): out += "\\\\"
        case 0x20..<0x7F: out.unicodeScalars.append(Unicode.Scalar(b))
        default: out += "\\x" + (b < 0x10 ? "0" : "") + String(b, radix: 16)
        }
    }
    return out + "\""
}
