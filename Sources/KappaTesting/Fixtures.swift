public import Foundation
import Hypercore

/// Copies a directory (for opening fixtures, which opening may write to).
public func copyDirectory(_ source: URL, to destination: URL) throws {
    let fm = FileManager.default
    try fm.createDirectory(at: destination, withIntermediateDirectories: true)
    for name in try fm.contentsOfDirectory(atPath: source.path) {
        let target = destination.appendingPathComponent(name)
        try fm.copyItem(at: source.appendingPathComponent(name), to: target)
        try fm.setAttributes([.posixPermissions: 0o644], ofItemAtPath: target.path)
    }
}

/// Flips one bit of a file at `offset` (for corruption tests).
public func flipBit(in file: URL, at offset: Int, bit: Int = 0) throws {
    var bytes = try [UInt8](Data(contentsOf: file))
    bytes[offset] ^= UInt8(1 << bit)
    try Data(bytes).write(to: file)
}

/// Cuts a file to `size` bytes.
public func truncateFile(_ file: URL, to size: Int) throws {
    let handle = try FileHandle(forWritingTo: file)
    try handle.truncate(atOffset: UInt64(size))
    try handle.close()
}

/// `count` deterministic blocks of `size` bytes: `u32be(i)` followed by a fill byte.
public func patternBlocks(count: Int, size: Int = 64, from start: Int = 0) -> [[UInt8]] {
    (start..<(start + count)).map { i in
        var block = [UInt8(truncatingIfNeeded: i >> 24), UInt8(truncatingIfNeeded: i >> 16),
                     UInt8(truncatingIfNeeded: i >> 8), UInt8(truncatingIfNeeded: i)]
        block.append(contentsOf: repeatElement(UInt8(truncatingIfNeeded: 0x61 + i % 26), count: max(0, size - 4)))
        return Array(block.prefix(size))
    }
}

/// The blocks the crash tests append: block `i` is `patternBlocks` content of varying size `1 + i % 97`.
public func crashBlocks(from start: Int, count: Int) -> [[UInt8]] {
    (start..<(start + count)).map { i in patternBlocks(count: 1, size: 1 + i % 97, from: i)[0] }
}
