// Child process for the database crash test: opens the database, attaches the sum view, and appends Int
// entries (single and batched) to two writers until it is killed.
//
// Usage: KappaCrashWriter <directory>
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
