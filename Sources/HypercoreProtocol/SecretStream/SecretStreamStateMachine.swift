import Hypercore

/// What both sides agreed on in the handshake.
struct EstablishedSession: Sendable {
    var isInitiator: Bool
    var handshakeHash: [UInt8]
    var localPublicKey: PublicKey
    var remotePublicKey: PublicKey
}

/// The state of a secret stream, without I/O: the handshake's waiters, the buffer of decrypted messages and its
/// consumer, the outbound cipher and the write lock that keeps encryption order equal to write order, the
/// timestamps the timers read, and how the stream ended.
///
/// Lives behind the storage's lock. Every event is one `mutating func`; continuations to resume are returned as
/// ``Effects`` and resumed by the caller after the lock is released.
struct SecretStreamStateMachine {
    typealias MessageContinuation = CheckedContinuation<[UInt8]?, any Error>
    typealias WriterContinuation = CheckedContinuation<Void, any Error>
    typealias HandshakeContinuation = CheckedContinuation<EstablishedSession, any Error>

    /// Continuations to resume once the lock is released, and whether the transport must be closed.
    struct Effects {
        fileprivate var message: (MessageContinuation, Result<[UInt8]?, any Error>)?
        fileprivate var handshake: [(HandshakeContinuation, Result<EstablishedSession, any Error>)] = []
        fileprivate var writers: [(WriterContinuation, Result<Void, any Error>)] = []
        fileprivate var pump: CheckedContinuation<Void, Never>?
        fileprivate var end: CheckedContinuation<Void, Never>?
        /// True when the caller must close the transport (the first time the stream ends).
        var closeTransport = false

        /// Resumes every continuation collected.
        func resume() {
            if let (continuation, result) = message { continuation.resume(with: result) }
            for (continuation, result) in handshake { continuation.resume(with: result) }
            for (continuation, result) in writers { continuation.resume(with: result) }
            pump?.resume()
            end?.resume()
        }
    }

    private enum Handshake {
        case pending([Int: HandshakeContinuation])
        case done(EstablishedSession)
        case failed(any Error)
    }

    private enum InboundEnd {
        /// The peer closed the connection at a frame boundary.
        case finished
        /// ``close()`` was called: buffered messages are dropped.
        case closedLocally
        /// The peer or the transport failed the stream; buffered messages are delivered first.
        case failed(ReplicationError)
    }

    /// What ``next()`` found.
    enum NextAction {
        /// A message, and the reader to resume when the buffer drained below half (the hot path: no
        /// ``Effects``, whose generic tuples cost a metadata lookup per call).
        case message([UInt8], resumeReader: CheckedContinuation<Void, Never>?)
        case end
        case fail(any Error)
        case suspend
    }

    /// What ``tryLockWriter()`` found.
    enum LockAction {
        case acquired
        case busy
        case fail(ReplicationError)
    }

    private var handshake = Handshake.pending([:])

    // Inbound.
    private var buffer: [[UInt8]] = []
    private var bufferHead = 0
    private var bufferedBytes = 0
    private var inboundEnd: InboundEnd?
    private var consumer: MessageContinuation?
    private var pumpWaiter: CheckedContinuation<Void, Never>?
    private let receiveBufferSize: Int
    /// When bytes last arrived from the peer (or the consumer last had a backlog).
    private(set) var lastReceived: ContinuousClock.Instant

    // Outbound.
    private var push: SecretStreamPushCipher?
    private var outboundError: ReplicationError?
    private var writeLocked = false
    private var writers: [(id: Int, continuation: WriterContinuation)] = []
    /// When a message was last encrypted for the peer.
    private(set) var lastSent: ContinuousClock.Instant

    // Lifetime.
    private var ended = false
    private var endWaiter: CheckedContinuation<Void, Never>?
    private var nextID = 0

    init(receiveBufferSize: Int, now: ContinuousClock.Instant) {
        self.receiveBufferSize = max(receiveBufferSize, 1)
        self.lastReceived = now
        self.lastSent = now
    }

    /// A fresh id for a waiter that may be cancelled.
    mutating func makeID() -> Int {
        nextID += 1
        return nextID
    }

    // MARK: - Handshake

    /// Installs the sending cipher once the handshake's keys are known (before the peer's header arrives).
    mutating func outboundReady(_ cipher: SecretStreamPushCipher) {
        push = cipher
    }

    /// Both header frames are exchanged: the stream is open.
    mutating func established(_ session: EstablishedSession) -> Effects {
        var effects = Effects()
        if case .pending(let waiters) = handshake {
            effects.handshake = waiters.values.map { ($0, .success(session)) }
            handshake = .done(session)
        }
        return effects
    }

    /// Waits for the handshake (or finds it done or failed).
    mutating func waitForHandshake(id: Int, _ continuation: HandshakeContinuation, cancelled: Bool) -> Effects {
        var effects = Effects()
        switch handshake {
        case .done(let session):
            effects.handshake = [(continuation, .success(session))]
        case .failed(let error):
            effects.handshake = [(continuation, .failure(error))]
        case .pending(var waiters):
            if cancelled {
                effects.handshake = [(continuation, .failure(CancellationError()))]
            } else {
                waiters[id] = continuation
                handshake = .pending(waiters)
            }
        }
        return effects
    }

