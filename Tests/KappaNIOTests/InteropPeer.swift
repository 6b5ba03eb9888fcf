import Foundation
import Hypercore

/// The shared hypercore-10 wire peer (`Tests/Interop/hc10-wire/peer.py`, Python + libsodium, checked against
/// JavaScript hypercore 10.38.2) as a child process: the other side of the interop tests.
final class InteropPeer: @unchecked Sendable {
    // @unchecked: `process` and the pipes are set up in `init` and only read afterwards; Foundation's
    // `Process` and `FileHandle` are thread-safe for these uses.
    let process: Process
    private let stdout: FileHandle
    private let stderrPipe: Pipe

    static var script: String {
        URL(fileURLWithPath: #filePath).deletingLastPathComponent().deletingLastPathComponent()
            .appendingPathComponent("Interop/hc10-wire/peer.py").path
    }

    /// Starts `python3 peer.py <arguments>`.
    init(_ arguments: [String]) throws {
        process = Process()
        process.executableURL = URL(fileURLWithPath: "/usr/bin/env")
        // A patient peer: a starved test machine must not turn a slow exchange into a timeout.
        process.arguments = ["python3", Self.script] + arguments + ["--timeout", "150"]
        let out = Pipe()
        stderrPipe = Pipe()
        process.standardOutput = out
        process.standardError = stderrPipe
        stdout = out.fileHandleForReading
        try process.run()
    }

    /// Reads the next JSON line from the peer's stdout (blocking, on a background thread), within `timeout`.
    func nextLine(timeout: Duration = .seconds(180)) async throws -> [String: Any] {
        let handle = stdout
        let line: String? = try await withThrowingTaskGroup(of: String?.self) { group in
            group.addTask {
                await withCheckedContinuation { continuation in
                    DispatchQueue.global().async {
                        var bytes: [UInt8] = []
                        while true {
                            let chunk = handle.readData(ofLength: 1)
                            if chunk.isEmpty { continuation.resume(returning: bytes.isEmpty ? nil : String(decoding: bytes, as: UTF8.self)); return }
                            if chunk[0] == 0x0A { continuation.resume(returning: String(decoding: bytes, as: UTF8.self)); return }
                            bytes.append(chunk[0])
                        }
                    }
                }
            }
            group.addTask {
                try await Task.sleep(for: timeout)
                throw InteropError("no line from peer.py within \(timeout)")
            }
            let first = try await group.next() ?? nil
            group.cancelAll()
            return first
        }
        guard let line, let object = try JSONSerialization.jsonObject(with: Data(line.utf8)) as? [String: Any] else {
            throw InteropError("peer.py printed no JSON line: \(line ?? "<eof>"); stderr: \(stderrText())")
        }
        return object
    }

    /// Waits for the peer to exit (killing it after `timeout`); returns its exit status.
    func wait(timeout: Duration = .seconds(180)) async -> Int32 {
        let deadline = ContinuousClock.now + timeout
        while process.isRunning, ContinuousClock.now < deadline {
            try? await Task.sleep(for: .milliseconds(20))
        }
        if process.isRunning { process.terminate(); process.waitUntilExit() }
        return process.terminationStatus
    }

    func stderrText() -> String {
        if process.isRunning { return "" }
        return String(decoding: stderrPipe.fileHandleForReading.readDataToEndOfFile(), as: UTF8.self)
    }

    deinit {
        if process.isRunning { process.terminate() }
    }
}

struct InteropError: Error, CustomStringConvertible {
    let description: String
    init(_ description: String) { self.description = description }
}

/// Block `i` of the peer's default content: `u32be(i)` then `size − 4` bytes of the letter `0x61 + (i mod 26)`.
func peerBlock(_ i: Int, size: Int = 64) -> [UInt8] {
    var block: [UInt8] = [UInt8(truncatingIfNeeded: i >> 24), UInt8(truncatingIfNeeded: i >> 16),
                          UInt8(truncatingIfNeeded: i >> 8), UInt8(truncatingIfNeeded: i)]
    block += [UInt8](repeating: 0x61 + UInt8(i % 26), count: max(0, size - 4))
    return Array(block.prefix(size))
}
