public import Foundation

/// A temporary directory for a test, removed when ``withTemporaryDirectory(_:)`` returns.
public enum TemporaryDirectory {
    /// Creates a fresh directory under the system's temporary directory.
    public static func make(prefix: String = "kappa-test") throws -> URL {
        let url = FileManager.default.temporaryDirectory
            .appendingPathComponent("\(prefix)-\(UUID().uuidString)", isDirectory: true)
        try FileManager.default.createDirectory(at: url, withIntermediateDirectories: true)
        return url
    }
}

/// Runs `body` with a fresh temporary directory and removes it afterwards, whatever `body` does.
public func withTemporaryDirectory<R>(
    prefix: String = "kappa-test",
    _ body: (URL) async throws -> R
) async throws -> R {
    let url = try TemporaryDirectory.make(prefix: prefix)
    defer { try? FileManager.default.removeItem(at: url) }
    return try await body(url)
}
