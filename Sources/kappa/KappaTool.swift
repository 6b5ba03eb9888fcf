import ArgumentParser

/// `kappa`: look inside a database, feed it, check it and sync it from a shell.
@main
struct KappaTool: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "kappa",
        abstract: "Create, inspect, check and replicate KappaCore databases.",
        discussion: """
            Exit codes (sysexits): 64 usage, 65 bad data (invalid input, a corrupt feed), 66 no such database, \
            69 peer unavailable, 73 cannot create, 74 I/O error, 75 database in use, 130 interrupted.
            """,
        version: "0.1.0",
        subcommands: [Init.self, Append.self, Cat.self, Info.self, Verify.self, Serve.self, Sync.self, KV.self]
    )
}
