@testable import HypercoreProtocol
import Testing

/// The timer decisions of the secret stream, on a fixed clock (the end-to-end tests cannot pin time down on a
/// loaded machine).
@Suite struct SecretStreamStateMachineTests {
    static let t0 = ContinuousClock.now

    static func established() -> SecretStreamStateMachine {
        var machine = SecretStreamStateMachine(receiveBufferSize: 1000, now: t0)
        let key = [UInt8](repeating: 7, count: 32)
        var header = [UInt8](repeating: 0, count: 24)
        let cipher = key.withUnsafeBytes { k in
            header.withUnsafeMutableBufferPointer { SecretStreamPushCipher(key: k, header: $0.baseAddress!) }
        }
        machine.outboundReady(cipher)
        return machine
    }

    @Test func aKeepAliveFromThePeerRestartsTheIdleTimer() {
        var machine = Self.established()
        let second = Duration.seconds(1)
        #expect(machine.idleDeadline(timeout: second) == Self.t0 + second)
        let early = machine.idleCheck(now: Self.t0 + .milliseconds(900), timeout: second)
        #expect(early == nil)
        // An empty message (a keep-alive) decrypted at 0.9 s: nothing is delivered, but the peer is alive.
        _ = machine.received([], byteCount: 0, now: Self.t0 + .milliseconds(900))
        let refreshed = machine.idleCheck(now: Self.t0 + .milliseconds(1500), timeout: second)
        #expect(refreshed == nil)
        #expect(machine.idleDeadline(timeout: second) == Self.t0 + .milliseconds(1900))
        let effects = machine.idleCheck(now: Self.t0 + .milliseconds(1900), timeout: second)
        #expect(effects?.closeTransport == true)
        guard case .fail(let error as ReplicationError) = machine.next() else {
            Issue.record("messages should end with the timeout")
            return
        }
        #expect(error.code == .timeout)
        #expect(machine.idleDeadline(timeout: second) == nil)
    }

    @Test func aBacklogIsNotSilence() {
        var machine = Self.established()
        _ = machine.received([[1, 2, 3]], byteCount: 3, now: Self.t0)
        // The consumer has not read for ten seconds: reading paused, that is not the peer's silence.
        let backlog = machine.idleCheck(now: Self.t0 + .seconds(10), timeout: .seconds(1))
        #expect(backlog == nil)
        guard case .message(let message, _) = machine.next() else {
            Issue.record("the buffered message should be there")
            return
        }
        #expect(message == [1, 2, 3])
        let drained = machine.idleCheck(now: Self.t0 + .seconds(10) + .milliseconds(500), timeout: .seconds(1))
        #expect(drained == nil)
        let silent = machine.idleCheck(now: Self.t0 + .seconds(11), timeout: .seconds(1))
        #expect(silent != nil)
    }

    @Test func keepAlivesGoOutOnlyAfterAnIntervalWithoutSending() throws {
        var machine = Self.established()
        let interval = Duration.seconds(5)
        #expect(machine.keepAliveDeadline(interval: interval) == Self.t0 + interval)
        let atFour = machine.lockWriterForKeepAlive(now: Self.t0 + .seconds(4), interval: interval)
        #expect(!atFour)
        // A message sent at 4 s postpones the next keep-alive to 9 s.
        guard case .acquired = machine.tryLockWriter() else {
            Issue.record("the write lock is free")
            return
        }
        _ = try machine.cipherForWriter(now: Self.t0 + .seconds(4))
        _ = machine.unlockWriter()
        let atSix = machine.lockWriterForKeepAlive(now: Self.t0 + .seconds(6), interval: interval)
        #expect(!atSix)
        #expect(machine.keepAliveDeadline(interval: interval) == Self.t0 + .seconds(9))
        let atNine = machine.lockWriterForKeepAlive(now: Self.t0 + .seconds(9), interval: interval)
        #expect(atNine)
        // It holds the write lock now: no second keep-alive, and a sender waits.
        let again = machine.lockWriterForKeepAlive(now: Self.t0 + .seconds(20), interval: interval)
        #expect(!again)
        guard case .busy = machine.tryLockWriter() else {
            Issue.record("the keep-alive holds the write lock")
            return
        }
    }

    @Test func noKeepAliveBeforeTheHandshakeOrAfterTheEnd() {
        var fresh = SecretStreamStateMachine(receiveBufferSize: 1000, now: Self.t0)
        let beforeHandshake = fresh.lockWriterForKeepAlive(now: Self.t0 + .seconds(60), interval: .seconds(5))
        #expect(!beforeHandshake)
        var machine = Self.established()
        _ = machine.close()
        #expect(machine.keepAliveDeadline(interval: .seconds(5)) == nil)
        let afterClose = machine.lockWriterForKeepAlive(now: Self.t0 + .seconds(60), interval: .seconds(5))
        #expect(!afterClose)
        guard case .fail(let error) = machine.tryLockWriter() else {
            Issue.record("sends after close must fail")
            return
        }
        #expect(error.code == .closed)
    }
}
