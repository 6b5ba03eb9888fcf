import ArgumentParser
import Foundation
import Hypercore
import HypercoreProtocol
import KappaCore
import KappaNIO
import Logging
import Synchronization

/// `kappa sync DIR HOST:PORT [--live]`
struct Sync: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        abstract: "Replicate with a peer over TCP: a progress bar on a terminal, plain lines otherwise, a summary at the end.",
        discussion: "Exits 0 once in sync (or, with --live, when interrupted), 69 when the peer cannot be reached or refuses the database, 130 when interrupted before the end."
    )

    @OptionGroup var database: DatabaseOptions

    @Argument(help: "The peer, as HOST:PORT (`kappa serve` prints it).")
    var peer: String

    @Flag(help: "Keep replicating new entries until interrupted.")
    var live = false

    @Flag(help: "Learn every feed and its length, but download no blocks.")
    var sparse = false

    @Option(name: .customLong("log-level"), help: "trace, debug, info, notice, warning, error or critical.")
    var logLevel = "error"

    func run() async throws {
        try await runTool {
            let endpoint = try Endpoint(peer)
            let database = self.database
            let (live, mode) = (self.live, self.sparse ? ReplicationMode.sparse : .full)
            let logger = try makeLogger(label: "kappa.sync", level: logLevel)
            let started = ContinuousClock.now
            let summary: ReplicationSummary? = try await runInterruptible {
                try await database.with { core in
                    let (events, continuation) = AsyncStream.makeStream(of: ReplicationEvent.self,
                                                                        bufferingPolicy: .bufferingNewest(4_096))
                    let display = Task { await Progress(terminal: Output.isTerminal).show(events) }
                    defer { display.cancel() }
                    do {
                        let summary = try await core.connect(host: endpoint.host, port: endpoint.port, live: live,
                                                             mode: mode, events: continuation, logger: logger)
                        await display.value
                        return summary
                    } catch is CancellationError where live {
                        await display.value
                        return nil  // interrupted: the normal end of a live sync
                    } catch {
                        await display.value
                        throw error
                    }
                }
            }
            let seconds = Double((ContinuousClock.now - started).components.attoseconds) / 1e18
                + Double((ContinuousClock.now - started).components.seconds)
            if let summary {
                let received = summary.feeds.reduce(0) { $0 + $1.blocksReceived }
                let receivedBytes = summary.feeds.reduce(0) { $0 + $1.bytesReceived }
                let sent = summary.feeds.reduce(0) { $0 + $1.blocksSent }
                let sentBytes = summary.feeds.reduce(0) { $0 + $1.bytesSent }
                Output.line("synced with \(endpoint.host):\(endpoint.port): \(summary.feeds.count) feeds, "
                            + "\(received) entries received (\(Format.bytes(receivedBytes))), "
                            + "\(sent) sent (\(Format.bytes(sentBytes))) in \(String(format: "%.2f", seconds)) s")
                guard summary.feeds.allSatisfy(\.isComplete) || live else {
                    throw ToolError(ToolError.unavailable, "the session ended before every feed was complete")
                }
            } else {
                Output.line("stopped after \(String(format: "%.2f", seconds)) s")
            }
        }
    }
}

/// Draws replication progress: one line redrawn in place on a terminal, a plain line per second otherwise.
struct Progress {
    let terminal: Bool

    /// Per feed, the latest totals.
    private struct State {
        var feeds: [PublicKey: ReplicationSummary.Feed] = [:]
        var learned = 0
        var lastFeed: PublicKey?
    }

    func show(_ events: AsyncStream<ReplicationEvent>) async {
        var state = State()
        let start = ContinuousClock.now
        var lastDraw = ContinuousClock.now - .seconds(10)
        var drewPartial = false
        var lastLine = ""
        for await event in events {
            switch event.kind {
            case .feedLearned(let key):
                state.learned += 1
                if !terminal { Output.line("new feed \(key.hex)") }
            case .progress(let feed):
                state.feeds[feed.key] = feed
                state.lastFeed = feed.key
            case .started:
                if !terminal { Output.line("connected to peer \(event.peer.hex)") }
            case .finished, .failed, .feedAdded:
                break
            }
            // Nothing to show until the peer has said what it holds.
            guard state.feeds.values.contains(where: { $0.remoteLength > 0 }) else { continue }
            // Throttled, except that reaching "everything held" is shown at once (a live session may then go
            // quiet for a long time).
            let now = ContinuousClock.now
            let interval: Duration = terminal ? .milliseconds(100) : .seconds(1)
            let line = Self.describe(state.feeds, current: state.lastFeed, since: start)
            let complete = state.feeds.values.allSatisfy { $0.contiguousLength >= $0.remoteLength }
            guard now - lastDraw >= interval || (complete && line != lastLine) else { continue }
            guard line != lastLine else { continue }
            lastDraw = now
            lastLine = line
            if terminal {
                Output.partial("\r\u{1B}[K" + line)
                drewPartial = true
            } else {
                Output.line(line)
            }
        }
        let last = Self.describe(state.feeds, current: nil, since: start)
        if terminal {
            Output.partial((drewPartial ? "\r\u{1B}[K" : "") + last + "\n")
        } else {
            Output.line(last)
        }
    }

    /// `12/40 feeds · 1,234/10,000 entries (12%) · 1.2 MB · 0.4 MB/s · ETA 0:03 · ab12cd34…: 500/1000`
    private static func describe(_ feeds: [PublicKey: ReplicationSummary.Feed], current: PublicKey?, since start: ContinuousClock.Instant) -> String {
        let held = feeds.values.reduce(UInt64(0)) { $0 + Swift.min($1.contiguousLength, $1.remoteLength) }
        let total = feeds.values.reduce(UInt64(0)) { $0 + $1.remoteLength }
        let complete = feeds.values.filter { $0.contiguousLength >= $0.remoteLength }.count
        let received = feeds.values.reduce(0) { $0 + $1.blocksReceived }
        let bytes = feeds.values.reduce(0) { $0 + $1.bytesReceived }
        let elapsed = Swift.max(0.001, Double((ContinuousClock.now - start).components.seconds)
                                + Double((ContinuousClock.now - start).components.attoseconds) / 1e18)
        let rate = Double(bytes) / elapsed
        let entryRate = Double(received) / elapsed
        let left = total > held ? Double(total - held) : 0
        let eta = entryRate > 0 ? left / entryRate : (left == 0 ? 0 : .infinity)
        let percent = total == 0 ? 100 : Int(Double(held) * 100 / Double(total))
        var line = "\(complete)/\(feeds.count) feeds · \(held)/\(total) entries (\(percent)%) · "
            + "\(Format.bytes(bytes)) · \(Format.bytes(rate))/s · ETA \(Format.seconds(eta))"
        if let current, let feed = feeds[current] {
            line += " · \(current.hex.prefix(8))…: \(feed.contiguousLength)/\(feed.remoteLength)"
        }
        return line
    }
}
