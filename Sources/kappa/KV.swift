import ArgumentParser
import Foundation
import Hypercore
import KappaCore
import KappaViews

/// `kappa kv DIR get KEY --key FIELD [--links FIELD] [--id FIELD]`, `kappa kv DIR keys --key FIELD …`
struct KV: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "kv",
        abstract: "Query a key/value view (with forks) over JSON entries: `get KEY` prints the key's heads, `keys` every key.",
        discussion: """
            The view is defined by the entries' fields: --key names the field holding the key (a string or number), \
            --links the field listing the ids an entry supersedes, --id the field holding an entry's id (default: \
            FEED@SEQ). Fields are dotted paths (`meta.title`). Entries without the key field set nothing. The view is \
            kept in the database under a name made of these options, so later queries only index what is new.
            """
    )

    enum Action: String, ExpressibleByArgument, CaseIterable {
        case get, keys
    }

    @OptionGroup var database: DatabaseOptions

    @Argument(help: "get or keys.")
    var action: Action

    @Argument(help: "The key (for get).")
    var key: String?

    @Option(name: .customLong("key"), help: "The field holding each entry's key.")
    var keyField: String

    @Option(name: .customLong("links"), help: "The field listing the ids an entry supersedes.")
    var linksField: String?

    @Option(name: .customLong("id"), help: "The field holding each entry's id (default: FEED@SEQ).")
    var idField: String?

    @Flag(help: "Print JSON lines: {\"id\": …, \"feed\": …, \"seq\": …, \"value\": …}.")
    var json = false

    func validate() throws {
        if action == .get && key == nil { throw ValidationError("get needs a KEY") }
        if action == .keys && key != nil { throw ValidationError("keys takes no KEY") }
    }

    func run() async throws {
        try await runTool {
            let (keyField, linksField, idField) = (self.keyField, self.linksField, self.idField)
            let view = KeyValueView<StoredBlock>(maxBatch: 1_000) { entry in
                try Self.record(entry.value.bytes, key: keyField, links: linksField, id: idField)
            }
            let name = "kappa-kv key=\(keyField) links=\(linksField ?? "") id=\(idField ?? "")"
            try await database.with(encoding: StoredBlock.encoding) { core in
                // Entries the view skips (a key field of the wrong type, say) are said on standard error.
                let errors = core.errors
                let printer = Task { for await error in errors { Output.error("kappa: \(error.message)") } }
                defer { printer.cancel() }
                try await core.use(name, view)
                try await core.ready(name)
                try? await Task.sleep(for: .milliseconds(20))  // let the printer catch up with what indexing reported
                switch action {
                case .keys:
                    for key in try view.keys() { Output.line(key) }
                case .get:
                    for head in try view.get(key ?? "") {
                        let value = head.value.bytes
                        Output.line(json
                            ? "{\"id\": \(Format.jsonString(head.id)), \"feed\": \"\(head.feed.hex)\", \"seq\": \(head.seq), \"value\": \(ValueFormat.json.json(value))}"
                            : "\(head.feed.hex) \(head.seq) \(ValueFormat.json.text(value))")
                    }
                }
            }
        }
    }

    /// What an entry says to the view, read from its JSON fields.
    static func record(_ bytes: [UInt8], key: String, links: String?, id: String?) throws -> KeyValueView<StoredBlock>.Record? {
        guard let object = try? JSONSerialization.jsonObject(with: Data(bytes), options: [.fragmentsAllowed]) else {
            throw ToolError(ToolError.dataError, "the entry is not JSON")
        }
        guard let keyValue = field(object, key) else { return nil }
        guard let keyText = scalarText(keyValue) else { throw ToolError(ToolError.dataError, "its \(key) is not a string or number") }
        var linkIDs: [String] = []
        if let links, let value = field(object, links) {
            if let text = value as? String {
                linkIDs = [text]
            } else if let array = value as? [Any] {
                linkIDs = try array.map { item in
                    guard let text = item as? String else { throw ToolError(ToolError.dataError, "its \(links) holds a non-string") }
                    return text
                }
            } else {
                throw ToolError(ToolError.dataError, "its \(links) is not a string or an array of strings")
            }
        }
        var entryID: String?
        if let id {
            guard let value = field(object, id), let text = scalarText(value) else {
                throw ToolError(ToolError.dataError, "it has no \(id) string")
            }
            entryID = text
        }
        return .init(key: keyText, id: entryID, links: linkIDs)
    }

    private static func field(_ object: Any, _ path: String) -> Any? {
        var current: Any? = object
        for part in path.split(separator: ".") {
            current = (current as? [String: Any])?[String(part)]
        }
        if current is NSNull { return nil }
        return current
    }

    private static func scalarText(_ value: Any) -> String? {
        if let text = value as? String { return text }
        if let number = value as? NSNumber, !(value is Bool) { return number.stringValue }
        return nil
    }
}

/// An entry's bytes as the kv view stores them (base64 in its JSON).
struct StoredBlock: Codable, Sendable {
    var bytes: [UInt8]

    init(bytes: [UInt8]) { self.bytes = bytes }

    /// Blocks as they are (the database's values are whatever bytes were appended).
    static let encoding = ValueEncoding<StoredBlock>(encode: { $0.bytes }, decode: { StoredBlock(bytes: $0) })

    init(from decoder: any Decoder) throws {
        let text = try decoder.singleValueContainer().decode(String.self)
        guard let data = Data(base64Encoded: text) else {
            throw DecodingError.dataCorrupted(.init(codingPath: decoder.codingPath, debugDescription: "not base64"))
        }
        bytes = [UInt8](data)
    }

    func encode(to encoder: any Encoder) throws {
        var container = encoder.singleValueContainer()
        try container.encode(Data(bytes).base64EncodedString())
    }
}
