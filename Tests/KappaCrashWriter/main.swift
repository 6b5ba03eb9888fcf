// Child process for the database crash test: opens the database, attaches the sum view, and appends Int
// entries (single and batched) to two writers until it is killed.
//
// Usage: KappaCrashWriter <directory>
//        KappaCrashWriter --file-limit <directory> <limit> <feeds> <maxOpenFiles, 0 for the default>
//          lowers RLIMIT_NOFILE to <limit>, creates <feeds> writers with an entry each, reopens the database and
//          checks every writer; prints "ok <feeds> feeds".
import Foundation
import Hypercore
import KappaCore

struct CrashSumView: KappaView {
    let store = ViewStore()
    var maxBatch: Int { 7 }
    func map(_ entries: [KappaEntry<Int>], _ transaction: ViewTransaction) throws {
        let sum: Int = try transaction.get("sum") ?? 0
        try transaction.put("sum", sum + entries.reduce(0) { $0 + $1.value })
    }
}

if CommandLine.arguments.count == 6, CommandLine.arguments[1] == "--file-limit" {
    let arguments = CommandLine.arguments
    let (path, limit, feeds, maxOpen) = (arguments[2], Int(arguments[3])!, Int(arguments[4])!, Int(arguments[5])!)
    var rl = rlimit()
    getrlimit(__rlimit_resource_t(RLIMIT_NOFILE.rawValue), &rl)
    rl.rlim_cur = rlim_t(limit)
    guard setrlimit(__rlimit_resource_t(RLIMIT_NOFILE.rawValue), &rl) == 0 else {
        print("setrlimit failed")
        exit(3)
    }
    let options = KappaOptions(durability: .relaxed, maxOpenFiles: maxOpen == 0 ? nil : maxOpen)
    do {
        let core = try await Kappa<Int>(path: path, options: options)
        for i in 0..<feeds { try await core.writer("w\(i)").append(i) }
        try await core.close()
        let reopened = try await Kappa<Int>(path: path, options: options)
        let sum = CrashSumView()
        try await reopened.use("sum", sum)
        try await reopened.ready()
        let expected = (0..<feeds).reduce(0, +)
        let indexed: Int = try sum.store.get("sum") ?? 0
        for i in 0..<feeds where try await reopened.writer("w\(i)").feed.length != 1 {
            print("writer w\(i) lost its entry")
            exit(1)
        }
        guard indexed == expected else {
            print("sum \(indexed), expected \(expected)")
            exit(1)
        }
        try await reopened.close()
        print("ok \(feeds) feeds")
        exit(0)
    } catch {
        print("failed: \(error)")
        exit(1)
    }
}
guard CommandLine.arguments.count == 2 else {
    FileHandle.standardError.write(Data("usage: KappaCrashWriter <directory>\n".utf8))
    exit(2)
}
let core = try await Kappa<Int>(path: CommandLine.arguments[1], options: KappaOptions(durability: .relaxed))
try await core.use("sum", CrashSumView())
let a = try await core.writer("a")
let b = try await core.writer("b")
FileHandle.standardOutput.write(Data("ready\n".utf8))
var round = 0
while true {
    let value = round % 13 + 1
    if round % 3 == 0 {
        try await b.append(contentsOf: Array(repeating: value, count: round % 9 + 1))
    } else {
        try await a.append(value)
    }
    round += 1
}
