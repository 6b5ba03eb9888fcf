import ArgumentParser
import Foundation
import HypercoreProtocol
import KappaCore
import KappaNIO
import Logging

/// `kappa serve DIR --port P [--host H]`
struct Serve: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        abstract: "Accept peers over TCP and replicate with each, live, until interrupted.",
        discussion: "Prints `listening on HOST:PORT` once the port is bound (with --port 0, the port the system chose). Sessions are logged on standard error."
    )

    @OptionGroup var database: DatabaseOptions

    @Option(help: "The address to listen on.")
    var host = "127.0.0.1"

    @Option(help: "The TCP port (0: any free port).")
    var port: Int

    @Option(name: .customLong("log-level"), help: "trace, debug, info, notice, warning, error or critical.")
    var logLevel = "info"

    func run() async throws {
        try await runTool {
            guard (0...65_535).contains(port) else { throw ToolError(ToolError.usage, "--port must be 0…65535") }
            let logger = try makeLogger(label: "kappa.serve", level: logLevel)
            let database = self.database
            let (host, port) = (self.host, self.port)
            try await runInterruptible {
                try await database.with { core in
                    let listener = try await core.listen(host: host, port: port, live: true, logger: logger)
                    Output.line("listening on \(host):\(listener.port)")
                    do {
                        while true { try await Task.sleep(for: .seconds(3600)) }
                    } catch is CancellationError {
                        logger.info("stopping")
                    }
                }
            }
        }
    }
}

/// A logger writing to standard error at `level` (a `Logger.Level` name).
func makeLogger(label: String, level: String) throws -> Logger {
    guard let level = Logger.Level(rawValue: level) else {
        throw ToolError(ToolError.usage, "--log-level must be one of trace, debug, info, notice, warning, error, critical")
    }
    var logger = Logger(label: label) { label in StreamLogHandler.standardError(label: label) }
    logger.logLevel = level
    return logger
}
