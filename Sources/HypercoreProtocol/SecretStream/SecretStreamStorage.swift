import Hypercore
import Synchronization

/// The machinery behind a ``SecretStream``: the state behind a lock, the task that reads the transport (the
/// handshake, then decryption), the keep-alive and idle timers, and the serialised write path.
///
/// ``run()`` owns every task it starts, in a task group: it returns, with all of them ended, once the stream
/// ended (``close()``, a failure, a timeout) or when its own task is cancelled (which closes the stream).
final class SecretStreamStorage: Sendable {
    let transport: any ByteStream
    let isInitiator: Bool
    private let identity: KeyPair
    private let options: SecretStream.Options
    private let state: Mutex<SecretStreamStateMachine>

    init(transport: any ByteStream, isInitiator: Bool, identity: KeyPair, options: SecretStream.Options) {
        self.transport = transport
        self.isInitiator = isInitiator
        self.identity = identity
        self.options = options
        self.state = Mutex(SecretStreamStateMachine(receiveBufferSize: options.receiveBufferSize, now: .now))
    }

    // MARK: - Lifetime

    /// Runs the stream until it ends: reads and decrypts (after running the handshake), sends keep-alives,
    /// watches for silence. Cancelling the calling task closes the stream.
    func run() async {
        await withDiscardingTaskGroup { group in
            group.addTask { await self.readLoop() }
            if let interval = options.keepAliveInterval, interval > .zero {
                group.addTask { await self.keepAliveLoop(interval: interval) }
            }
            if let timeout = options.idleTimeout, timeout > .zero {
                group.addTask { await self.idleLoop(timeout: timeout) }
            }
            await waitForEnd()
            group.cancelAll()
        }
        await close()
    }

    /// Closes the stream: pending and later receives end, sends throw `closed`, the transport is closed.
    func close() async {
        let effects = state.withLock { $0.close() }
        effects.resume()
        if effects.closeTransport { await transport.close() }
    }

    private func fail(_ error: ReplicationError) async {
        let effects = state.withLock { $0.fail(error) }
        effects.resume()
        if effects.closeTransport { await transport.close() }
    }

    private func waitForEnd() async {
        await withTaskCancellationHandler {
            await withCheckedContinuation { continuation in
                state.withLock { $0.waitForEnd(continuation, cancelled: Task.isCancelled) }.resume()
            }
        } onCancel: {
            state.withLock { $0.cancelWaitForEnd() }?.resume()
        }
    }

    /// Waits until the handshake and the header exchange are done.
    /// - Throws: the error that ended the stream first, or `CancellationError`.
    func established() async throws -> EstablishedSession {
        let id = state.withLock { $0.makeID() }
        return try await withTaskCancellationHandler {
            try await withCheckedThrowingContinuation { continuation in
                state.withLock { $0.waitForHandshake(id: id, continuation, cancelled: Task.isCancelled) }.resume()
            }
        } onCancel: {
            state.withLock { $0.cancelHandshakeWaiter(id: id) }?.resume(throwing: CancellationError())
        }
    }

    // MARK: - Reading

    private func readLoop() async {
        do {
            try await read(from: transport)
        } catch let error as ReplicationError {
            await fail(error)
        } catch is CancellationError {
            // run() ended the stream.
        } catch {
            await fail(ReplicationError(.transport, "reading from the transport failed", cause: error))
        }
    }

    private func read<Transport: ByteStream>(from transport: Transport) async throws {
        var reader = TransportFrameReader(iterator: transport.inbound.makeAsyncIterator(), storage: self)
        let keys = try await handshake(&reader)
        let (pull, session) = try await exchangeHeaders(keys, &reader)
        state.withLock { $0.established(session) }.resume()
        try await receiveMessages(pull, &reader)
    }

    /// Runs the Noise handshake; the initiator's message 3 is left in `reader.pendingOutput`, to go out with
    /// the header frame in one write.
    private func handshake<I: AsyncIteratorProtocol<[UInt8], any Error>>(
        _ reader: inout TransportFrameReader<I>
    ) async throws -> NoiseTransportKeys {
        var noise = NoiseHandshake(isInitiator: isInitiator, staticKeyPair: identity)
        while !noise.isComplete {
            if noise.isWriting {
                let frame = try Framing.frame(noise.writeMessage())
                if noise.isComplete {
                    reader.pendingOutput = frame
                } else {
                    try await transport.write(frame)
                }
            } else {
                let message = try await reader.frame(during: "the Noise handshake")
                try noise.readMessage(message)
            }
        }
        return try noise.split()
    }

