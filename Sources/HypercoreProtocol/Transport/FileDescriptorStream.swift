import Dispatch
import Synchronization

#if canImport(Glibc)
import Glibc
#elseif canImport(Musl)
import Musl
#elseif canImport(Darwin)
import Darwin
#endif

/// A ``ByteStream`` over POSIX file descriptors: a connected socket, a pair of pipes, or standard input and
/// output.
///
/// Reads and writes block, so they run on two serial dispatch queues of their own (one reading, one writing),
/// never on the Swift cooperative pool. Each ``Inbound`` element is what one `read` returned (up to the chunk
/// size). `EINTR` is retried; a descriptor in non-blocking mode is waited for with `poll`. Errors are
/// ``ReplicationError``s whose ``ReplicationError/cause`` is a ``SystemCallError`` carrying `errno`:
/// `ECONNRESET` and `EPIPE` give ``ReplicationError/Code/connectionClosed``, others
/// ``ReplicationError/Code/transport``. Writing to a pipe whose reader is gone fails with `EPIPE` instead of
/// raising `SIGPIPE`.
///
/// Lifetime: ``close()`` returns at once and ``inbound`` ends. Writes accepted before it are still written;
/// then a socket sends end of file (`shutdown(SHUT_WR)`) and keeps reading, discarding, until the peer closes
/// too (at most ``linger``), so the close never resets the connection and loses data the peer has not read
/// yet; then owned descriptors are closed. A read in progress on a pipe cannot be interrupted: the descriptor
/// is closed when that read returns (data or end of file). A task waiting in ``Inbound``'s `next()` can
/// always be cancelled; the sequence then ends.
public final class FileDescriptorStream: ByteStream {
    /// The bytes read from the descriptor, one element per `read`.
    public struct Inbound: AsyncSequence, Sendable {
        /// Bytes as one `read` returned them.
        public typealias Element = [UInt8]
        /// ``ReplicationError`` on a read error, `CancellationError` when the waiting task is cancelled.
        public typealias Failure = any Error

        fileprivate let reader: Reader

        /// Creates the iterator. Iterate once, from one task at a time.
        public func makeAsyncIterator() -> AsyncIterator { AsyncIterator(reader: reader) }

        /// Reads the next chunk when asked.
        public struct AsyncIterator: AsyncIteratorProtocol {
            fileprivate let reader: Reader

            /// The next chunk, or `nil` at end of file, after ``FileDescriptorStream/close()`` or after a
            /// cancelled wait.
            public mutating func next() async throws -> [UInt8]? {
                try await reader.next()
            }
        }
    }

    /// The bytes read from the read descriptor, one element per `read`; ends at end of file.
    public let inbound: Inbound
    private let reader: Reader
    private let writer: Writer

    /// Creates a stream reading from `readDescriptor` and writing to `writeDescriptor` (the same descriptor for
    /// a socket).
    /// - Parameters:
    ///   - readDescriptor: where the peer's bytes come from.
    ///   - writeDescriptor: where this side's bytes go.
    ///   - ownsDescriptors: when true (the default), ``close()`` closes the descriptors; pass false for
    ///     descriptors the caller keeps (standard input and output, say).
    ///   - readChunkSize: the most bytes one `read` asks for. Default 64 KiB.
    public init(
        readingFrom readDescriptor: Int32, writingTo writeDescriptor: Int32, ownsDescriptors: Bool = true,
        readChunkSize: Int = 65_536
    ) {
        let reader = Reader(fd: readDescriptor, chunkSize: max(1, readChunkSize))
        self.reader = reader
        self.writer = Writer(fd: writeDescriptor)
        self.inbound = Inbound(reader: reader)
        self.ownsDescriptors = ownsDescriptors
    }

    /// Creates a stream over a connected socket, which it owns.
    public convenience init(socket: Int32) {
        self.init(readingFrom: socket, writingTo: socket)
    }

    private let ownsDescriptors: Bool

    /// Writes all of `bytes`. Returns when the kernel accepted them; writes are done in the order they were
    /// called. A write that started is not abandoned when its task is cancelled (that would break the order).
    /// - Throws: ``ReplicationError`` (`closed` after ``close()``, else `connectionClosed` or `transport` with
    ///   the ``SystemCallError``).
    public func write(_ bytes: [UInt8]) async throws {
        try await writer.write(bytes)
    }

