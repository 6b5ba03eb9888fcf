import Foundation
import Testing
import Hypercore
import KappaTesting
@testable import KappaCore

/// Nothing a database starts outlives it or runs without its lock; every wait ends when its caller is
/// cancelled; a feed of an open database cannot be opened beside it; the process's file limit is respected.
@Suite(.timeLimit(.minutes(2))) struct LifetimeTests {
    /// Opens the database at `path`, retrying while an earlier instance still holds the lock (up to 30 s).
    static func openWhenUnlocked(_ path: String) async throws -> (Kappa<Int>, refusedAtLeastOnce: Bool) {
        var refused = false
        for _ in 0..<3000 {
            do {
                return (try await Kappa<Int>(path: path, options: KappaOptions(durability: .relaxed)), refused)
            } catch let error as KappaError where error.code == .locked {
                refused = true
                try await Task.sleep(for: .milliseconds(10))
            }
        }
        throw TestFailure()
    }

    @Test func droppedDatabaseStopsItsIndexersBeforeReleasingItsLock() async throws {
        try await withTemporaryDirectory { dir in
            let total = 50_000
            let old = SumView()
            do {
                let core = try await Kappa<Int>(path: dir.path, options: KappaOptions(durability: .relaxed))
                try await core.use("sum", old)
                try await core.writer("w").append(contentsOf: Array(repeating: 1, count: total))
                try await eventually { !old.batches.isEmpty }
                // Released here without close(), while its indexer is busy.
            }
            let (core, _) = try await Self.openWhenUnlocked(dir.path)
            let batchesAtOpen = old.batches.count
            try await Task.sleep(for: .milliseconds(300))
            #expect(old.batches.count == batchesAtOpen, "the released database's indexer ran on without its lock")
            let sum = SumView()
            try await core.use("sum", sum)
            try await core.ready("sum")
            #expect(try sum.value == total)
            try await core.close()
        }
    }

    @Test func closeEndsEveryOwnedTask() async throws {
        let core = try await Kappa<Int>(storage: .memory)
        for name in ["a", "b", "c"] { try await core.use(name, SumView()) }
        #expect(await core.ownedTaskCount == 3)
        try await core.close()
        #expect(await core.ownedTaskCount == 0)
        await #expect { try await core.use("d", SumView()) } throws: { ($0 as? KappaError)?.code == .closed }
    }

    @Test func readyAndPauseEndWhenTheirCallerIsCancelled() async throws {
        let core = try await Kappa<Int>(storage: .memory)
        let view = RecordingView()
        view.closeGate()
        try await core.use("rec", view)
        try await core.writer("w").append(1)
        try await eventually { view.entered == 1 }  // a batch is in flight, held by the gate

        let ready = Task { try await core.ready("rec") }
        try await Task.sleep(for: .milliseconds(50))
        ready.cancel()
        await #expect(throws: CancellationError.self) { try await ready.value }

        let pause = Task { try await core.pause("rec") }
        try await Task.sleep(for: .milliseconds(50))
        pause.cancel()
        await #expect(throws: CancellationError.self) { try await pause.value }

        view.openGate()
        try await core.resume("rec")
        try await core.ready("rec")
        #expect(view.values == [1])
        try await core.close()
    }

    @Test func emptyPathsAreRefused() async throws {
        let lockExisted = FileManager.default.fileExists(atPath: "/LOCK")
        await #expect { try await Kappa<Int>(path: "") } throws: { ($0 as? KappaError)?.code == .invalidPath }
        #expect(throws: StorageError.self) { try FileDirectory(path: "") }
        if !lockExisted { #expect(!FileManager.default.fileExists(atPath: "/LOCK")) }
    }

    @Test func aFeedOfAnOpenDatabaseRefusesASecondUser() async throws {
        try await withTemporaryDirectory { dir in
            let core = try await Kappa<Int>(path: dir.path, options: KappaOptions(durability: .relaxed))
            let writer = try await core.writer("w")
            try await writer.append(1)
            let feedPath = dir.path + "/feeds/" + writer.feed.discoveryKey.hex
            #expect { try Feed.open(storage: try FileDirectory(path: feedPath)) } throws: {
                ($0 as? StorageError)?.code == .locked
            }
            try await core.close()

            let feed = try Feed.open(storage: try FileDirectory(path: feedPath))
            await #expect { try await Kappa<Int>(path: dir.path) } throws: { ($0 as? KappaError)?.code == .locked }
            try await feed.close()

            // Free at once: the lock is a record lock, which a child being spawned meanwhile does not hold.
            let reopenedCore = try await Kappa<Int>(path: dir.path)
            #expect(try await reopenedCore.writer("w").feed.length == 1)
            try await reopenedCore.close()
        }
    }

    /// Runs in a child process, since it lowers the process's limit on open files.
    @Test(arguments: [(limit: 256, feeds: 70, maxOpenFiles: 0), (limit: 96, feeds: 40, maxOpenFiles: 4096)])
    func manyFeedsOpenUnderALowFileLimit(limit: Int, feeds: Int, maxOpenFiles: Int) async throws {
        try await withTemporaryDirectory { dir in
            let result = try ChildProcess.run(ChildProcess.sibling(named: "KappaCrashWriter"),
                                              arguments: ["--file-limit", dir.path, "\(limit)", "\(feeds)", "\(maxOpenFiles)"])
            #expect(result.status == 0, "\(result.output)")
            #expect(result.output.contains("ok \(feeds) feeds"), "\(result.output)")
        }
    }
}