    /// Sends `streamId ‖ header` and checks the peer's.
    private func exchangeHeaders<I: AsyncIteratorProtocol<[UInt8], any Error>>(
        _ keys: consuming NoiseTransportKeys, _ reader: inout TransportFrameReader<I>
    ) async throws -> (SecretStreamPullCipher, EstablishedSession) {
        var header = [UInt8](repeating: 0, count: SecretStreamPushCipher.headerLength)
        let cipher = keys.withTransmitKey { key in
            header.withUnsafeMutableBufferPointer { SecretStreamPushCipher(key: key, header: $0.baseAddress!) }
        }
        state.withLock { $0.outboundReady(cipher) }
        let hash = keys.handshakeHash
        let localID = StreamIdentifier.streamID(handshakeHash: hash, isInitiator: isInitiator)
        var output = reader.pendingOutput
        reader.pendingOutput = []
        output += Framing.frame(localID.bytes + header)
        try await transport.write(output)

        let frame = try await reader.frame(during: "the secret-stream header")
        guard frame.count == StreamIdentifier.headerFrameLength else {
            throw ReplicationError(.malformedFrame, "secret-stream header frame of \(frame.count) bytes, expected 56")
        }
        let remoteID = StreamIdentifier.streamID(handshakeHash: hash, isInitiator: !isInitiator)
        guard frame[0..<32].elementsEqual(remoteID.bytes) else {
            throw ReplicationError(.streamIdMismatch, "the peer's stream id does not match the handshake")
        }
        let pull = keys.withReceiveKey { key in
            frame.withUnsafeBytes { SecretStreamPullCipher(key: key, header: UnsafeRawBufferPointer(rebasing: $0[32...])) }
        }
        let session = EstablishedSession(
            isInitiator: isInitiator, handshakeHash: hash, localPublicKey: keys.localStaticKey,
            remotePublicKey: keys.remoteStaticKey)
        return (pull, session)
    }

    /// Decrypts every frame as it arrives; empty messages (keep-alives) are dropped.
    private func receiveMessages<I: AsyncIteratorProtocol<[UInt8], any Error>>(
        _ pull: SecretStreamPullCipher, _ reader: inout TransportFrameReader<I>
    ) async throws {
        while true {
            var batch: [[UInt8]] = []
            var byteCount = 0
            var failure: ReplicationError?
            do {
                while let message = try reader.frames.nextFrame({ frame throws(ReplicationError) in try pull.pull(frame) }) {
                    guard !message.isEmpty else { continue }
                    byteCount += message.count
                    batch.append(message)
                }
            } catch {
                failure = error
            }
            // Messages before a bad frame are authentic: deliver them, then fail.
            let (effects, pause) = state.withLock { $0.received(batch, byteCount: byteCount, now: .now) }
            effects.resume()
            if let failure { throw failure }
            if pause { await waitForRoom() }
            guard try await reader.fill() else {
                if reader.frames.hasPartialFrame {
                    throw ReplicationError(.connectionClosed, "the peer closed the connection in the middle of a frame")
                }
                state.withLock { $0.inboundFinished() }.resume()
                return
            }
        }
    }

    private func waitForRoom() async {
        await withTaskCancellationHandler {
            await withCheckedContinuation { continuation in
                state.withLock { $0.waitForRoom(continuation, cancelled: Task.isCancelled) }.resume()
            }
        } onCancel: {
            state.withLock { $0.cancelWaitForRoom() }?.resume()
        }
    }

    /// Notes bytes from the peer while the handshake runs (the idle timer watches it).
    fileprivate func noteActivity() {
        state.withLock { $0.activity(now: .now) }
    }

    /// The next decrypted message; `nil` once the peer closed or the stream was closed locally.
    func next() async throws -> [UInt8]? {
        switch state.withLock({ $0.next() }) {
        case .message(let message, let reader):
            reader?.resume()
            return message
        case .end:
            return nil
        case .fail(let error):
            throw error
        case .suspend:
            break
        }
        return try await withTaskCancellationHandler {
            try await withCheckedThrowingContinuation { continuation in
                state.withLock { $0.suspendConsumer(continuation, cancelled: Task.isCancelled) }.resume()
            }
        } onCancel: {
            state.withLock { $0.cancelConsumer() }?.resume(throwing: CancellationError())
        }
    }

