import Foundation

/// Code regions marked in Swift sources and the Swift blocks of the Markdown documentation that quote them.
///
/// A region starts at a line `// snippet: NAME` and ends at `// snippet: end`; its text is dedented. A Markdown
/// file quotes it with a line `<!-- snippet: NAME -->` right before a ```` ```swift ```` block holding that text.
enum Snippets {
    /// The package's root directory.
    static let root = URL(fileURLWithPath: #filePath).deletingLastPathComponent().deletingLastPathComponent()
        .deletingLastPathComponent()

    struct Region {
        var text: String
        var location: String
    }

    struct Block {
        var name: String?
        var text: String
        var location: String
    }

    /// The Markdown a reader sees: the README, `docs/` and the DocC catalogs.
    static func markdownFiles() -> [String] {
        ["README.md"] + files(under: "docs", suffix: ".md")
            + files(under: "Sources", suffix: ".md").filter { $0.contains(".docc/") }
    }

    /// Every marked region in the Swift sources under `Sources/` and `Tests/`, by name.
    static func regions() throws -> [String: Region] {
        var regions: [String: Region] = [:]
        for file in files(under: "Sources", suffix: ".swift") + files(under: "Tests", suffix: ".swift") {
            let lines = try read(file)
            var open: (name: String, line: Int)?
            var body: [Substring] = []
            for (number, line) in lines.enumerated() {
                let trimmed = line.trimmingCharacters(in: .whitespaces)
                guard trimmed.hasPrefix("// snippet: ") else {
                    if open != nil { body.append(line) }
                    continue
                }
                let name = String(trimmed.dropFirst("// snippet: ".count))
                if name == "end", let region = open {
                    regions[region.name] = Region(text: dedent(body), location: "\(file):\(region.line + 1)")
                    open = nil
                } else {
                    open = (name, number)
                    body = []
                }
            }
        }
        return regions
    }

    /// Every ```` ```swift ```` block in `file`, with the snippet name given right before it.
    static func swiftBlocks(in file: String) throws -> [Block] {
        var blocks: [Block] = []
        var name: String?
        var block: (name: String?, line: Int, lines: [Substring])?
        for (number, line) in try read(file).enumerated() {
            let trimmed = line.trimmingCharacters(in: .whitespaces)
            if var open = block {
                if trimmed == "```" {
                    blocks.append(Block(name: open.name, text: open.lines.joined(separator: "\n"), location: "\(file):\(open.line + 1)"))
                    block = nil
                } else {
                    open.lines.append(line)
                    block = open
                }
            } else if trimmed.hasPrefix("<!-- snippet: "), trimmed.hasSuffix(" -->") {
                name = String(trimmed.dropFirst("<!-- snippet: ".count).dropLast(" -->".count))
            } else if trimmed == "```swift" {
                block = (name, number, [])
                name = nil
            } else if !trimmed.isEmpty {
                name = nil
            }
        }
        return blocks
    }

    private static func read(_ file: String) throws -> [Substring] {
        let text = try String(contentsOf: root.appendingPathComponent(file), encoding: .utf8)
        return text.split(separator: "\n", omittingEmptySubsequences: false)
    }

    private static func dedent(_ lines: [Substring]) -> String {
        let indent = lines.filter { !$0.allSatisfy(\.isWhitespace) }.map { $0.prefix(while: { $0 == " " }).count }.min() ?? 0
        return lines.map { $0.allSatisfy(\.isWhitespace) ? "" : String($0.dropFirst(indent)) }.joined(separator: "\n")
    }

    /// Files under `directory` (relative to the root) whose names end in `suffix`, as relative paths, sorted.
    private static func files(under directory: String, suffix: String) -> [String] {
        let base = root.appendingPathComponent(directory)
        guard let enumerator = FileManager.default.enumerator(atPath: base.path) else { return [] }
        var out: [String] = []
        while let path = enumerator.nextObject() as? String {
            if path.hasSuffix(suffix) { out.append("\(directory)/\(path)") }
        }
        return out.sorted()
    }
}
