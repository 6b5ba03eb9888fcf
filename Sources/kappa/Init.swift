import ArgumentParser
import Foundation
import Hypercore
import KappaCore

/// `kappa init DIR [--shared-key HEX]`
struct Init: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        abstract: "Create a database; print its shared key and identity.",
        discussion: "Give another machine the shared key (`kappa init DIR --shared-key KEY` there) to sync with it."
    )

    @Argument(help: "The directory to create the database in (created if missing; must not hold one).")
    var directory: String

    @Option(name: .customLong("shared-key"), help: "The 64-hex-character shared key of the databases to sync with (generated when not given).")
    var sharedKey: String?

    @Flag(help: "Print JSON: {\"sharedKey\": …, \"identity\": …}.")
    var json = false

    func run() async throws {
        try await runTool {
            guard !directory.isEmpty else { throw ToolError(ToolError.usage, "the directory cannot be empty") }
            guard !DatabaseOptions.isDatabase(directory) else {
                throw ToolError(ToolError.cannotCreate, "\(directory) already holds a database")
            }
            var options = KappaOptions()
            if let sharedKey {
                guard let bytes = Hex.decode(sharedKey), let key = try? Bytes32(bytes) else {
                    throw ToolError(ToolError.usage, "--shared-key must be 64 hex characters")
                }
                options.sharedKey = key
            }
            let (shared, identity) = try await Kappa<[UInt8]>.withCore(at: directory, encoding: .binary, options: options) { core in
                (core.sharedKey, core.identityKey)
            }
            if json {
                Output.line("{\"sharedKey\": \"\(shared.hex)\", \"identity\": \"\(identity.hex)\"}")
            } else {
                Output.line("created a database at \(directory)")
                Output.line("shared key: \(shared.hex)")
                Output.line("identity:   \(identity.hex)")
            }
        }
    }
}
