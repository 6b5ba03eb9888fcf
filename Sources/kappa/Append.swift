import ArgumentParser
import Foundation
import Hypercore
import KappaCore

/// `kappa append DIR --writer NAME [VALUE | -]`
struct Append: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        abstract: "Append one value, or one per line of standard input, to a local writer.",
        discussion: "Input is validated a batch at a time; a bad line stops the command with exit 65 and says how many entries were appended before it."
    )

    @OptionGroup var database: DatabaseOptions

    @Option(help: "The local writer to append to (created on first use).")
    var writer: String

    @Flag var format: ValueFormat = .json

    @Option(name: .customLong("batch"), help: "Entries appended (and made durable) together when reading standard input.")
    var batchSize = 10_000

    @Argument(help: "The value; `-` or nothing reads one value per line from standard input.")
    var value: String?

    func run() async throws {
        try await runTool {
            guard batchSize > 0 else { throw ToolError(ToolError.usage, "--batch must be positive") }
            try await database.with { core in
                let writer = try await core.writer(self.writer)
                if let value, value != "-" {
                    let seq = try await writer.append(try format.block(value[...], what: "the value"))
                    Output.error("appended 1 entry to \(self.writer) (seq \(seq))")
                    return
                }
                let appended = try await appendLines(to: writer)
                Output.error("appended \(appended) entries to \(self.writer)")
            }
        }
    }

    /// Reads standard input a chunk at a time and appends its lines in batches.
    private func appendLines(to writer: KappaWriter<[UInt8]>) async throws -> Int {
        let input = FileHandle.standardInput
        var pending = [UInt8]()
        var batch: [[UInt8]] = []
        batch.reserveCapacity(batchSize)
        var lineNumber = 0
        var appended = 0
        func flush() async throws {
            guard !batch.isEmpty else { return }
            _ = try await writer.append(contentsOf: batch)
            appended += batch.count
            batch.removeAll(keepingCapacity: true)
        }
        func take(_ line: ArraySlice<UInt8>) async throws {
            lineNumber += 1
            var line = line
            if line.last == UInt8(ascii: "\r") { line = line.dropLast() }
            if format.skipsBlankLines, ValueFormat.isBlank(line) { return }
            do {
                batch.append(try format.block(line, what: "line \(lineNumber)"))
            } catch let error as ToolError {
                try await flush()  // the good lines before it
                throw ToolError(error.code, "\(error.message) (\(appended) entries appended before it)")
            }
            if batch.count >= batchSize { try await flush() }
        }
        while let chunk = try input.read(upToCount: 1 << 20), !chunk.isEmpty {
            pending.append(contentsOf: chunk)
            var start = pending.startIndex
            while let newline = pending[start...].firstIndex(of: UInt8(ascii: "\n")) {
                try await take(pending[start..<newline])
                start = newline + 1
            }
            pending.removeSubrange(..<start)
        }
        if !pending.isEmpty { try await take(pending[...]) }
        try await flush()
        return appended
    }
}
