import Foundation
import Synchronization
import Testing
import Hypercore
import KappaTesting
@testable import KappaCore

@Suite(.timeLimit(.minutes(2))) struct KappaTests {
    @Test func readmeExampleInMemory() async throws {
        let core = try await Kappa<Int>(storage: .memory)
        let sum = SumView()
        try await core.use("sum", version: 1, sum)
        try await core.writer("default").append(1)
        try await core.ready("sum")
        #expect(try sum.value == 1)
        try await core.close()
    }

    @Test func twoWritersOneView() async throws {
        let core = try await Kappa<Int>(storage: .memory)
        let sum = SumView()
        try await core.use("sum", sum)
        let a = try await core.writer("a")
        let b = try await core.writer("b")
        try await a.append(contentsOf: Array(1...300))
        for i in 1...50 { try await b.append(i * 1000) }
        try await core.ready()
        #expect(try sum.value == (1...300).reduce(0, +) + (1...50).reduce(0, +) * 1000)
        #expect(try sum.count == 350)
        try await core.close()
    }

    @Test func viewAttachedAfterAppendsSeesEverythingInPerFeedOrder() async throws {
        let core = try await Kappa<Int>(storage: .memory)
        let a = try await core.writer("a")
        let b = try await core.writer("b")
        try await a.append(contentsOf: Array(0..<250))
        try await b.append(contentsOf: Array(1000..<1250))
        let view = RecordingView(maxBatch: 64)
        try await core.use("rec", view)
        try await core.ready("rec")
        let entries = view.entries
        #expect(entries.count == 500)
        let fromA = entries.filter { $0.feed == a.key }
        #expect(fromA.map(\.seq) == Array(0..<250))
        #expect(fromA.map(\.value) == Array(0..<250))
        #expect(entries.filter { $0.feed == b.key }.map(\.value) == Array(1000..<1250))
        // No feed starves: the first batches already mix both feeds.
        #expect(Set(entries.prefix(64).map(\.feed)).count == 2)
        try await core.close()
    }

    /// A view left at the default maxBatch catches up in batches of 1,000, then maps live appends as they come.
    @Test func defaultBatchesHoldUpTo1000EntriesAndLiveOnesWhatArrived() async throws {
        struct DefaultBatchSum: KappaView {
            let store = ViewStore()
            let mapped = MapLog()
            func map(_ entries: [KappaEntry<Int>], _ transaction: ViewTransaction) throws {
                mapped.log.withLock { $0.append(entries.map(\.value)) }
            }
        }
        let core = try await Kappa<Int>(storage: .memory)
        let writer = try await core.writer("w")
        try await writer.append(contentsOf: Array(0..<2_500))
        let view = DefaultBatchSum()
        #expect(view.maxBatch == 1_000)
        try await core.use("sum", view)
        try await core.ready("sum")
        #expect(view.mapped.log.withLock { $0.map(\.count) } == [1_000, 1_000, 500])
        try await writer.append(7)
        try await core.ready("sum")
        #expect(view.mapped.log.withLock { $0.last } == [7])
        try await core.close()
    }

    @Test func readyForms() async throws {
        let core = try await Kappa<Int>(storage: .memory)
        try await core.ready()  // no views
        try await core.ready([])
        await #expect { try await core.ready("nope") } throws: { ($0 as? KappaError)?.code == .unknownView }
        let sum = SumView()
        try await core.use("sum", sum)
        try await core.use("rec", RecordingView())
        try await core.writer("w").append(5)
        try await core.ready(["sum", "rec"])
        #expect(try sum.value == 5)
        await #expect { try await core.ready(["sum", "nope"]) } throws: { ($0 as? KappaError)?.code == .unknownView }
        try await core.close()
        await #expect { try await core.ready() } throws: { ($0 as? KappaError)?.code == .closed }
    }

    @Test func pauseMidStreamFinishesTheBatchInFlight() async throws {
        let core = try await Kappa<Int>(storage: .memory)
        let view = RecordingView(maxBatch: 2)
        view.closeGate()
        try await core.use("rec", view)
        let w = try await core.writer("w")
        try await w.append(contentsOf: [1, 2, 3, 4, 5])
        try await eventually { view.entered == 1 }
        let pause = Task { try await core.pause("rec") }
        try await Task.sleep(for: .milliseconds(30))
        view.openGate()
        try await pause.value
        #expect(view.values == [1, 2])  // the in-flight batch completed, nothing after it
        // Paused: ready returns at once, queries see the partial view, appends wait.
        try await w.append(6)
        try await core.ready("rec")
        #expect(view.values == [1, 2])
        try await core.resume("rec")
        try await core.ready("rec")
        #expect(view.values == [1, 2, 3, 4, 5, 6])
        try await core.close()
    }

    @Test func failedViewThrowsFromReadyAndResumeRetries() async throws {
        let core = try await Kappa<Int>(storage: .memory)
        let view = RecordingView()
        view.failNext(1)
        try await core.use("rec", view)
        try await core.writer("w").append(contentsOf: [7, 8])
        await #expect { try await core.ready("rec") } throws: { ($0 as? KappaError)?.code == .viewFailed }
        var errors = core.errors.makeAsyncIterator()
        let reported = await errors.next()
        #expect(reported?.code == .viewFailed)
        try await core.resume("rec")
        try await core.ready("rec")
        #expect(view.values == [7, 8])
        try await core.close()
    }

    /// The indexer reads the next batch while it maps one; when mapping fails, `resume()` can run before that read
    /// ahead has ended. The failed batch must still be indexed after the resume (it once restarted after it).
    @Test func resumingRightAfterAFailureRetriesTheFailedBatch() async throws {
        for round in 0..<200 {
            let core = try await Kappa<Int>(storage: .memory)
            let view = RecordingView()
            view.failNext(1)
            try await core.use("rec", view)
            try await core.writer("w").append(contentsOf: [round, round + 1])
            await #expect { try await core.ready("rec") } throws: { ($0 as? KappaError)?.code == .viewFailed }
            try await core.resume("rec")
            try await core.ready("rec")
            #expect(view.values == [round, round + 1], "round \(round)")
            try await core.close()
        }
    }

    @Test func undecodableBlocksAreReportedAndSkipped() async throws {
        let core = try await Kappa<Int>(storage: .memory)
        let sum = SumView()
        try await core.use("sum", sum)
        let w = try await core.writer("w")
        try await w.append(1)
        try await w.feed.append(Array("not json".utf8))
        try await w.append(2)
        try await core.ready("sum")
        #expect(try sum.value == 3)
        #expect(try sum.count == 2)
        var errors = core.errors.makeAsyncIterator()
        let error = await errors.next()
        #expect(error?.code == .undecodableEntry)
        try await core.close()
    }

    /// Large batches are decoded in two halves (the second in a child task): every bad block, in either half, is
    /// reported with its own sequence number and skipped, and every good one is indexed once.
    @Test func undecodableBlocksInLargeBatchesAreReportedBySeq() async throws {
        let core = try await Kappa<Int>(storage: .memory)
        let sum = SumView(maxBatch: 400)  // batches of ValueEncoding.splitThreshold (256) and more are split
        let w = try await core.writer("w")
        let bad: Set<UInt64> = [3, 70, 199, 250, 390]
        var expected = 0
        var blocks: [[UInt8]] = []
        for seq in 0..<400 {
            if bad.contains(UInt64(seq)) {
                blocks.append(Array("not json \(seq)".utf8))
            } else {
                blocks.append(Array(String(seq).utf8))
                expected += seq
            }
        }
        try await w.feed.append(contentsOf: blocks)
        try await core.use("sum", sum)
        try await core.ready("sum")
        #expect(try sum.value == expected)
        #expect(try sum.count == 395)
        try await core.close()  // ends `errors` after what was reported
        var reported: [UInt64] = []
        for await error in core.errors {
            #expect(error.code == .undecodableEntry)
            if let seq = bad.first(where: { error.message.contains("entry \($0) ") }) { reported.append(seq) }
        }
        #expect(reported.sorted() == bad.sorted())
    }

    @Test func sparseRemoteFeedIndexesItsContiguousPrefix() async throws {
        let source = try Feed.create()
        let blocks = (0..<6).map { Array(String($0 * 10).utf8) }
        try await source.append(contentsOf: blocks)
        let core = try await Kappa<Int>(storage: .memory)
        let view = RecordingView()
        try await core.use("rec", view)
        let remote = try await core.addFeed(source.key)
        #expect(!remote.writable)
        try await remote.receive(try await source.proof(for: ProofRequest(upgrade: .init(start: 0, length: 6))))
        for index: UInt64 in [0, 1, 3, 4] {
            try await remote.receive(try await source.proof(for: ProofRequest(block: .init(index: index, nodes: try await remote.missingNodes(2 * index)))))
        }
        try await core.ready("rec")
        #expect(view.values == [0, 10])
        try await remote.receive(try await source.proof(for: ProofRequest(block: .init(index: 2, nodes: try await remote.missingNodes(4)))))
        try await core.ready("rec")
        #expect(view.values == [0, 10, 20, 30, 40])
        try await core.close()
    }

    @Test func writersPersistAndNeverResolveToRemoteFeeds() async throws {
        try await withTemporaryDirectory { dir in
            let remoteKey = KeyPair.random().publicKey
            let keyA: PublicKey
            let order: [PublicKey]
            do {
                let core = try await Kappa<Int>(path: dir.path)
                let writers = try await withThrowingTaskGroup(of: PublicKey.self) { group in
                    for _ in 0..<100 { group.addTask { try await core.writer("minuette").key } }
                    return try await group.reduce(into: Set<PublicKey>()) { $0.insert($1) }
                }
                #expect(writers.count == 1)
                keyA = writers.first!
                _ = try await core.addFeed(remoteKey)
                _ = try await core.writer("b")
                order = await core.feeds().map(\.key)
                #expect(order.count == 3)
                #expect(try await core.feed(hex: keyA.hex)?.key == keyA)
                #expect(try await core.feed(hex: KeyPair.random().publicKey.hex) == nil)
                await #expect { try await core.feed(hex: "xyz") } throws: { ($0 as? KappaError)?.code == .invalidKey }
                await #expect { try await core.feed(bytes: [1, 2]) } throws: { ($0 as? KappaError)?.code == .invalidKey }
                try await core.close()
            }
            let reopened = try await Kappa<Int>(path: dir.path)
            #expect(try await reopened.writer("minuette").key == keyA)
            #expect(await reopened.feeds().map(\.key) == order)
            #expect(await reopened.feed(remoteKey)?.writable == false)
            // A writer name never resolves to the remote feed.
            #expect(try await reopened.writer("remote").key != remoteKey)
            try await reopened.close()
        }
    }

    @Test func feedDirectoryMissingFromTheListIsAdopted() async throws {
        try await withTemporaryDirectory { dir in
            let core = try await Kappa<Int>(path: dir.path)
            let named = try await core.writer("named").key
            try await core.close()
            // As if a crash hit between creating a feed and recording it.
            let pair = KeyPair.random()
            let orphanDirectory = dir.appendingPathComponent("feeds/\(Hashing.discoveryKey(pair.publicKey).hex)").path
            let orphan = try Feed.create(storage: try FileDirectory(path: orphanDirectory), keyPair: pair)
            try await orphan.append(Array("7".utf8))
            try await orphan.close()

            let reopened = try await Kappa<Int>(path: dir.path)
            #expect(await reopened.feeds().map(\.key) == [named, pair.publicKey])
            let sum = SumView()
            try await reopened.use("sum", sum)
            try await reopened.ready()
            #expect(try sum.value == 7)
            #expect(try await reopened.writer("named").key == named)
            try await reopened.close()
        }
    }

    @Test func secondOpenIsLocked() async throws {
        try await withTemporaryDirectory { dir in
            let core = try await Kappa<Int>(path: dir.path)
            await #expect { _ = try await Kappa<Int>(path: dir.path) } throws: { ($0 as? KappaError)?.code == .locked }
            try await core.close()
            let again = try await Kappa<Int>(path: dir.path)
            try await again.close()
        }
    }

    @Test func useErrors() async throws {
        let core = try await Kappa<Int>(storage: .memory)
        try await core.use("sum", SumView())
        await #expect { try await core.use("sum", SumView()) } throws: { ($0 as? KappaError)?.code == .duplicateView }
        await #expect { try await core.use("", SumView()) } throws: { ($0 as? KappaError)?.code == .invalidName }
        try await core.close()
        await #expect { try await core.use("other", SumView()) } throws: { ($0 as? KappaError)?.code == .closed }
        #expect(throws: KappaError.self) { try SumView().value }  // never attached
    }

    @Test func reopenDoesNotReindexAndVersionBumpDoes() async throws {
        try await withTemporaryDirectory { dir in
            do {
                let core = try await Kappa<Int>(path: dir.path)
                let sum = SumView()
                try await core.use("sum", version: 1, sum)
                try await core.writer("w").append(contentsOf: [1, 2, 3])
                try await core.ready()
                #expect(try sum.value == 6)
                try await core.close()
            }
            do {
                let core = try await Kappa<Int>(path: dir.path)
                let sum = SumView()
                try await core.use("sum", version: 1, sum)
                try await core.ready()
                #expect(try sum.value == 6)
                #expect(sum.batches.isEmpty, "same version: nothing re-indexed")
                try await core.writer("w").append(4)
                try await core.ready()
                #expect(try sum.value == 10)
                #expect(sum.batches == [[4]])
                try await core.close()
            }
            do {
                let core = try await Kappa<Int>(path: dir.path)
                let sum = SumView()
                try await core.use("sum", version: 2, sum)
                try await core.ready()
                #expect(try sum.value == 10, "rebuilt from zero, not added on top")
                #expect(sum.batches.flatMap { $0 } == [1, 2, 3, 4])
                try await core.close()
            }
        }
    }

    @Test func ownStateViewsContinueFromTheirStateAndClearOnAVersionBump() async throws {
        try await withTemporaryDirectory { dir in
            let first = OwnStateView()
            do {
                let core = try await Kappa<Int>(path: dir.path)
                try await core.use("own", version: 1, first)
                try await core.writer("w").append(contentsOf: [1, 2, 3])
                try await core.ready()
                #expect(first.snapshot.values == [1, 2, 3])
                #expect(first.snapshot.state != nil && first.snapshot.stored >= 1)
                #expect(first.snapshot.cleared == 1, "no state stored yet: cleared before indexing")
                try await core.close()
            }
            // Same version, its own store kept: continues after what it stored.
            let second = OwnStateView(storage: first.snapshot)
            do {
                let core = try await Kappa<Int>(path: dir.path)
                try await core.use("own", version: 1, second)
                try await core.writer("w").append(4)
                try await core.ready()
                #expect(second.snapshot.values == [1, 2, 3, 4])
                #expect(second.snapshot.cleared == 1, "state present: not cleared again")
                try await core.close()
            }
            // New version: the core asks the view to clear, then rebuilds from zero.
            let third = OwnStateView(storage: second.snapshot)
            let core = try await Kappa<Int>(path: dir.path)
            try await core.use("own", version: 2, third)
            try await core.ready()
            #expect(third.snapshot.cleared == 2)
            #expect(third.snapshot.values == [1, 2, 3, 4])
            try await core.close()
        }
    }

    @Test func ownStateViewWithDataButNoStateIsClearedFirst() async throws {
        let core = try await Kappa<Int>(storage: .memory)
        try await core.writer("w").append(contentsOf: [5, 6])
        // Data kept from an earlier run whose progress was never stored.
        let view = OwnStateView(storage: .init(values: [5, 6], state: nil))
        try await core.use("own", view)
        try await core.ready()
        #expect(view.snapshot.values == [5, 6], "indexed once, not on top of the stale data")
        try await core.close()
    }

    @Test func encodings() async throws {
        let text = try await Kappa<String>(storage: .memory, encoding: .utf8)
        let w = try await text.writer("t")
        try await w.append("héllo")
        #expect(try await w.feed.get(0) == Array("héllo".utf8))
        try await text.close()
        let bytes = try await Kappa<[UInt8]>(storage: .memory, encoding: .binary)
        try await bytes.writer("b").append([0, 255])
        #expect(try await bytes.writer("b").feed.get(0) == [0, 255])
        try await bytes.close()
    }
}

@Suite(.timeLimit(.minutes(2))) struct OpenFileTests {
    @Test func manyFeedsStayWithinTheOpenFileBound() async throws {
        try await withTemporaryDirectory { dir in
            let options = KappaOptions(durability: .relaxed, maxOpenFiles: 12)
            let core = try await Kappa<Int>(path: dir.path, options: options)
            let sum = SumView()
            try await core.use("sum", sum)
            for w in 0..<40 {
                try await core.writer("w\(w)").append(contentsOf: [w, 1])
            }
            try await core.ready()
            #expect(try sum.value == (0..<40).reduce(0, +) + 40)
            #expect(await core.openFeedFiles <= 12)
            try await core.close()

            let reopened = try await Kappa<Int>(path: dir.path, options: options)
            #expect(await reopened.feeds().count == 40)
            for feed in await reopened.feeds() { #expect(await feed.length == 2) }
            #expect(await reopened.openFeedFiles <= 12)
            try await reopened.close()
        }
    }
}