    // MARK: - Writing

    /// Encrypts `messages` and writes them in one transport write, after any send in progress.
    func send(_ messages: [[UInt8]]) async throws {
        guard !messages.isEmpty else { return }
        for message in messages where message.count > SecretStream.maximumMessageLength {
            throw ReplicationError(
                .frameTooLarge,
                "a message of \(message.count) bytes exceeds the secret-stream limit of \(SecretStream.maximumMessageLength)")
        }
        try await lockWriter()
        try await writeLocked(messages)
    }

    private func lockWriter() async throws {
        switch state.withLock({ $0.tryLockWriter() }) {
        case .acquired: return
        case .fail(let error): throw error
        case .busy: break
        }
        let id = state.withLock { $0.makeID() }
        try await withTaskCancellationHandler {
            try await withCheckedThrowingContinuation { continuation in
                state.withLock { $0.enqueueWriter(id: id, continuation, cancelled: Task.isCancelled) }.resume()
            }
        } onCancel: {
            state.withLock { $0.cancelWriter(id: id) }?.resume(throwing: CancellationError())
        }
    }

    /// With the write lock held: encrypts, writes, releases the lock. A failed write fails the stream (the
    /// peer may have received part of it).
    private func writeLocked(_ messages: [[UInt8]]) async throws {
        defer { state.withLock { $0.unlockWriter() }.resume() }
        let cipher = try state.withLock { state throws(ReplicationError) in try state.cipherForWriter(now: .now) }
        // Outside the state lock, so receiving is never held up by encryption.
        let bytes = cipher.frames(messages)
        do {
            try await transport.write(bytes)
        } catch {
            let failure = error as? ReplicationError
                ?? ReplicationError(.transport, "writing to the transport failed", cause: error)
            await fail(failure)
            // When the stream had already failed (and closed the transport under this write), report why.
            throw state.withLock { $0.outboundFailure } ?? failure
        }
    }

    // MARK: - Timers

    private func keepAliveLoop(interval: Duration) async {
        guard (try? await established()) != nil else { return }
        while let deadline = state.withLock({ $0.keepAliveDeadline(interval: interval) }) {
            do {
                try await Task.sleep(until: deadline, clock: .continuous)
            } catch {
                return
            }
            if state.withLock({ $0.lockWriterForKeepAlive(now: .now, interval: interval) }) {
                // Errors end the stream inside writeLocked; the loop then sees no deadline.
                try? await writeLocked([[]])
            }
        }
    }

    private func idleLoop(timeout: Duration) async {
        while let deadline = state.withLock({ $0.idleDeadline(timeout: timeout) }) {
            do {
                try await Task.sleep(until: deadline, clock: .continuous)
            } catch {
                return
            }
            if let effects = state.withLock({ $0.idleCheck(now: .now, timeout: timeout) }) {
                effects.resume()
                if effects.closeTransport { await transport.close() }
            }
        }
    }
}

/// Reads whole frames from a transport's inbound iterator. Owned by the read task.
private struct TransportFrameReader<Iterator: AsyncIteratorProtocol<[UInt8], any Error>> {
    var iterator: Iterator
    var frames = FrameReassembler()
    let storage: SecretStreamStorage
    /// Frames to send with the next write (the initiator's message 3, before its header).
    var pendingOutput: [UInt8] = []

    init(iterator: Iterator, storage: SecretStreamStorage) {
        self.iterator = iterator
        self.storage = storage
    }

    /// Reads the next chunk into the reassembler; false at the end of the transport's inbound.
    mutating func fill() async throws -> Bool {
        guard let chunk = try await iterator.next() else {
            // Sequences such as AsyncThrowingStream end with nil when the reading task is cancelled.
            try Task.checkCancellation()
            return false
        }
        frames.append(chunk)
        return true
    }

    /// The next frame, reading as needed (during the handshake, where frames are few and small).
    mutating func frame(during phase: String) async throws -> [UInt8] {
        while true {
            if let frame = try frames.nextFrame() { return frame }
            guard try await fill() else {
                throw ReplicationError(.connectionClosed, "the peer closed the connection during \(phase)")
            }
            storage.noteActivity()
        }
    }
}
