import Testing
import Hypercore
@testable import KappaCore

/// The indexer's control state on its own: every event and what it asks the actor to do.
@Suite struct IndexerStateMachineTests {
    let key = KeyPair.random().publicKey
    static func done(_: [PublicKey: UInt64]) -> Bool { true }
    static func notDone(_: [PublicKey: UInt64]) -> Bool { false }

    @Test func readyWaitsUntilACommitCoversItsTarget() {
        var machine = IndexerStateMachine()
        let r1 = machine.ready(id: 1, target: [key: 5], Self.notDone)
        #expect(r1 == nil)
        let r2 = machine.batchArrived()
        #expect(r2)
        let r3 = machine.batchCommitted(Self.notDone)
        #expect(r3.ready.isEmpty)
        let r4 = machine.batchArrived()
        #expect(r4)
        let wakeups = machine.batchCommitted(Self.done)
        #expect(wakeups.ready.map(\.id) == [1])
        if case .ready = wakeups.ready[0].result {} else { Issue.record("expected ready") }
        if case .ready? = machine.ready(id: 2, target: [key: 5], Self.done) {} else { Issue.record("done at once") }
    }

    @Test func pauseDuringABatchWaitsForItsCommit() {
        var machine = IndexerStateMachine()
        let r5 = machine.batchArrived()
        #expect(r5)
        let (action, _) = machine.pause(id: 7, Self.notDone)
        #expect(action == .wait)
        #expect(machine.loopAction == .index)
        let wakeups = machine.batchCommitted(Self.notDone)
        #expect(wakeups.pauses == [7])
        #expect(machine.loopAction == .waitForResume)
        let r6 = machine.batchArrived()
        #expect(!r6, "a batch that arrives while paused is not mapped")
        // A paused view answers ready at once.
        if case .ready? = machine.ready(id: 8, target: [key: 1], Self.notDone) {} else { Issue.record("ready while paused") }
        let r7 = machine.resume()
        #expect(r7.action == .wake)
        #expect(machine.loopAction == .index)
    }

    @Test func pauseWhileWaitingIsImmediateAndSettlesReady() {
        var machine = IndexerStateMachine()
        let r8 = machine.ready(id: 1, target: [key: 1], Self.notDone)
        #expect(r8 == nil)
        let (action, wakeups) = machine.pause(id: 2, Self.notDone)
        #expect(action == .done)
        #expect(wakeups.ready.map(\.id) == [1])
    }

    @Test func resumeDuringPausingCancelsThePause() {
        var machine = IndexerStateMachine()
        _ = machine.batchArrived()
        _ = machine.pause(id: 3, Self.notDone)
        let (action, wakeups) = machine.resume()
        #expect(action == .none)
        #expect(wakeups.pauses == [3])
        _ = machine.batchCommitted(Self.notDone)
        #expect(machine.loopAction == .index)
    }

    @Test func failureFailsWaitersAndResumeReloads() {
        var machine = IndexerStateMachine()
        let r9 = machine.ready(id: 1, target: [key: 9], Self.notDone)
        #expect(r9 == nil)
        _ = machine.batchArrived()
        _ = machine.pause(id: 2, Self.notDone)
        let wakeups = machine.batchFailed(KappaError(.viewFailed, "boom"), Self.notDone)
        #expect(wakeups.pauses == [2])
        if case .failed(let error) = wakeups.ready.first?.result { #expect(error.code == .viewFailed) } else {
            Issue.record("ready fails with the view's error")
        }
        if case .failed? = machine.ready(id: 3, target: [:], Self.done) {} else { Issue.record("failed view throws") }
        let r10 = machine.resume()
        #expect(r10.action == .reloadAndWake)
        #expect(machine.loopAction == .index)
    }

    @Test func stopClosesEveryWaiterAndCancelledWaitersAreForgotten() {
        var machine = IndexerStateMachine()
        let r11 = machine.ready(id: 1, target: [key: 9], Self.notDone)
        #expect(r11 == nil)
        let r12 = machine.ready(id: 2, target: [key: 9], Self.notDone)
        #expect(r12 == nil)
        let r13 = machine.cancelReady(id: 2)
        #expect(r13)
        let r14 = machine.cancelReady(id: 2)
        #expect(!r14)
        _ = machine.batchArrived()
        _ = machine.pause(id: 5, Self.notDone)
        let r15 = machine.cancelPause(id: 5)
        #expect(r15)
        let wakeups = machine.stop()
        #expect(wakeups.ready.map(\.id) == [1])
        if case .closed = wakeups.ready[0].result {} else { Issue.record("closed") }
        #expect(wakeups.pauses.isEmpty)
        #expect(machine.loopAction == .stop)
        let r16 = machine.batchFailed(KappaError(.viewFailed, "late"), Self.notDone)
        #expect(r16.isEmpty)
        #expect(machine.loopAction == .stop)
    }
}
