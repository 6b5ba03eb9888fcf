import Foundation

/// Writing to the terminal or a pipe: whole lines, flushed, so a reader (a script, a test) sees each at once.
enum Output {
    /// True when standard output is a terminal (progress is drawn in place then).
    static var isTerminal: Bool { isatty(STDOUT_FILENO) == 1 }

    /// Writes `text` and a newline to standard output.
    static func line(_ text: String) {
        write(text + "\n", to: STDOUT_FILENO)
    }

    /// Writes `text` without a newline to standard output (a progress line redrawn with `\r`).
    static func partial(_ text: String) {
        write(text, to: STDOUT_FILENO)
    }

    /// Writes `text` and a newline to standard error.
    static func error(_ text: String) {
        write(text + "\n", to: STDERR_FILENO)
    }

    /// Writes all of `text` (unbuffered: nothing waits in a buffer when the process ends or is killed). A closed
    /// pipe (a reader that went away) ends the writing silently.
    private static func write(_ text: String, to descriptor: Int32) {
        var bytes = Array(text.utf8)[...]
        while !bytes.isEmpty {
            let written = bytes.withUnsafeBytes { Foundation.write(descriptor, $0.baseAddress, $0.count) }
            if written < 0 {
                if errno == EINTR { continue }
                return
            }
            bytes = bytes.dropFirst(written)
        }
    }
}

/// Formats byte counts and durations for people.
enum Format {
    static func bytes(_ count: Double) -> String {
        let units = ["B", "kB", "MB", "GB", "TB"]
        var value = count
        var unit = 0
        while value >= 1000, unit < units.count - 1 {
            value /= 1000
            unit += 1
        }
        return unit == 0 ? "\(Int(value)) B" : String(format: "%.1f %@", value, units[unit])
    }

    static func bytes(_ count: Int) -> String { bytes(Double(count)) }
    static func bytes(_ count: UInt64) -> String { bytes(Double(count)) }

    static func seconds(_ value: Double) -> String {
        guard value.isFinite, value >= 0 else { return "--:--" }
        let total = Int(value.rounded())
        return total >= 3600
            ? String(format: "%d:%02d:%02d", total / 3600, total / 60 % 60, total % 60)
            : String(format: "%d:%02d", total / 60, total % 60)
    }

    /// A string as a JSON string literal.
    static func jsonString(_ text: String) -> String {
        var out = "\""
        for scalar in text.unicodeScalars {
            switch scalar {
            case "\"": out += "\\\""
            case "\\": out += "\\\\"
            case "\n": out += "\\n"
            case "\r": out += "\\r"
            case "\t": out += "\\t"
            case _ where scalar.value < 0x20: out += String(format: "\\u%04x", scalar.value)
            default: out.unicodeScalars.append(scalar)
            }
        }
        return out + "\""
    }
}