/// One memory budget for the tree caches of all feeds.
@Suite(.timeLimit(.minutes(2))) struct CacheBudgetTests {
    static let pageBytes = 256 * 40
    static let budget = 8 * pageBytes

    /// A database of 6 feeds × 6,000 entries (47 pages of nodes each) in `dir`, reopened with a budget of 8 pages
    /// and indexed by a sum view.
    static func indexedSixFeeds(in dir: URL) async throws -> (Kappa<Int>, SumView) {
        do {
            let core = try await Kappa<Int>(path: dir.path, options: KappaOptions(durability: .relaxed))
            for f in 0..<6 { try await core.writer("w\(f)").append(contentsOf: Array(repeating: 1, count: 6_000)) }
            try await core.close()
        }
        let core = try await Kappa<Int>(path: dir.path, options: KappaOptions(durability: .relaxed, cacheBytes: budget))
        let sum = SumView()
        try await core.use("sum", sum)
        try await core.ready("sum")
        return (core, sum)
    }

    @Test func feedsShareOneTreeCacheBudget() async throws {
        try await withTemporaryDirectory { dir in
            let (pageBytes, budget) = (Self.pageBytes, Self.budget)
            let (core, sum) = try await Self.indexedSixFeeds(in: dir)
            #expect(try sum.value == 36_000)
            // Each of the 6 feeds has 47 pages of nodes; together they stay near the budget (a feed evicts
            // its own clean pages when it loads one past it).
            #expect(await core.cachedTreeBytes <= budget + 6 * pageBytes)
            #expect(await core.cachedTreeBytes > 0)
            try await core.close()
            #expect(await core.cachedTreeBytes == 0)
        }
    }

    /// Pages written by appends count against the budget too: many writers appending less than their checkpoint
    /// size each do not hold all their new pages until close (20 × 2 appends of 3,000 entries, about 24 pages
    /// each, held 480 pages against a budget of 8 before).
    @Test func appendedPagesStayWithinTheBudget() async throws {
        try await withTemporaryDirectory { dir in
            let (pageBytes, budget) = (Self.pageBytes, Self.budget)
            do {
                let core = try await Kappa<Int>(path: dir.path, options: KappaOptions(durability: .relaxed, cacheBytes: budget))
                for round in 0..<2 {
                    for f in 0..<20 {
                        try await core.writer("w\(f)").append(contentsOf: Array(repeating: round + 1, count: 3_000))
                        #expect(await core.cachedTreeBytes <= budget + 25 * pageBytes)
                    }
                }
                try await core.close()
            }
            // What was written early (to let pages go) reads back whole.
            let core = try await Kappa<Int>(path: dir.path, options: KappaOptions(durability: .relaxed, cacheBytes: budget))
            let sum = SumView()
            try await core.use("sum", sum)
            try await core.ready("sum")
            #expect(try sum.value == 20 * 3_000 * 3)
            try await core.close()
        }
    }

    /// Clean pages filling the budget (left by reading) do not make every append checkpoint: only pages not yet
    /// written count toward that.
    @Test func cleanPagesDoNotMakeAppendsCheckpoint() async throws {
        try await withTemporaryDirectory { dir in
            let (core, sum) = try await Self.indexedSixFeeds(in: dir)
            #expect(try sum.value == 36_000)
            #expect(await core.cachedTreeBytes >= Self.budget, "reading left the budget full of clean pages")
            let writer = try await core.writer("w0")
            let before = await writer.feed.checkpoints
            for _ in 0..<20 { try await writer.append(1) }
            #expect(await writer.feed.checkpoints == before)
            try await core.close()
        }
    }

    /// Opening a database reads each feed's roots alone, without caching their pages (about 30 KB per feed).
    @Test func openingLoadsNoTreePages() async throws {
        try await withTemporaryDirectory { dir in
            do {
                let core = try await Kappa<Int>(path: dir.path, options: KappaOptions(durability: .relaxed))
                for f in 0..<10 { try await core.writer("w\(f)").append(contentsOf: Array(repeating: 1, count: 1_000)) }
                try await core.close()
            }
            let core = try await Kappa<Int>(path: dir.path, options: KappaOptions(durability: .relaxed))
            #expect(await core.cachedTreeBytes == 0)
            #expect(try await core.writer("w3").append(2) == 1_000)
            let sum = SumView()
            try await core.use("sum", sum)
            try await core.ready("sum")
            #expect(try sum.value == 10_002)
            try await core.close()
        }
    }
}
