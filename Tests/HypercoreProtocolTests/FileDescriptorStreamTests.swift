import Hypercore
import HypercoreProtocol
import KappaTesting
import Testing

#if canImport(Glibc)
import Glibc
#elseif canImport(Darwin)
import Darwin
#endif

/// Two pipes, crossed: what `a` writes, `b` reads, and back.
func crossedPipes() throws -> (FileDescriptorStream, FileDescriptorStream) {
    var ab: [Int32] = [0, 0]
    var ba: [Int32] = [0, 0]
    try #require(pipe(&ab) == 0 && pipe(&ba) == 0)
    return (
        FileDescriptorStream(readingFrom: ba[0], writingTo: ab[1]),
        FileDescriptorStream(readingFrom: ab[0], writingTo: ba[1])
    )
}

func readAll(_ stream: FileDescriptorStream) async throws -> [UInt8] {
    var out: [UInt8] = []
    for try await chunk in stream.inbound { out += chunk }
    return out
}

@Suite(.timeLimit(.minutes(5))) struct FileDescriptorStreamTests {
    @Test func bytesCrossPipesInOrderAndCloseIsEndOfFile() async throws {
        let (a, b) = try crossedPipes()
        let data = payload(3, size: 1_000_000)
        async let received = readAll(b)
        // Larger than a pipe's buffer: the write blocks (on its own queue) until the reader catches up.
        try await a.write(Array(data[..<10]))
        try await a.write(Array(data[10...]))
        await a.close()
        #expect(try await received == data)
        await b.close()
    }

    @Test func secretStreamOverPipes() async throws {
        let (a, b) = try crossedPipes()
        let sent = [1, 100, 70_000, 5].enumerated().map { payload($0.offset, size: $0.element) }
        let (i, r) = await runPair((a, b)) { stream in
            try await stream.send(contentsOf: sent)
            return await collect(stream, count: sent.count)
        } responder: { stream in
            for message in sent { try await stream.send(message) }
            return await collect(stream, count: sent.count)
        }
        #expect(i.error == nil && r.error == nil)
        #expect(i.received == sent && r.received == sent)
    }

    @Test func secretStreamOverLoopbackTCP() async throws {
        let listener = try LoopbackTCP.Listener()
        async let accepted = listener.accept(timeout: .seconds(10))
        let client = try await LoopbackTCP.connect(port: listener.port)
        let server = try await accepted
        let sent = (0..<500).map { payload($0, size: $0 * 7 % 3000) }.filter { !$0.isEmpty }
        // No idle timeout: a starved test machine must not turn a slow transfer into a failure.
        let patient = SecretStream.Options(keepAliveInterval: nil, idleTimeout: nil)
        let (i, r) = await runPair((FileDescriptorStream(socket: client), FileDescriptorStream(socket: server)),
                                   options: (patient, patient)) { stream in
            try await stream.send(contentsOf: sent)
            return SideOutcome()  // closing shuts the socket down: the responder's messages end cleanly
        } responder: { stream in
            await collect(stream)
        }
        #expect(i.error == nil && r.error == nil)
        #expect(r.received == sent)
    }

    @Test func closingASocketWithUnreadBytesLosesNothingItSent() async throws {
        let listener = try LoopbackTCP.Listener()
        async let accepted = listener.accept(timeout: .seconds(10))
        let a = FileDescriptorStream(socket: try await LoopbackTCP.connect(port: listener.port))
        let b = FileDescriptorStream(socket: try await accepted)
        // `b` sends bytes that `a` never reads.
        try await b.write([UInt8](repeating: 1, count: 1000))
        try await Task.sleep(for: .milliseconds(50))
        let data = payload(5, size: 300_000)
        try await a.write(data)
        await a.close()
        // `a` closed before `b` read anything: a close that resets the connection (what closing a socket
        // with unread bytes does) would make `b`'s kernel drop the data.
        try await Task.sleep(for: .milliseconds(200))
        var received: [UInt8] = []
        for try await chunk in b.inbound { received += chunk }
        #expect(received.count == data.count)
        #expect(received == data)
        await b.close()
    }

    @Test func writingToAPipeWithoutReaderIsConnectionClosedNotSIGPIPE() async throws {
        var fds: [Int32] = [0, 0]
        try #require(pipe(&fds) == 0)
        close(fds[0])
        var unused: [Int32] = [0, 0]
        try #require(pipe(&unused) == 0)
        let stream = FileDescriptorStream(readingFrom: unused[0], writingTo: fds[1])
        // Without the SIGPIPE handling this kills the test process.
        let error = await #expect(throws: ReplicationError.self) { try await stream.write([1, 2, 3]) }
        #expect(error?.code == .connectionClosed)
        #expect((error?.cause as? SystemCallError)?.errno == EPIPE)
        await stream.close()
        close(unused[1])
    }

    @Test func writesAfterCloseThrowClosed() async throws {
        let (a, b) = try crossedPipes()
        await a.close()
        await a.close()
        let error = await #expect(throws: ReplicationError.self) { try await a.write([1]) }
        #expect(error?.code == .closed)
        #expect(try await readAll(b).isEmpty)
        await b.close()
    }

    @Test func aBlockedReadCanBeCancelled() async throws {
        let (a, b) = try crossedPipes()
        let reader = Task { try await readAll(b) }
        try await Task.sleep(for: .milliseconds(50))
        reader.cancel()
        await #expect(throws: CancellationError.self) { try await reader.value }
        // Later reads find the sequence ended.
        var iterator = b.inbound.makeAsyncIterator()
        #expect(try await iterator.next() == nil)
        await a.close()  // lets the read in progress return, so b's descriptor can close
        await b.close()
    }

    @Test func blockedReadsDoNotHoldTheCooperativePool() async throws {
        // More blocked reads than the pool has threads (2 here): if reads ran on the pool, nothing else could.
        var pairs: [(FileDescriptorStream, FileDescriptorStream)] = []
        for _ in 0..<6 { pairs.append(try crossedPipes()) }
        let readers = pairs.map { pair in Task { try await readAll(pair.1) } }
        try await Task.sleep(for: .milliseconds(50))
        let sum = await withTaskGroup(of: Int.self) { group in
            for n in 1...8 { group.addTask { n } }
            return await group.reduce(0, +)
        }
        #expect(sum == 36)
        for (a, _) in pairs { try await a.write([7]); await a.close() }
        for reader in readers { #expect(try await reader.value == [7]) }
        for (_, b) in pairs { await b.close() }
    }

    @Test func nonBlockingDescriptorsAreWaitedFor() async throws {
        var ab: [Int32] = [0, 0]
        try #require(pipe(&ab) == 0)
        _ = fcntl(ab[0], F_SETFL, fcntl(ab[0], F_GETFL) | O_NONBLOCK)
        var spare: [Int32] = [0, 0]
        try #require(pipe(&spare) == 0)
        let reader = FileDescriptorStream(readingFrom: ab[0], writingTo: spare[1])
        let writer = FileDescriptorStream(readingFrom: spare[0], writingTo: ab[1])
        async let received = readAll(reader)
        try await Task.sleep(for: .milliseconds(30))  // the read finds EAGAIN first, then polls
        try await writer.write([1, 2, 3])
        await writer.close()
        #expect(try await received == [1, 2, 3])
        await reader.close()
    }
}
