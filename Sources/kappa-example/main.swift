// The README example: a signed append-only feed on disk.
//
//     swift run kappa-example [directory]
//
// Run it twice: the second run reopens the same feed and continues it.
import Hypercore

let path = CommandLine.arguments.count > 1 ? CommandLine.arguments[1] : "./kappa-example-data"
let storage = try FileDirectory(path: path)
let feed = storage.exists("oplog") ? try Feed.open(storage: storage) : try Feed.create(storage: storage)

let first = try await feed.append(Array("hello from run \(await feed.length / 3 + 1)".utf8))
try await feed.append(contentsOf: [Array("two blocks,".utf8), Array("one signature".utf8)])

print("feed \(feed.key)")
print("appended at \(first); length \(await feed.length), \(await feed.byteLength) bytes, tree hash \(await feed.treeHash)")
for try await entry in feed.entries() {
    print("  \(entry.index): \(String(decoding: entry.value, as: UTF8.self))")
}
try await feed.close()