    /// A handshake waiter was cancelled.
    mutating func cancelHandshakeWaiter(id: Int) -> HandshakeContinuation? {
        guard case .pending(var waiters) = handshake, let continuation = waiters.removeValue(forKey: id) else {
            return nil
        }
        handshake = .pending(waiters)
        return continuation
    }

    // MARK: - Inbound

    /// Bytes arrived during the handshake.
    mutating func activity(now: ContinuousClock.Instant) {
        lastReceived = now
    }

    /// A chunk was processed: `messages` (non-empty ones, `byteCount` bytes in all) were decrypted from it.
    /// Returns whether the reader should pause until the consumer catches up.
    mutating func received(_ messages: [[UInt8]], byteCount: Int, now: ContinuousClock.Instant) -> (Effects, pause: Bool) {
        lastReceived = now
        var effects = Effects()
        guard inboundEnd == nil, !messages.isEmpty else { return (effects, false) }
        var messages = messages[...]
        var buffered = byteCount
        if let consumer, let first = messages.popFirst() {
            self.consumer = nil
            effects.message = (consumer, .success(first))
            buffered -= first.count
        }
        buffer.append(contentsOf: messages)
        bufferedBytes += buffered
        return (effects, bufferedBytes > receiveBufferSize)
    }

    /// The reader waits for the consumer to drain the buffer.
    mutating func waitForRoom(_ continuation: CheckedContinuation<Void, Never>, cancelled: Bool) -> Effects {
        var effects = Effects()
        if cancelled || ended || inboundEnd != nil || bufferedBytes <= receiveBufferSize / 2 {
            effects.pump = continuation
        } else {
            pumpWaiter = continuation
        }
        return effects
    }

    /// The reader's wait was cancelled.
    mutating func cancelWaitForRoom() -> CheckedContinuation<Void, Never>? {
        defer { pumpWaiter = nil }
        return pumpWaiter
    }

    /// The peer closed the connection at a frame boundary.
    mutating func inboundFinished() -> Effects {
        var effects = Effects()
        guard inboundEnd == nil else { return effects }
        inboundEnd = .finished
        if let consumer {
            self.consumer = nil
            effects.message = (consumer, .success(nil))
        }
        return effects
    }

    /// The consumer asks for the next message.
    mutating func next() -> NextAction {
        if case .closedLocally = inboundEnd { return .end }
        if bufferHead < buffer.count {
            let message = buffer[bufferHead]
            buffer[bufferHead] = []
            bufferHead += 1
            bufferedBytes -= message.count
            if bufferHead == buffer.count {
                buffer.removeAll(keepingCapacity: true)
                bufferHead = 0
            } else if bufferHead >= 1024, bufferHead * 2 >= buffer.count {
                buffer.removeSubrange(0..<bufferHead)
                bufferHead = 0
            }
            var reader: CheckedContinuation<Void, Never>?
            if let pumpWaiter, bufferedBytes <= receiveBufferSize / 2 {
                self.pumpWaiter = nil
                reader = pumpWaiter
            }
            return .message(message, resumeReader: reader)
        }
        switch inboundEnd {
        case nil: return .suspend
        case .finished, .closedLocally: return .end
        case .failed(let error): return .fail(error)
        }
    }

    /// The consumer suspends until a message arrives (or finds one that arrived meanwhile).
    mutating func suspendConsumer(_ continuation: MessageContinuation, cancelled: Bool) -> Effects {
        var effects = Effects()
        if cancelled {
            effects.message = (continuation, .failure(CancellationError()))
            return effects
        }
        switch next() {
        case .message(let message, let reader):
            effects.message = (continuation, .success(message))
            effects.pump = reader
        case .end:
            effects.message = (continuation, .success(nil))
        case .fail(let error):
            effects.message = (continuation, .failure(error))
        case .suspend:
            if consumer != nil {
                effects.message = (continuation, .failure(
                    ReplicationError(.protocolViolation, "SecretStream.messages is iterated by two tasks at once")))
            } else {
                consumer = continuation
            }
        }
        return effects
    }

    /// The consumer's wait was cancelled.
    mutating func cancelConsumer() -> MessageContinuation? {
        defer { consumer = nil }
        return consumer
    }

    /// The idle timer asks when to look again (`nil` once the inbound side ended).
    func idleDeadline(timeout: Duration) -> ContinuousClock.Instant? {
        guard !ended, inboundEnd == nil else { return nil }
        return lastReceived + timeout
    }

    /// The idle timer woke up: fails the stream with `timeout` when nothing arrived for `timeout` and the
    /// consumer has no backlog (a slow consumer pauses reading; that is not the peer's silence).
    mutating func idleCheck(now: ContinuousClock.Instant, timeout: Duration) -> Effects? {
        guard !ended, inboundEnd == nil else { return nil }
        if bufferedBytes > 0 || pumpWaiter != nil {
            lastReceived = now
            return nil
        }
        guard now - lastReceived >= timeout else { return nil }
        return fail(ReplicationError(.timeout, "nothing received from the peer for \(timeout)"))
    }

