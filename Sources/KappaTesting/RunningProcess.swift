public import Foundation
import Synchronization

/// A child process running alongside a test (an interop peer, say): its standard output read line by line as
/// it arrives, its standard error collected, its exit awaited with a time limit so that a hung child fails the
/// test instead of hanging it.
///
/// Waiting polls every few milliseconds on the calling task and never blocks the cooperative pool; pipes are
/// read on dispatch queues. The child is killed (SIGKILL) when a wait times out and when this object is
/// released while the child still runs.
public final class RunningProcess: Sendable {
    /// What went wrong while waiting on the child.
    public struct Failure: Error, CustomStringConvertible {
        /// A description, with the child's standard error.
        public var description: String
    }

    private let process: Process
    private struct Output {
        var stdout: [UInt8] = []
        var stderr: [UInt8] = []
        var stdoutClosed = false
        var stderrClosed = false
    }
    /// Shared with the pipe readers (which must not keep `self` alive: its deinit kills the child).
    private final class Buffer: Sendable {
        let state = Mutex(Output())
    }
    private let buffer = Buffer()

    /// Starts `executable` with `arguments`.
    /// - Throws: what `Process.run()` throws when the executable cannot be started.
    public init(_ executable: String, arguments: [String], in directory: URL? = nil) throws {
        let process = Process()
        process.executableURL = URL(fileURLWithPath: executable)
        process.arguments = arguments
        if let directory { process.currentDirectoryURL = directory }
        let stdout = Pipe()
        let stderr = Pipe()
        process.standardOutput = stdout
        process.standardError = stderr
        process.standardInput = FileHandle.nullDevice
        self.process = process
        try process.run()
        drain(stdout.fileHandleForReading, isStandardOutput: true)
        drain(stderr.fileHandleForReading, isStandardOutput: false)
    }

    private func drain(_ handle: FileHandle, isStandardOutput: Bool) {
        DispatchQueue.global().async { [buffer] in
            while true {
                let chunk = [UInt8](handle.availableData)
                buffer.state.withLock { output in
                    if isStandardOutput {
                        output.stdout += chunk
                        if chunk.isEmpty { output.stdoutClosed = true }
                    } else {
                        output.stderr += chunk
                        if chunk.isEmpty { output.stderrClosed = true }
                    }
                }
                if chunk.isEmpty { return }
            }
        }
    }

    /// The process id.
    public var processIdentifier: Int32 { process.processIdentifier }

    /// Everything the child wrote to standard error so far.
    public var standardError: String {
        String(decoding: buffer.state.withLock { $0.stderr }, as: UTF8.self)
    }

    /// The next line the child writes to standard output (without its newline).
    /// - Throws: ``Failure`` when standard output closes first or no line arrives within `timeout`.
    public func nextLine(timeout: Duration = .seconds(30)) async throws -> String {
        let deadline = ContinuousClock.now + timeout
        while true {
            let (line, closed): (String?, Bool) = buffer.state.withLock { output in
                guard let newline = output.stdout.firstIndex(of: UInt8(ascii: "\n")) else {
                    return (nil, output.stdoutClosed)
                }
                let line = String(decoding: output.stdout[..<newline], as: UTF8.self)
                output.stdout.removeSubrange(...newline)
                return (line, false)
            }
            if let line { return line }
            if closed { throw Failure(description: "standard output closed before a line; stderr: \(standardError)") }
            if ContinuousClock.now >= deadline {
                kill()
                throw Failure(description: "no line on standard output within \(timeout); stderr: \(standardError)")
            }
            try await Task.sleep(for: .milliseconds(5))
        }
    }

    /// Waits for the child to exit; returns its exit status.
    /// - Throws: ``Failure`` (after killing the child) when it runs longer than `timeout`.
    public func waitForExit(timeout: Duration = .seconds(30)) async throws -> Int32 {
        let deadline = ContinuousClock.now + timeout
        while process.isRunning {
            if ContinuousClock.now >= deadline {
                kill()
                throw Failure(description: "the child did not exit within \(timeout); stderr: \(standardError)")
            }
            try await Task.sleep(for: .milliseconds(5))
        }
        // Let the pipe readers catch the last bytes.
        let end = ContinuousClock.now + .seconds(2)
        while !buffer.state.withLock({ $0.stdoutClosed && $0.stderrClosed }), ContinuousClock.now < end {
            try await Task.sleep(for: .milliseconds(2))
        }
        return process.terminationStatus
    }

    /// Kills the child with SIGKILL if it still runs.
    public func kill() {
        if process.isRunning { Foundation.kill(process.processIdentifier, SIGKILL) }
    }

    deinit {
        kill()
    }
}
