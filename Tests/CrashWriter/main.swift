// Child process for the crash tests: opens (or creates) a feed and appends deterministic blocks until it is
// killed, printing each acknowledged length on its own line.
//
// Usage: CrashWriter <directory> <single|batch> <durable|relaxed>
import Foundation
import Hypercore
import KappaTesting

let arguments = CommandLine.arguments
guard arguments.count == 4 else {
    FileHandle.standardError.write(Data("usage: CrashWriter <directory> <single|batch> <durable|relaxed>\n".utf8))
    exit(2)
}
let options = FeedOptions(durability: arguments[3] == "durable" ? .durable : .relaxed, checkpointBytes: 64 * 1024)
let storage = try FileDirectory(path: arguments[1])
let seed = [UInt8](repeating: 0x42, count: 32)
let pair = try KeyPair.fromSeed(seed)
let feed = storage.exists("oplog")
    ? try Feed.open(storage: storage, keyPair: pair, options: options)
    : try Feed.create(storage: storage, keyPair: pair, options: options)
func say(_ line: String) { FileHandle.standardOutput.write(Data((line + "\n").utf8)) }
say("ready \(await feed.length)")
var round = 0
while true {
    let length = Int(await feed.length)
    if arguments[2] == "batch" {
        let count = 1 + round % 50
        try await feed.append(contentsOf: crashBlocks(from: length, count: count))
    } else {
        try await feed.append(crashBlocks(from: length, count: 1)[0])
    }
    say(String(await feed.length))
    round += 1
}
