import Foundation
import Synchronization
import KappaCore

/// The README's sum view: the total of all Int entries, in the core's store (exactly-once).
struct SumView: KappaView {
    let store = ViewStore()
    var maxBatch: Int = 100
    let mapped = MapLog()

    func map(_ entries: [KappaEntry<Int>], _ transaction: ViewTransaction) throws {
        mapped.log.withLock { $0.append(entries.map(\.value)) }
        let sum: Int = try transaction.get("sum") ?? 0
        try transaction.put("sum", sum + entries.reduce(0) { $0 + $1.value })
        try transaction.put("count", (try transaction.get("count") ?? 0) + entries.count)
    }

    var value: Int { get throws { try store.get("sum") ?? 0 } }
    var count: Int { get throws { try store.get("count") ?? 0 } }
    var batches: [[Int]] { mapped.log.withLock { $0 } }
}

/// The batches a view was given.
final class MapLog: Sendable {
    let log = Mutex<[[Int]]>([])
}

/// Records entries in memory; map can be gated (to hold a batch in flight) and made to fail.
final class RecordingView: KappaView, Sendable {
    typealias Value = Int
    let maxBatch: Int
    private let state = Mutex<(entries: [KappaEntry<Int>], failNext: Int, gate: CheckedContinuation<Void, Never>?,
                               gated: Bool, entered: Int)>(([], 0, nil, false, 0))

    init(maxBatch: Int = 100) { self.maxBatch = maxBatch }

    var entries: [KappaEntry<Int>] { state.withLock { $0.entries } }
    var values: [Int] { entries.map(\.value) }

    func failNext(_ n: Int) { state.withLock { $0.failNext = n } }
    func closeGate() { state.withLock { $0.gated = true } }
    func openGate() {
        let c = state.withLock { s -> CheckedContinuation<Void, Never>? in
            s.gated = false
            defer { s.gate = nil }
            return s.gate
        }
        c?.resume()
    }
    var entered: Int { state.withLock { $0.entered } }

    func map(_ entries: [KappaEntry<Int>], _ transaction: ViewTransaction) async throws {
        let mustWait = state.withLock { s -> Bool in
            s.entered += 1
            return s.gated
        }
        if mustWait {
            await withCheckedContinuation { c in
                let resumeNow = state.withLock { s -> Bool in
                    if !s.gated { return true }
                    s.gate = c
                    return false
                }
                if resumeNow { c.resume() }
            }
        }
        let fail = state.withLock { s -> Bool in
            if s.failNext > 0 {
                s.failNext -= 1
                return true
            }
            s.entries.append(contentsOf: entries)
            return false
        }
        if fail { throw TestFailure() }
    }
}

struct TestFailure: Error {}

/// Waits until `condition` holds (polling), for tests that need a batch to be in flight.
func eventually(_ condition: () async throws -> Bool) async throws {
    for _ in 0..<2000 {
        if try await condition() { return }
        try await Task.sleep(for: .milliseconds(5))
    }
    throw TestFailure()
}

/// A view that keeps its data and progress outside the core's store (at-least-once).
final class OwnStateView: KappaView, ViewStateStorage, Sendable {
    typealias Value = Int
    struct Storage {
        var values: [Int] = []
        var state: [UInt8]?
        var cleared = 0
        var stored = 0
    }
    /// Survives the view object, like a real external store would.
    let storage: Mutex<Storage>

    init(storage: Storage = Storage()) {
        self.storage = Mutex(storage)
    }

    var snapshot: Storage { storage.withLock { $0 } }
    var stateStorage: (any ViewStateStorage)? { self }

    func map(_ entries: [KappaEntry<Int>], _ transaction: ViewTransaction) throws {
        storage.withLock { $0.values += entries.map(\.value) }
    }

    func fetchState() async throws -> [UInt8]? { storage.withLock { $0.state } }
    func storeState(_ state: [UInt8]) async throws {
        storage.withLock {
            $0.state = state
            $0.stored += 1
        }
    }
    func clearState() async throws {
        storage.withLock {
            $0.values = []
            $0.state = nil
            $0.cleared += 1
        }
    }
}
