public import Foundation

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

    /// Runs `path` with `arguments` (in `directory`, when given) to completion, up to `timeout` seconds and then
    /// SIGKILL; returns its exit status and everything it printed on standard output and standard error.
    public static func run(
        _ path: String, arguments: [String] = [], in directory: URL? = nil, timeout: Double = 120
    ) throws -> (status: Int32, output: String) {
        let process = Process()
        process.executableURL = URL(fileURLWithPath: path)
        process.arguments = arguments
        if let directory { process.currentDirectoryURL = directory }
        let pipe = Pipe()
        process.standardOutput = pipe
        process.standardError = pipe
        try process.run()
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
}
