import ArgumentParser
import Foundation
import Hypercore
import KappaCore

/// `kappa info DIR [--json]`
struct Info: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        abstract: "Show a database: its shared key, feeds, views and disk use."
    )

    @OptionGroup var database: DatabaseOptions

    @Flag(help: "Print one JSON object (stable field names, for scripts).")
    var json = false

    struct FeedRow {
        var key: String
        var location: String
        var writer: String?
        var length: UInt64
        var contiguous: UInt64
        var bytes: UInt64
        var writable: Bool
        var error: String?
        var downloaded: Double { length == 0 ? 100 : Double(contiguous) * 100 / Double(length) }
    }

    func run() async throws {
        try await runTool {
            let (shared, identity, rows, views) = try await database.with { core in
                var rows: [FeedRow] = []
                for info in await core.info() {
                    let bytes = await core.feed(info.key)?.byteLength ?? 0
                    rows.append(FeedRow(key: info.key.hex, location: info.location, writer: info.writerName, length: info.length,
                                        contiguous: info.contiguousLength, bytes: bytes, writable: info.isWritable,
                                        error: info.error.map { "\($0.message)" }))
                }
                return (core.sharedKey, core.identityKey, rows, try await core.viewCheckpoints())
            }
            let disk = Self.diskUse(database.directory)
            if json {
                printJSON(shared: shared, identity: identity, rows: rows, views: views, disk: disk)
            } else {
                printText(shared: shared, identity: identity, rows: rows, views: views, disk: disk)
            }
        }
    }

    private func printText(shared: Bytes32, identity: PublicKey, rows: [FeedRow], views: [KappaViewCheckpoint], disk: UInt64) {
        Output.line("database:   \(database.directory)")
        Output.line("shared key: \(shared.hex)")
        Output.line("identity:   \(identity.hex)")
        Output.line("disk use:   \(Format.bytes(disk))")
        Output.line("feeds:      \(rows.count)")
        for row in rows {
            let name = row.writer.map { "writer \($0)" } ?? (row.writable ? "writable" : "remote")
            if let error = row.error {
                Output.line("  \(row.key)  \(name)  UNAVAILABLE: \(error)")
            } else {
                Output.line("  \(row.key)  \(name)  \(row.length) entries  \(Format.bytes(row.bytes))"
                            + "  \(String(format: "%.0f", row.downloaded))% downloaded")
            }
        }
        Output.line("views:      \(views.count)")
        for view in views {
            Output.line("  \(view.name)  version \(view.version)  \(view.totalIndexed) entries indexed")
        }
    }

    private func printJSON(shared: Bytes32, identity: PublicKey, rows: [FeedRow], views: [KappaViewCheckpoint], disk: UInt64) {
        let feeds = rows.map { row in
            var fields = [
                "\"key\": \"\(row.key)\"",
                "\"location\": \(Format.jsonString(row.location))",
                "\"writer\": \(row.writer.map(Format.jsonString) ?? "null")",
                "\"length\": \(row.length)",
                "\"contiguousLength\": \(row.contiguous)",
                "\"bytes\": \(row.bytes)",
                "\"writable\": \(row.writable)",
                "\"downloaded\": \(String(format: "%.1f", row.downloaded))",
            ]
            fields.append("\"error\": \(row.error.map(Format.jsonString) ?? "null")")
            return "{" + fields.joined(separator: ", ") + "}"
        }
        let viewObjects = views.map { view in
            "{\"name\": \(Format.jsonString(view.name)), \"version\": \(view.version), \"indexed\": \(view.totalIndexed)}"
        }
        Output.line("{\"path\": \(Format.jsonString(database.directory)), \"sharedKey\": \"\(shared.hex)\", "
                    + "\"identity\": \"\(identity.hex)\", \"diskBytes\": \(disk), "
                    + "\"feeds\": [\(feeds.joined(separator: ", "))], \"views\": [\(viewObjects.joined(separator: ", "))]}")
    }

    /// The bytes of every file under `path`.
    static func diskUse(_ path: String) -> UInt64 {
        let enumerator = FileManager.default.enumerator(at: URL(fileURLWithPath: path),
                                                        includingPropertiesForKeys: [.fileSizeKey, .isRegularFileKey])
        var total: UInt64 = 0
        while let url = enumerator?.nextObject() as? URL {
            let values = try? url.resourceValues(forKeys: [.fileSizeKey, .isRegularFileKey])
            if values?.isRegularFile == true { total += UInt64(values?.fileSize ?? 0) }
        }
        return total
    }
}