    /// Ends the stream: ``inbound`` ends, later writes throw ``ReplicationError/Code/closed``; after the
    /// pending writes a socket sends end of file and lingers until the peer closes, and owned descriptors are
    /// closed. Returns at once; safe to call twice.
    /// A stream released without `close()` closes the same way.
    public func close() async {
        closeDescriptors()
    }

    deinit {
        closeDescriptors()
    }

    private func closeDescriptors() {
        let readFD = reader.fd
        let writeFD = writer.fd
        let owns = ownsDescriptors
        guard reader.close() else { return }
        let shared = readFD == writeFD
        writer.close { [reader] in
            // On the write queue, after every accepted write.
            if SystemCall.isSocket(writeFD) {
                // End of file for the peer (FIN). Not SHUT_RDWR and not close() yet: closing a socket with
                // unread bytes sends a reset, and the peer's kernel may then drop what we sent before it.
                _ = shutdown(writeFD, Int32(SHUT_WR))
            } else if owns && !shared {
                _ = Self.closeDescriptor(writeFD)
            }
            // The read side goes after the writes, so a shared descriptor is never closed under a write.
            reader.finish(closing: owns)
        }
    }

    /// How long a closed socket keeps reading (and discarding) until the peer closes its side too.
    static let linger: Duration = .seconds(2)

    /// `close(2)` (not retried on `EINTR`: the descriptor is released either way on Linux and Darwin).
    private static func closeDescriptor(_ fd: Int32) -> Int32 {
        #if canImport(Glibc)
        Glibc.close(fd)
        #elseif canImport(Musl)
        Musl.close(fd)
        #else
        Darwin.close(fd)
        #endif
    }

    static func replicationError(_ error: SystemCallError) -> ReplicationError {
        switch error.errno {
        case ECONNRESET, EPIPE:
            ReplicationError(.connectionClosed, "the peer closed the connection (\(error.call))", cause: error)
        default:
            ReplicationError(.transport, "\(error)", cause: error)
        }
    }
}

@available(*, unavailable)
extension FileDescriptorStream.Inbound.AsyncIterator: Sendable {}

