import ArgumentParser
import Foundation
import Hypercore
import KappaCore

/// `kappa verify DIR`
struct Verify: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        abstract: "Re-hash every block and check every tree; report each corrupt feed and block.",
        discussion: "Exits 0 when everything verifies, 65 when anything does not."
    )

    @OptionGroup var database: DatabaseOptions

    func run() async throws {
        try await runTool {
            let problems = try await database.with { core in
                var problems = 0
                var blocks: UInt64 = 0
                let infos = await core.info()
                for info in infos {
                    guard let feed = await core.feed(info.key) else {
                        Output.line("DAMAGED \(info.key.hex): \(info.error?.message ?? "unavailable")")
                        problems += 1
                        continue
                    }
                    let result = try await feed.verify()
                    blocks += result.blocksChecked
                    for problem in result.problems {
                        Output.line("CORRUPT \(problem.message)")
                    }
                    if result.truncated { Output.line("CORRUPT feed \(feed.key): more problems than listed") }
                    problems += result.problems.count
                }
                Output.line(problems == 0
                            ? "ok: \(infos.count) feeds, \(blocks) blocks verified"
                            : "\(problems) problems in \(infos.count) feeds (\(blocks) blocks checked)")
                return problems
            }
            if problems > 0 { throw ExitCode(ToolError.dataError) }
        }
    }
}