    // MARK: - Outbound

    /// The error sends throw once the stream ended (`closed` after ``close()``).
    var outboundFailure: ReplicationError? { outboundError }

    /// Takes the write lock if it is free.
    mutating func tryLockWriter() -> LockAction {
        if let outboundError { return .fail(outboundError) }
        if writeLocked { return .busy }
        writeLocked = true
        return .acquired
    }

    /// Queues for the write lock (or takes it if it was released meanwhile).
    mutating func enqueueWriter(id: Int, _ continuation: WriterContinuation, cancelled: Bool) -> Effects {
        var effects = Effects()
        if let outboundError {
            effects.writers = [(continuation, .failure(outboundError))]
        } else if cancelled {
            effects.writers = [(continuation, .failure(CancellationError()))]
        } else if !writeLocked {
            writeLocked = true
            effects.writers = [(continuation, .success(()))]
        } else {
            writers.append((id, continuation))
        }
        return effects
    }

    /// A queued writer was cancelled.
    mutating func cancelWriter(id: Int) -> WriterContinuation? {
        guard let index = writers.firstIndex(where: { $0.id == id }) else { return nil }
        return writers.remove(at: index).continuation
    }

    /// Releases the write lock, handing it to the next queued writer.
    mutating func unlockWriter() -> Effects {
        var effects = Effects()
        if writers.isEmpty {
            writeLocked = false
        } else {
            effects.writers = [(writers.removeFirst().continuation, .success(()))]
        }
        return effects
    }

    /// With the write lock held: the cipher to encrypt with (used outside the lock: the write lock keeps
    /// other writers away from it).
    /// - Throws: the error that ended the stream, or `closed`.
    mutating func cipherForWriter(now: ContinuousClock.Instant) throws(ReplicationError) -> SecretStreamPushCipher {
        if let outboundError { throw outboundError }
        guard let push else { throw ReplicationError(.closed, "the secret stream is not open yet") }
        lastSent = now
        return push
    }

    /// The keep-alive timer asks when to look again (`nil` once the stream ended).
    func keepAliveDeadline(interval: Duration) -> ContinuousClock.Instant? {
        guard !ended, outboundError == nil else { return nil }
        return lastSent + interval
    }

    /// The keep-alive timer woke up: takes the write lock when nothing was sent for `interval` and nobody is
    /// writing (a writer in progress is traffic already).
    mutating func lockWriterForKeepAlive(now: ContinuousClock.Instant, interval: Duration) -> Bool {
        guard !ended, outboundError == nil, push != nil, !writeLocked, now - lastSent >= interval else { return false }
        writeLocked = true
        return true
    }

    // MARK: - Ending

    /// The stream failed (a tampered or malformed frame, a failed handshake, the transport, a timeout).
    /// Buffered messages stay readable; then the consumer gets `error`.
    mutating func fail(_ error: ReplicationError) -> Effects {
        var effects = Effects()
        guard !ended else { return effects }
        ended = true
        effects.closeTransport = true
        if case .pending(let waiters) = handshake {
            effects.handshake = waiters.values.map { ($0, .failure(error)) }
            handshake = .failed(error)
        }
        if inboundEnd == nil { inboundEnd = .failed(error) }
        if let consumer {
            self.consumer = nil
            if case .failed(let inboundError) = inboundEnd {
                effects.message = (consumer, .failure(inboundError))
            } else {
                effects.message = (consumer, .success(nil))
            }
        }
        endOutbound(error, into: &effects)
        return effects
    }

    /// The stream was closed locally: messages end, sends throw `closed`.
    mutating func close() -> Effects {
        var effects = Effects()
        guard !ended else { return effects }
        ended = true
        effects.closeTransport = true
        let error = ReplicationError(.closed, "the secret stream was closed")
        if case .pending(let waiters) = handshake {
            effects.handshake = waiters.values.map { ($0, .failure(error)) }
            handshake = .failed(error)
        }
        inboundEnd = .closedLocally
        buffer = []
        bufferHead = 0
        bufferedBytes = 0
        if let consumer {
            self.consumer = nil
            effects.message = (consumer, .success(nil))
        }
        endOutbound(error, into: &effects)
        return effects
    }

    private mutating func endOutbound(_ error: ReplicationError, into effects: inout Effects) {
        if outboundError == nil { outboundError = error }
        effects.writers = writers.map { ($0.continuation, .failure(error)) }
        writers = []
        push = nil
        effects.pump = pumpWaiter
        pumpWaiter = nil
        effects.end = endWaiter
        endWaiter = nil
    }

    /// `run()` waits until the stream ends.
    mutating func waitForEnd(_ continuation: CheckedContinuation<Void, Never>, cancelled: Bool) -> Effects {
        var effects = Effects()
        if ended || cancelled {
            effects.end = continuation
        } else {
            endWaiter = continuation
        }
        return effects
    }

    /// `run()` was cancelled while waiting.
    mutating func cancelWaitForEnd() -> CheckedContinuation<Void, Never>? {
        defer { endWaiter = nil }
        return endWaiter
    }
}