extension FileDescriptorStream {
    /// The reading half: one read at a time on a serial queue, each asked for by `next()`.
    fileprivate final class Reader: Sendable {
        let fd: Int32
        private let chunkSize: Int
        private let queue = DispatchQueue(label: "kappa.FileDescriptorStream.read")

        private struct State {
            /// End of file, an error, a cancelled wait or ``close()``: no more reads.
            var ended = false
            var closed = false
            var waiter: CheckedContinuation<[UInt8]?, any Error>?
        }
        private let state = Mutex(State())

        init(fd: Int32, chunkSize: Int) {
            self.fd = fd
            self.chunkSize = chunkSize
        }

        func next() async throws -> [UInt8]? {
            try await withTaskCancellationHandler {
                try await withCheckedThrowingContinuation { continuation in
                    let outcome: Result<[UInt8]?, any Error>? = state.withLock { state in
                        if state.ended || state.closed { return .success(nil) }
                        if Task.isCancelled {
                            state.ended = true
                            return .failure(CancellationError())
                        }
                        if state.waiter != nil {
                            return .failure(ReplicationError(.transport, "FileDescriptorStream.inbound is read by two tasks at once"))
                        }
                        state.waiter = continuation
                        // Enqueued under the lock, so it is ordered before a close job.
                        queue.async { self.readOnce() }
                        return nil
                    }
                    if let outcome { continuation.resume(with: outcome) }
                }
            } onCancel: {
                let waiter = state.withLock { state in
                    state.ended = true
                    defer { state.waiter = nil }
                    return state.waiter
                }
                waiter?.resume(throwing: CancellationError())
            }
        }

        /// On the read queue.
        private func readOnce() {
            let result: Result<[UInt8]?, any Error>
            do throws(SystemCallError) {
                var count = 0
                var chunk = try [UInt8](unsafeUninitializedCapacity: chunkSize) { buffer, initialized throws(SystemCallError) in
                    count = try Self.read(fd, into: buffer)
                    initialized = count
                }
                if count == 0 {
                    result = .success(nil)
                } else {
                    if count < chunkSize / 4 { chunk = Array(chunk) }  // do not keep 64 KiB for a few bytes
                    result = .success(chunk)
                }
            } catch {
                result = .failure(FileDescriptorStream.replicationError(error))
            }
            let waiter = state.withLock { state in
                if case .success(let chunk) = result, chunk != nil {} else { state.ended = true }
                defer { state.waiter = nil }
                return state.waiter
            }
            // Without a waiter the wait was cancelled and the sequence ended: the bytes are dropped.
            waiter?.resume(with: result)
        }

        private static func read(_ fd: Int32, into buffer: UnsafeMutableBufferPointer<UInt8>) throws(SystemCallError) -> Int {
            while true {
                do throws(SystemCallError) {
                    return try SystemCall.retrying("read") {
                        #if canImport(Glibc)
                        Glibc.read(fd, buffer.baseAddress, buffer.count)
                        #elseif canImport(Musl)
                        Musl.read(fd, buffer.baseAddress, buffer.count)
                        #else
                        Darwin.read(fd, buffer.baseAddress, buffer.count)
                        #endif
                    }
                } catch where error.errno == EAGAIN || error.errno == EWOULDBLOCK {
                    try SystemCall.wait(fd, for: Int16(POLLIN))
                }
            }
        }

        /// Marks the reader closed; false if it already was. A waiting `next()` and later ones return `nil`
        /// (what a read in progress returns is dropped).
        func close() -> Bool {
            let (first, waiter) = state.withLock { state in
                defer {
                    state.closed = true
                    state.waiter = nil
                }
                return (!state.closed, state.waiter)
            }
            waiter?.resume(returning: nil)
            return first
        }

        /// Guards the descriptor against a `shutdown` after it was closed (its number may be reused).
        private let descriptorClosed = Mutex(false)

        /// Ends reading after ``close()``, on the read queue after any read in progress. A socket is drained
        /// until the peer closes its side (or ``FileDescriptorStream/linger`` passed), so that closing it does
        /// not reset the connection; then the descriptor is closed if `closing`.
        func finish(closing: Bool) {
            let fd = self.fd
            let isSocket = SystemCall.isSocket(fd)
            if isSocket {
                // A read in progress (of a cancelled consumer) blocks until data or end of file: after the
                // linger time, wake it.
                let deadline = DispatchTime.now() + .milliseconds(Int(FileDescriptorStream.linger.components.seconds * 1000))
                DispatchQueue.global().asyncAfter(deadline: deadline) { [self] in
                    descriptorClosed.withLock { closed in
                        if !closed { _ = shutdown(fd, Int32(SHUT_RD)) }
                    }
                }
            }
            queue.async { [self] in
                if isSocket { Self.drain(fd, for: FileDescriptorStream.linger) }
                descriptorClosed.withLock { closed in
                    closed = true
                    if closing { _ = FileDescriptorStream.closeDescriptor(fd) }
                }
            }
        }

        /// Reads and discards until end of file, an error, or `duration`.
        private static func drain(_ fd: Int32, for duration: Duration) {
            let end = ContinuousClock.now + duration
            var scratch = [UInt8](repeating: 0, count: 16_384)
            while true {
                let left = end - ContinuousClock.now
                guard left > .zero else { return }
                var entry = pollfd(fd: fd, events: Int16(POLLIN), revents: 0)
                let millis = Int32(clamping: left.components.seconds * 1000 + left.components.attoseconds / 1_000_000_000_000_000 + 1)
                let ready = (try? SystemCall.retrying("poll") { poll(&entry, 1, millis) }) ?? -1
                guard ready > 0 else { return }
                let count = scratch.withUnsafeMutableBytes { buffer in
                    (try? SystemCall.retrying("read") {
                        #if canImport(Glibc)
                        Glibc.read(fd, buffer.baseAddress, buffer.count)
                        #elseif canImport(Musl)
                        Musl.read(fd, buffer.baseAddress, buffer.count)
                        #else
                        Darwin.read(fd, buffer.baseAddress, buffer.count)
                        #endif
                    }) ?? 0
                }
                guard count > 0 else { return }
            }
        }
    }

