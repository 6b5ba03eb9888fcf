import ArgumentParser
import Foundation
import Hypercore
import KappaJSON

/// How the tool reads and prints entry values. The database stores blocks; this says what is in them.
enum ValueFormat: String, EnumerableFlag {
    /// One JSON value per entry (the default, as `Kappa<Value>` with the `.json` encoding writes them).
    case json
    /// UTF-8 text.
    case utf8
    /// Raw bytes, written and printed as hex.
    case binary

    static func name(for value: ValueFormat) -> NameSpecification {
        value == .json ? .customLong("json-values") : .customLong(value.rawValue)
    }

    static func help(for value: ValueFormat) -> ArgumentHelp? {
        switch value {
        case .json: "Values are JSON (the default)."
        case .utf8: "Values are UTF-8 text."
        case .binary: "Values are bytes, given and printed as hex."
        }
    }

    /// The block for one input value; `what` names it in errors ("line 12", "the value").
    func block(_ text: Substring, what: String) throws -> [UInt8] {
        try block(Array(text.utf8)[...], what: what)
    }

    /// The block for one input value given as bytes (a line of input, without its newline).
    func block(_ input: ArraySlice<UInt8>, what: String) throws -> [UInt8] {
        switch self {
        case .json:
            let bytes = Array(Self.trimmed(input))
            guard FastJSON.isValid(bytes)
                || (try? JSONSerialization.jsonObject(with: Data(bytes), options: [.fragmentsAllowed])) != nil else {
                throw ToolError(ToolError.dataError, "\(what) is not a JSON value: \(String(decoding: bytes.prefix(80), as: UTF8.self))")
            }
            return bytes
        case .utf8:
            guard String(validating: input, as: UTF8.self) != nil else {
                throw ToolError(ToolError.dataError, "\(what) is not UTF-8 text")
            }
            return Array(input)
        case .binary:
            guard let bytes = Hex.decode(String(decoding: Self.trimmed(input), as: UTF8.self)) else {
                throw ToolError(ToolError.dataError, "\(what) is not hex")
            }
            return bytes
        }
    }

    /// `bytes` without ASCII spaces and tabs at either end.
    static func trimmed(_ bytes: ArraySlice<UInt8>) -> ArraySlice<UInt8> {
        var slice = bytes
        while let first = slice.first, first == 0x20 || first == 0x09 { slice.removeFirst() }
        while let last = slice.last, last == 0x20 || last == 0x09 { slice.removeLast() }
        return slice
    }

    /// True when `bytes` holds only spaces and tabs.
    static func isBlank(_ bytes: ArraySlice<UInt8>) -> Bool {
        bytes.allSatisfy { $0 == 0x20 || $0 == 0x09 }
    }

    /// True when input lines that are blank carry no value (JSON and hex); UTF-8 text keeps empty lines.
    var skipsBlankLines: Bool { self != .utf8 }

    /// The value as text on one line.
    func text(_ block: [UInt8]) -> String {
        switch self {
        case .json:
            return String(decoding: block, as: UTF8.self)
        case .utf8:
            return String(decoding: block, as: UTF8.self)
                .replacingOccurrences(of: "\\", with: "\\\\").replacingOccurrences(of: "\n", with: "\\n")
        case .binary:
            return Hex.encode(block)
        }
    }

    /// The value as a JSON value: JSON as it is (a string when it is not JSON), text as a string, bytes as a hex
    /// string.
    func json(_ block: [UInt8]) -> String {
        switch self {
        case .json:
            if FastJSON.isValid(block) || (try? JSONSerialization.jsonObject(with: Data(block), options: [.fragmentsAllowed])) != nil {
                return String(decoding: block, as: UTF8.self)
            }
            return Format.jsonString(String(decoding: block, as: UTF8.self))
        case .utf8:
            return Format.jsonString(String(decoding: block, as: UTF8.self))
        case .binary:
            return "\"" + Hex.encode(block) + "\""
        }
    }
}
