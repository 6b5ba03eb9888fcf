import ArgumentParser
import Foundation
import Synchronization
import Hypercore
import KappaCore
import KappaNIO

/// `kappa cat DIR [--feed KEY | --writer NAME] [--from N] [--follow]`
struct Cat: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        abstract: "Print entries: `FEED SEQ VALUE` per line, or JSON lines with --json.",
        discussion: """
            Feeds are printed one after the other, in the database's order, each in sequence order. With --follow \
            the command keeps printing entries as they arrive until interrupted; with --peer it also replicates live \
            with that peer meanwhile (a database is used by one process at a time, so that is how entries from \
            elsewhere arrive while it runs).
            """
    )

    @OptionGroup var database: DatabaseOptions

    @Option(help: "Only this feed (64 hex characters).")
    var feed: String?

    @Option(help: "Only this local writer's feed.")
    var writer: String?

    @Option(help: "Start at this sequence number in each feed.")
    var from: UInt64 = 0

    @Flag var format: ValueFormat = .json

    @Flag(help: "Print JSON lines: {\"feed\": KEY, \"seq\": N, \"value\": VALUE}.")
    var json = false

    @Flag(help: "Keep printing new entries until interrupted.")
    var follow = false

    @Option(help: "With --follow: replicate live with the peer at HOST:PORT meanwhile.")
    var peer: String?

    func validate() throws {
        if feed != nil && writer != nil { throw ValidationError("give --feed or --writer, not both") }
        if peer != nil && !follow { throw ValidationError("--peer needs --follow") }
    }

    func run() async throws {
        try await runTool {
            let endpoint = try peer.map(Endpoint.init)
            let command = self
            // Interrupting ends --follow (the normal way out) and closes the database cleanly.
            try await runInterruptible { try await command.catAll(endpoint: endpoint) }
        }
    }

    private func catAll(endpoint: Endpoint?) async throws {
        do {
            try await database.with { core in
                let selected = try await select(core)
                var next: [PublicKey: UInt64] = [:]
                for feed in try await feeds(core, selected) {
                    next[feed.key] = try await printNew(feed, from: from)
                }
                guard follow else { return }
                let failure = Failure()
                let session = endpoint.map { endpoint in
                    Task {
                        do {
                            try await core.connect(host: endpoint.host, port: endpoint.port, live: true)
                        } catch {
                            if !(error is CancellationError) { failure.record(error) }
                        }
                    }
                }
                defer { session?.cancel() }
                do {
                    while true {
                        try await Task.sleep(for: .milliseconds(200))
                        for feed in try await feeds(core, selected) {
                            next[feed.key] = try await printNew(feed, from: next[feed.key] ?? from)
                        }
                        if let error = failure.error { throw error }
                    }
                } catch is CancellationError {
                    return  // interrupted: the normal end of --follow
                }
            }
        } catch is CancellationError where follow {
            return
        }
    }

    /// The feed asked for, if one was.
    private func select(_ core: Kappa<[UInt8]>) async throws -> Feed? {
        if let feed {
            guard let found = try await core.feed(hex: feed) else { throw ToolError(ToolError.usage, "no feed \(feed) in \(database.directory)") }
            return found
        }
        if let writer {
            guard await core.writerNames().contains(writer) else {
                throw ToolError(ToolError.usage, "no writer named \(writer) in \(database.directory)")
            }
            return try await core.writer(writer).feed
        }
        return nil
    }

    private func feeds(_ core: Kappa<[UInt8]>, _ selected: Feed?) async throws -> [Feed] {
        if let selected { return [selected] }
        return await core.feeds()
    }

    /// Prints the entries of `feed` from `start` to its contiguous length; returns where it stopped.
    private func printNew(_ feed: Feed, from start: UInt64) async throws -> UInt64 {
        var seq = start
        let end = await feed.contiguousLength
        let key = feed.key.hex
        while seq < end {
            let blocks = try await feed.getBatch(from: seq, limit: Int(min(1_000, end - seq)))
            guard !blocks.isEmpty else { break }
            var text = ""
            for block in blocks {
                text += json
                    ? "{\"feed\": \"\(key)\", \"seq\": \(seq), \"value\": \(format.json(block))}\n"
                    : "\(key) \(seq) \(format.text(block))\n"
                seq += 1
            }
            Output.partial(text)
        }
        return seq
    }
}

/// The error a background task ended with, if it did.
final class Failure: Sendable {
    private let state = Mutex<(any Error)?>(nil)
    var error: (any Error)? { state.withLock { $0 } }
    func record(_ error: any Error) { state.withLock { $0 = error } }
}

/// `HOST:PORT`, `[IPv6]:PORT`.
struct Endpoint {
    var host: String
    var port: Int

    init(_ text: String) throws {
        guard let colon = text.lastIndex(of: ":"), let port = Int(text[text.index(after: colon)...]),
              (1...65_535).contains(port) else {
            throw ToolError(ToolError.usage, "\(text) is not HOST:PORT")
        }
        var host = String(text[..<colon])
        if host.hasPrefix("["), host.hasSuffix("]") { host = String(host.dropFirst().dropLast()) }
        guard !host.isEmpty else { throw ToolError(ToolError.usage, "\(text) has no host") }
        self.host = host
        self.port = port
    }
}
