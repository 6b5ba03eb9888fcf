public import Foundation
import Synchronization

/// Runs helper executables: to completion, or (for crash tests) until ready and then killed with SIGKILL.
public enum ChildProcess {
    /// The path of an executable built next to the running test binary (same build directory).
    public static func sibling(named name: String) -> String {
        let exe = (try? FileManager.default.destinationOfSymbolicLink(atPath: "/proc/self/exe")) ?? CommandLine.arguments[0]
        return URL(fileURLWithPath: exe).deletingLastPathComponent().appendingPathComponent(name).path
    }

    /// Starts `path` with `arguments`, waits (up to 30 s) until its output contains `marker`, lets it run for
    /// `millis` milliseconds, kills it with SIGKILL and returns everything it printed.
    public static func runAndKill(_ path: String, arguments: [String], readyMarker marker: String, millis: Int) throws -> String {
        let process = Process()
        process.executableURL = URL(fileURLWithPath: path)
        process.arguments = arguments
        let pipe = Pipe()
        process.standardOutput = pipe
        try process.run()
        let start = Date()
        var output = Data()
        while !String(decoding: output, as: UTF8.self).contains(marker), Date().timeIntervalSince(start) < 30 {
            let chunk = pipe.fileHandleForReading.availableData
            if chunk.isEmpty { break }  // the child exited
            output.append(chunk)
        }
        usleep(UInt32(millis * 1000))
        kill(process.processIdentifier, SIGKILL)
        process.waitUntilExit()
        output.append(pipe.fileHandleForReading.readDataToEndOfFile())
        return String(decoding: output, as: UTF8.self)
    }

    /// A process for `path` whose standard output and standard error go to one pipe.
    fileprivate static func makeProcess(_ path: String, arguments: [String], in directory: URL?) -> (Process, Pipe) {
        let process = Process()
        process.executableURL = URL(fileURLWithPath: path)
        process.arguments = arguments
        if let directory { process.currentDirectoryURL = directory }
        let pipe = Pipe()
        process.standardOutput = pipe
        process.standardError = pipe
        return (process, pipe)
    }

    /// Runs `path` with `arguments` (in `directory`, when given) to completion, up to `timeout` seconds and then
    /// SIGKILL; returns its exit status and everything it printed on standard output and standard error.
    public static func run(
        _ path: String, arguments: [String] = [], in directory: URL? = nil, input: Data? = nil, timeout: Double = 120
    ) throws -> (status: Int32, output: String) {
        let (process, pipe) = makeProcess(path, arguments: arguments, in: directory)
        let stdin = Pipe()
        process.standardInput = input == nil ? FileHandle.nullDevice : stdin
        try process.run()
        if let input {
            // Written from another thread, so a child that prints while it reads cannot block on a full pipe.
            let writer = stdin.fileHandleForWriting
            Thread.detachNewThread {
                try? writer.write(contentsOf: input)
                try? writer.close()
            }
        }
        let deadline = Date().addingTimeInterval(timeout)
        var output = Data()
        while true {
            let chunk = pipe.fileHandleForReading.availableData
            if chunk.isEmpty { break }
            output.append(chunk)
            if Date() > deadline {
                kill(process.processIdentifier, SIGKILL)
                break
            }
        }
        process.waitUntilExit()
        return (process.terminationStatus, String(decoding: output, as: UTF8.self))
    }

    /// Starts `path` with `arguments` in the background; its standard output and error are collected.
    public static func start(_ path: String, arguments: [String] = [], in directory: URL? = nil) throws -> Background {
        try Background(path: path, arguments: arguments, directory: directory)
    }

    /// A child process running in the background (a server, for example).
    public final class Background {
        /// Output collected by the pipe's handler thread.
        private final class Collected: Sendable {
            let data = Mutex(Data())
        }

        private let process: Process
        private let collected = Collected()

        fileprivate init(path: String, arguments: [String], directory: URL?) throws {
            let (process, pipe) = ChildProcess.makeProcess(path, arguments: arguments, in: directory)
            process.standardInput = FileHandle.nullDevice
            let collected = self.collected
            pipe.fileHandleForReading.readabilityHandler = { handle in
                let chunk = handle.availableData
                if chunk.isEmpty {
                    handle.readabilityHandler = nil
                } else {
                    collected.data.withLock { $0.append(chunk) }
                }
            }
            try process.run()
            self.process = process
        }

        /// Everything printed so far.
        public var output: String { collected.data.withLock { String(decoding: $0, as: UTF8.self) } }

        /// Waits (polling, up to `timeout` seconds) until a line of output contains `marker`; returns that line.
        public func waitForLine(containing marker: String, timeout: Double = 120) throws -> String {
            let deadline = Date().addingTimeInterval(timeout)
            while Date() < deadline {
                if let line = output.split(separator: "\n").first(where: { $0.contains(marker) }) { return String(line) }
                guard process.isRunning else { break }
                usleep(20_000)
            }
            throw ChildProcessError(message: "no line containing \"\(marker)\" within \(timeout) s; output: \(output)")
        }

        /// Sends `signal` (SIGINT by default) and waits (up to `timeout` seconds, then SIGKILL) until the process
        /// exits; returns its exit status and everything it printed.
        public func stop(signal: Int32 = SIGINT, timeout: Double = 60) -> (status: Int32, output: String) {
            if process.isRunning { kill(process.processIdentifier, signal) }
            let deadline = Date().addingTimeInterval(timeout)
            while process.isRunning, Date() < deadline { usleep(20_000) }
            if process.isRunning {
                kill(process.processIdentifier, SIGKILL)
                process.waitUntilExit()
            }
            usleep(50_000)  // the last output
            return (process.terminationStatus, output)
        }

        deinit {
            if process.isRunning { kill(process.processIdentifier, SIGKILL) }
        }
    }
}

/// A child process did not do what a test waited for.
public struct ChildProcessError: Error, CustomStringConvertible {
    public var message: String
    public var description: String { message }
}