    /// The writing half: writes run in call order on a serial queue.
    fileprivate final class Writer: Sendable {
        let fd: Int32
        private let isSocket: Bool
        private let queue = DispatchQueue(label: "kappa.FileDescriptorStream.write")
        private let closed = Mutex(false)

        init(fd: Int32) {
            self.fd = fd
            self.isSocket = SystemCall.isSocket(fd)
            #if canImport(Darwin)
            // Darwin: EPIPE instead of SIGPIPE, for pipes and sockets alike.
            _ = fcntl(fd, F_SETNOSIGPIPE, 1)
            #endif
        }

        func write(_ bytes: [UInt8]) async throws {
            guard !bytes.isEmpty else { return }
            try await withCheckedThrowingContinuation { (continuation: CheckedContinuation<Void, any Error>) in
                let accepted = closed.withLock { closed in
                    guard !closed else { return false }
                    // Enqueued under the lock, so it is ordered before the close job.
                    queue.async {
                        do throws(SystemCallError) {
                            try self.writeAll(bytes)
                            continuation.resume()
                        } catch {
                            continuation.resume(throwing: FileDescriptorStream.replicationError(error))
                        }
                    }
                    return true
                }
                if !accepted {
                    continuation.resume(throwing: ReplicationError(.closed, "the file descriptor stream is closed"))
                }
            }
        }

        /// Marks the writer closed and runs `job` after every accepted write.
        func close(then job: @escaping @Sendable () -> Void) {
            closed.withLock { closed in
                closed = true
                queue.async(execute: job)
            }
        }

        /// On the write queue.
        private func writeAll(_ bytes: [UInt8]) throws(SystemCallError) {
            let result = bytes.withUnsafeBytes { buffer in
                Result { () throws(SystemCallError) in
                    var offset = 0
                    while offset < buffer.count {
                        let pointer = buffer.baseAddress! + offset
                        let remaining = buffer.count - offset
                        do throws(SystemCallError) {
                            offset += try writeOnce(pointer, remaining)
                        } catch where error.errno == EAGAIN || error.errno == EWOULDBLOCK {
                            try SystemCall.wait(fd, for: Int16(POLLOUT))
                        }
                    }
                }
            }
            try result.get()
        }

        private func writeOnce(_ pointer: UnsafeRawPointer, _ count: Int) throws(SystemCallError) -> Int {
            #if os(Linux)
            if isSocket {
                return try SystemCall.retrying("send") { send(fd, pointer, count, Int32(MSG_NOSIGNAL)) }
            }
            return try Self.withSIGPIPEBlocked { () throws(SystemCallError) in
                try SystemCall.retrying("write") { Glibc.write(fd, pointer, count) }
            }
            #elseif canImport(Darwin)
            return try SystemCall.retrying("write") { Darwin.write(fd, pointer, count) }
            #else
            return try SystemCall.retrying("write") { Musl.write(fd, pointer, count) }
            #endif
        }

        #if os(Linux)
        /// Runs `body` with `SIGPIPE` blocked on this thread, so writing to a pipe without a reader fails with
        /// `EPIPE` instead of killing the process; a `SIGPIPE` the write raised is consumed before the mask is
        /// restored.
        private static func withSIGPIPEBlocked<R>(_ body: () throws(SystemCallError) -> R) throws(SystemCallError) -> R {
            var pipeOnly = sigset_t()
            sigemptyset(&pipeOnly)
            sigaddset(&pipeOnly, SIGPIPE)
            var previous = sigset_t()
            pthread_sigmask(SIG_BLOCK, &pipeOnly, &previous)
            defer { pthread_sigmask(SIG_SETMASK, &previous, nil) }
            do {
                return try body()
            } catch where error.errno == EPIPE {
                var zero = timespec(tv_sec: 0, tv_nsec: 0)
                while sigtimedwait(&pipeOnly, nil, &zero) == -1 && errno == EINTR {}
                throw error
            }
        }
        #endif
    }
}
