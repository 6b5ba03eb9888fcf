import Hypercore
import HypercoreProtocol
import KappaTesting
import Testing

@Suite(.timeLimit(.minutes(5))) struct SecretStreamTests {
    @Test func bothSidesAgreeOnTheHandshake() async throws {
        let (a, b) = (KeyPair.random(), KeyPair.random())
        let seen = Locked<[String: [UInt8]]>([:])
        let (i, r) = await runPair(InProcessStream.pair(), identities: (a, b)) { stream in
            #expect(stream.isInitiator)
            #expect(stream.localPublicKey == a.publicKey)
            #expect(stream.remotePublicKey == b.publicKey)
            seen.withLock { $0["i"] = stream.handshakeHash }
            return SideOutcome()
        } responder: { stream in
            #expect(!stream.isInitiator)
            #expect(stream.localPublicKey == b.publicKey)
            #expect(stream.remotePublicKey == a.publicKey)
            seen.withLock { $0["r"] = stream.handshakeHash }
            return SideOutcome()
        }
        #expect(i.error == nil && r.error == nil)
        let hashes = seen.withLock { $0 }
        #expect(hashes["i"]?.count == 64)
        #expect(hashes["i"] == hashes["r"])
    }

    static let sizes = [0, 1, 2, 16, 17, 18, 100, 255, 256, 1000, 4095, 4096, 16_384, 65_535, 65_536, 65_537, 70_000]

    @Test func messagesOfEverySizeCrossIntactWithTheirBoundaries() async throws {
        let sent = Self.sizes.enumerated().map { payload($0.offset, size: $0.element) }
        // Empty messages are keep-alives: the receiver drops them.
        let expected = sent.filter { !$0.isEmpty }
        let (i, r) = await runPair(InProcessStream.pair()) { stream in
            for message in sent { try await stream.send(message) }
            try await stream.send(contentsOf: sent)
            return await collect(stream, count: expected.count * 2)
        } responder: { stream in
            try await stream.send(contentsOf: sent)
            for message in sent { try await stream.send(message) }
            return await collect(stream, count: expected.count * 2)
        }
        #expect(i.error == nil && r.error == nil)
        #expect(r.received == expected + expected)
        #expect(i.received == expected + expected)
    }

    @Test func messagesEndWhenThePeerClosesAtABoundary() async throws {
        let (i, r) = await runPair(InProcessStream.pair()) { stream in
            try await stream.send([1, 2, 3])
            return SideOutcome()  // returning closes the stream and the transport
        } responder: { stream in
            await collect(stream)
        }
        #expect(i.error == nil)
        #expect(r.error == nil)
        #expect(r.received == [[1, 2, 3]])
    }

    @Test func theLargestMessageCrossesAndOneByteMoreIsRefused() async throws {
        var bytes = [UInt8](repeating: 0xab, count: SecretStream.maximumMessageLength)
        for i in stride(from: 0, to: bytes.count, by: 4099) { bytes[i] = UInt8(truncatingIfNeeded: i >> 12) }
        let largest = bytes
        let (i, r) = await runPair(InProcessStream.pair()) { stream in
            let error = await #expect(throws: ReplicationError.self) {
                try await stream.send(contentsOf: [[9], [UInt8](repeating: 0, count: SecretStream.maximumMessageLength + 1)])
            }
            #expect(error?.code == .frameTooLarge)
            // Nothing of the refused batch was sent, and the stream still works.
            try await stream.send(largest)
            try await stream.send([7])
            return SideOutcome()
        } responder: { stream in
            await collect(stream)
        }
        #expect(i.error == nil && r.error == nil)
        #expect(r.received.count == 2)
        #expect(r.received.first == largest)
        #expect(r.received.last == [7])
    }

    @Test func keepAlivesFlowWhileIdleAndAreDropped() async throws {
        let (x, y) = InProcessStream.pair()
        let recorder = RecordingStream(x)
        let fast = SecretStream.Options(keepAliveInterval: .milliseconds(50))
        let patient = SecretStream.Options(keepAliveInterval: nil, idleTimeout: nil)
        // A keep-alive is an empty secret-stream message: 20 bytes on the wire, length prefix 17.
        @Sendable func keepAlives() -> Int {
            recorder.writes.filter { $0.count == 20 && $0.prefix(3) == [17, 0, 0] }.count
        }
        let (i, r) = await runPair((recorder, y), options: (fast, patient)) { stream in
            // Idle until the timer has sent five.
            for _ in 0..<3000 where keepAlives() < 5 {
                try await Task.sleep(for: .milliseconds(10))
            }
            try await stream.send([42])
            return SideOutcome()
        } responder: { stream in
            await collect(stream)
        }
        #expect(i.error == nil && r.error == nil)
        #expect(keepAlives() >= 5)
        // The responder delivered none of them, and the message after them decrypted: secretstream nonces
        // advance per message, so each keep-alive was pulled, in order, and dropped.
        #expect(r.received == [[42]])
    }

    @Test func silenceEndsMessagesWithTimeout() async throws {
        let clock = ContinuousClock()
        let quiet = SecretStream.Options(keepAliveInterval: nil, idleTimeout: nil)
        let watchful = SecretStream.Options(keepAliveInterval: nil, idleTimeout: .seconds(1))
        let start = clock.now
        let (i, r) = await runPair(InProcessStream.pair(), options: (quiet, watchful)) { stream in
            // Waits for the peer; the peer's timeout closes the connection, which ends these messages.
            await collect(stream)
        } responder: { stream in
            await collect(stream)
        }
        let elapsed = clock.now - start
        #expect(r.replicationError?.code == .timeout)
        // The responder closed the connection: the initiator's messages ended cleanly (or, on a machine
        // so loaded that the handshake itself outlasted the timeout, with the handshake cut short).
        #expect(i.error == nil || i.replicationError?.code == .connectionClosed)
        #expect(elapsed >= .seconds(1))
    }

    @Test func aSilentPeerTimesOutTheHandshake() async throws {
        let (x, _) = InProcessStream.pair()
        let error = await #expect(throws: ReplicationError.self) {
            try await SecretStream.withSecretStream(
                over: x, isInitiator: true, identity: .random(),
                options: .init(idleTimeout: .milliseconds(150))
            ) { _ in Issue.record("the handshake cannot complete") }
        }
        #expect(error?.code == .timeout)
    }

    @Test func cancellationEndsAHandshakeInProgress() async throws {
        let (x, _) = InProcessStream.pair()
        let task = Task {
            try await SecretStream.withSecretStream(
                over: x, isInitiator: false, identity: .random(),
                options: .init(keepAliveInterval: nil, idleTimeout: nil)
            ) { _ in Issue.record("the handshake cannot complete") }
        }
        try await Task.sleep(for: .milliseconds(50))
        task.cancel()
        await #expect(throws: CancellationError.self) { try await task.value }
    }

    @Test func cancellationEndsAWaitForMessages() async throws {
        let (i, r) = await runPair(InProcessStream.pair()) { stream in
            let reader = Task { await collect(stream) }
            try await Task.sleep(for: .milliseconds(50))
            reader.cancel()
            let outcome = await reader.value
            #expect(outcome.error is CancellationError)
            return outcome
        } responder: { stream in
            await collect(stream)
        }
        #expect(i.error is CancellationError)
        #expect(r.error == nil)  // the initiator returned and closed: a clean end
    }

    @Test func closeEndsMessagesAndLaterSendsThrowClosed() async throws {
        let (i, r) = await runPair(InProcessStream.pair()) { stream in
            let reader = Task { await collect(stream) }
            try await Task.sleep(for: .milliseconds(30))
            await stream.close()
            let outcome = await reader.value
            #expect(outcome.error == nil && outcome.received.isEmpty)
            let error = await #expect(throws: ReplicationError.self) { try await stream.send([1]) }
            #expect(error?.code == .closed)
            await stream.close()  // twice is fine
            return outcome
        } responder: { stream in
            await collect(stream)
        }
        #expect(i.error == nil && r.error == nil)
    }

    @Test func nothingOutlivesWithSecretStream() async throws {
        let (x, y) = InProcessStream.pair()
        let (probeX, probeY) = (ProbeStream(x), ProbeStream(y))
        // Keep-alives every 20 ms on both sides, so a timer left running would write.
        let chatty = SecretStream.Options(keepAliveInterval: .milliseconds(20))
        let (i, r) = await runPair((probeX, probeY), options: (chatty, chatty)) { stream in
            // Until the keep-alive timer has written a few times (message 1 and message 3 with the header
            // are the first two writes).
            for _ in 0..<300 where probeX.writes.withLock({ $0 }) < 5 {
                try await Task.sleep(for: .milliseconds(10))
            }
            return SideOutcome()
        } responder: { stream in
            await collect(stream)
        }
        #expect(i.error == nil && r.error == nil)
        // Both calls returned: their reads ended and their timers stopped.
        #expect(probeX.activeReads.withLock { $0 } == 0)
        #expect(probeY.activeReads.withLock { $0 } == 0)
        let writes = (probeX.writes.withLock { $0 }, probeY.writes.withLock { $0 })
        #expect(writes.0 >= 5)
        try await Task.sleep(for: .milliseconds(150))
        #expect(probeX.writes.withLock { $0 } == writes.0)
        #expect(probeY.writes.withLock { $0 } == writes.1)
    }

    @Test func closeInsideTheBodyEndsTheReadTask() async throws {
        let (x, y) = InProcessStream.pair()
        let probe = ProbeStream(x)
        let (i, _) = await runPair((probe, y)) { stream in
            await stream.close()
            // The read task ends soon after close(), while the body still runs.
            for _ in 0..<6000 where probe.activeReads.withLock({ $0 }) > 0 {
                try await Task.sleep(for: .milliseconds(5))
            }
            #expect(probe.activeReads.withLock { $0 } == 0)
            return SideOutcome()
        } responder: { stream in
            await collect(stream)
        }
        #expect(i.error == nil)
    }

    @Test func concurrentSendersKeepEachOnesOrder() async throws {
        let senders = 8, perSender = 200
        let (i, r) = await runPair(InProcessStream.pair()) { stream in
            try await withThrowingTaskGroup(of: Void.self) { group in
                for s in 0..<senders {
                    group.addTask {
                        for n in 0..<perSender {
                            if n % 3 == 0 {
                                try await stream.send(contentsOf: [[UInt8(s), UInt8(n & 0xff), UInt8(n >> 8)]])
                            } else {
                                try await stream.send([UInt8(s), UInt8(n & 0xff), UInt8(n >> 8)])
                            }
                        }
                    }
                }
                try await group.waitForAll()
            }
            return SideOutcome()
        } responder: { stream in
            await collect(stream)
        }
        #expect(i.error == nil && r.error == nil)
        #expect(r.received.count == senders * perSender)
        for s in 0..<senders {
            let mine = r.received.filter { $0[0] == UInt8(s) }.map { Int($0[1]) | Int($0[2]) << 8 }
            #expect(mine == Array(0..<perSender))
        }
    }

    @Test func aSlowReaderPausesReadingWithoutLosingMessages() async throws {
        let small = SecretStream.Options(receiveBufferSize: 2_000)
        let sent = (0..<300).map { payload($0, size: 100 + $0 % 50) }
        let (i, r) = await runPair(InProcessStream.pair(), options: (small, small)) { stream in
            try await stream.send(contentsOf: sent)
            return await collect(stream)
        } responder: { stream in
            var outcome = SideOutcome()
            do {
                for try await message in stream.messages {
                    outcome.received.append(message)
                    if outcome.received.count % 50 == 0 { try await Task.sleep(for: .milliseconds(20)) }
                    if outcome.received.count == sent.count { break }
                }
            } catch {
                outcome.error = error
            }
            return outcome
        }
        #expect(i.error == nil && r.error == nil)
        #expect(r.received == sent)
    }

    @Test func aCutInTheMiddleOfAFrameEndsWithATransportError() async throws {
        // The initiator writes 35 + 67 + 59 bytes of handshake and header, then a 1000-byte message
        // (1020 bytes framed). Cut it in the middle of that frame.
        let (x, y) = InProcessStream.pair(faults: (.init(cutAfter: 161 + 500), .none))
        // No keep-alives: the cut is then the only thing that can end either side.
        let quiet = SecretStream.Options(keepAliveInterval: nil)
        let (i, r) = await runPair((x, y), options: (quiet, quiet)) { stream in
            try await stream.send(payload(0, size: 1000))
            return SideOutcome()
        } responder: { stream in
            await collect(stream)
        }
        #expect(i.replicationError?.code == .transport)
        #expect(r.received.isEmpty)
        #expect(r.replicationError?.code == .transport)
        #expect(r.replicationError?.cause is InProcessStream.ConnectionCut)
    }

    @Test func aCleanCloseInTheMiddleOfAFrameEndsWithConnectionClosed() async throws {
        let (x, y) = InProcessStream.pair()
        let (i, r) = await runPair((RecordingStream(x, endAfter: 161 + 20 + 500), y)) { stream in
            try await stream.send([1])  // 21 bytes framed: arrives whole
            try await stream.send(payload(0, size: 1000))
            return SideOutcome()
        } responder: { stream in
            await collect(stream)
        }
        #expect(i.error != nil)
        #expect(r.received == [[1]])
        #expect(r.replicationError?.code == .connectionClosed)
    }

    @Test func aCloseDuringTheHandshakeEndsWithConnectionClosed() async throws {
        let (x, y) = InProcessStream.pair()
        let (_, r) = await runPair((RecordingStream(x, endAfter: 35 + 30), y)) { _ in
            SideOutcome()
        } responder: { _ in
            Issue.record("the handshake cannot complete")
            return SideOutcome()
        }
        #expect(r.replicationError?.code == .connectionClosed)
    }
}

