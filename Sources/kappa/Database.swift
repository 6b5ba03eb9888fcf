import ArgumentParser
import Foundation
import Hypercore
import KappaCore

/// The database directory argument and how commands open it.
struct DatabaseOptions: ParsableArguments {
    @Argument(help: "The database directory.")
    var directory: String

    /// Opens the database for `body` and closes it however `body` ends.
    func with<R: Sendable>(
        durability: Durability = .durable, isolation: isolated (any Actor)? = #isolation,
        _ body: (Kappa<[UInt8]>) async throws -> R
    ) async throws -> R {
        try await with(encoding: .binary, durability: durability, body)
    }

    /// Opens the database with values of another type (the same blocks, seen through `encoding`) for `body`.
    func with<Value: Sendable, R: Sendable>(
        encoding: ValueEncoding<Value>, durability: Durability = .durable, isolation: isolated (any Actor)? = #isolation,
        _ body: (Kappa<Value>) async throws -> R
    ) async throws -> R {
        try Self.requireDatabase(at: directory)
        return try await Kappa<Value>.withCore(at: directory, encoding: encoding, options: KappaOptions(durability: durability), body)
    }

    /// True when `path` holds a database (its store).
    static func isDatabase(_ path: String) -> Bool {
        FileManager.default.fileExists(atPath: URL(fileURLWithPath: path).appendingPathComponent("views.sqlite").path)
    }

    static func requireDatabase(at path: String) throws {
        guard !path.isEmpty, isDatabase(path) else {
            throw ToolError(ToolError.noInput, "no database at \(path) (create one with `kappa init \(path)`)")
        }
    }
}

/// Waits until the process gets SIGINT or SIGTERM, then cancels `task`; returns what it returned or threw.
func runInterruptible<T: Sendable>(_ body: @escaping @Sendable () async throws -> T) async throws -> T {
    let task = Task { try await body() }
    let sources = [SIGINT, SIGTERM].map { number -> any DispatchSourceSignal in
        signal(number, SIG_IGN)
        let source = DispatchSource.makeSignalSource(signal: number, queue: .global())
        source.setEventHandler { task.cancel() }
        source.resume()
        return source
    }
    defer {
        for source in sources { source.cancel() }
    }
    return try await withTaskCancellationHandler {
        try await task.value
    } onCancel: {
        task.cancel()
    }
}
