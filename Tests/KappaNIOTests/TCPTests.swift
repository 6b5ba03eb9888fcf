import HypercoreProtocol
import KappaNIO
import Synchronization
import Testing

/// The byte at `offset` of the test pattern: depends on the offset so reordered, lost or repeated bytes show.
private func patternByte(_ offset: Int) -> UInt8 {
    UInt8(truncatingIfNeeded: offset &* 31 &+ offset >> 9)
}

private func pattern(from start: Int, count: Int) -> [UInt8] {
    (start..<start + count).map(patternByte)
}

/// Every byte of `stream.inbound` until the peer closes.
private func readAll(_ stream: TCPByteStream) async throws -> [UInt8] {
    var received: [UInt8] = []
    for try await chunk in stream.inbound { received += chunk }
    return received
}

/// An echo handler: sends back everything until the peer closes, then returns (which closes the connection).
@Sendable private func echo(_ stream: TCPByteStream) async throws {
    for try await chunk in stream.inbound { try await stream.write(chunk) }
}

/// Waits until `condition` holds, polling; fails the test after `timeout`.
private func eventually(
    _ what: String,
    timeout: Duration = .seconds(5),
    _ condition: () -> Bool
) async throws {
    let deadline = ContinuousClock.now + timeout
    while !condition() {
        if ContinuousClock.now > deadline {
            Issue.record("timed out waiting until \(what)")
            return
        }
        try await Task.sleep(for: .milliseconds(5))
    }
}

/// Lets `parties` tasks wait until all of them arrived.
private actor Barrier {
    private let parties: Int
    private var arrived = 0
    private var waiting: [CheckedContinuation<Void, Never>] = []

    init(parties: Int) { self.parties = parties }

    func arriveAndWait() async {
        arrived += 1
        if arrived == parties {
            for continuation in waiting { continuation.resume() }
            waiting = []
            return
        }
        await withCheckedContinuation { waiting.append($0) }
    }
}

/// A count shared between tasks.
private final class Counter: Sendable {
    private let atomic = Atomic<Int>(0)
    var value: Int { atomic.load(ordering: .relaxed) }
    func increment() { atomic.add(1, ordering: .relaxed) }
}

@Suite(.timeLimit(.minutes(1)))
struct TCPTests {
    @Test func echoPreservesOrderOverManySizes() async throws {
        let sizes = [1, 2, 3, 7, 64, 200, 1000, 1460, 4096, 16_384, 65_536, 100_003, 1 << 20]
        let total = 10 * 1024 * 1024
        try await TCPServer.withServer(host: "127.0.0.1", port: 0) { server in
            try await withThrowingTaskGroup(of: Void.self) { group in
                group.addTask { try await server.serve(echo) }
                try await TCPClient.withConnection(host: "127.0.0.1", port: server.port) { stream in
                    try await withThrowingTaskGroup(of: Void.self) { writers in
                        writers.addTask {
                            var offset = 0
                            var index = 0
                            while offset < total {
                                let count = min(sizes[index % sizes.count], total - offset)
                                try await stream.write(pattern(from: offset, count: count))
                                offset += count
                                index += 1
                            }
                            await stream.close()
                        }
                        var received = 0
                        var mismatch: Int?
                        for try await chunk in stream.inbound {
                            for (i, byte) in chunk.enumerated() where mismatch == nil && byte != patternByte(received + i) {
                                mismatch = received + i
                            }
                            received += chunk.count
                        }
                        try await writers.waitForAll()
                        #expect(received == total)
                        #expect(mismatch == nil, "first wrong byte at offset \(mismatch ?? -1)")
                    }
                }
                group.cancelAll()
            }
        }
    }

    @Test func serverHandlesClientsConcurrently() async throws {
        let clients = 8
        let barrier = Barrier(parties: clients)
        try await TCPServer.withServer(host: "127.0.0.1", port: 0) { server in
            try await withThrowingTaskGroup(of: Void.self) { group in
                group.addTask {
                    try await server.serve { stream in
                        // Every handler waits for all the others: this finishes only if they run at once.
                        var request: [UInt8] = []
                        for try await chunk in stream.inbound { request += chunk }
                        await barrier.arriveAndWait()
                        try await stream.write(request.reversed())
                    }
                }
                try await withThrowingTaskGroup(of: (Int, [UInt8]).self) { connections in
                    for id in 0..<clients {
                        connections.addTask {
                            try await TCPClient.withConnection(host: "127.0.0.1", port: server.port) { stream in
                                try await stream.write(pattern(from: id * 1000, count: 500 + id))
                                await stream.close()
                                return (id, try await readAll(stream))
                            }
                        }
                    }
                    var answered = 0
                    for try await (id, reply) in connections {
                        #expect(reply == pattern(from: id * 1000, count: 500 + id).reversed())
                        answered += 1
                    }
                    #expect(answered == clients)
                }
                group.cancelAll()
            }
        }
    }

    @Test func clientCloseEndsServerInboundAndHandlerReturnClosesConnection() async throws {
        try await TCPServer.withServer(host: "127.0.0.1", port: 0) { server in
            try await withThrowingTaskGroup(of: Void.self) { group in
                group.addTask {
                    try await server.serve { stream in
                        let request = try await readAll(stream)  // ends only when the client closes
                        try await stream.write(Array("got \(request.count)".utf8))
                    }
                }
                try await TCPClient.withConnection(host: "127.0.0.1", port: server.port) { stream in
                    try await stream.write(pattern(from: 0, count: 300))
                    await stream.close()
                    await stream.close()  // idempotent
                    await #expect {
                        try await stream.write([1])
                    } throws: { error in
                        (error as? ReplicationError)?.code == .closed
                    }
                    // The inbound direction still works after the half-close, and ends because the handler
                    // returned and so closed the connection.
                    let reply = try await readAll(stream)
                    #expect(String(decoding: reply, as: UTF8.self) == "got 300")
                }
                group.cancelAll()
            }
        }
    }

    @Test func handlerReturningClosesTheConnectionWithoutReading() async throws {
        try await TCPServer.withServer(host: "127.0.0.1", port: 0) { server in
            try await withThrowingTaskGroup(of: Void.self) { group in
                group.addTask { try await server.serve { _ in } }
                try await TCPClient.withConnection(host: "127.0.0.1", port: server.port) { stream in
                    let received = try await readAll(stream)
                    #expect(received.isEmpty)
                }
                try await eventually("the server's connection is released") { server.openConnections == 0 }
                group.cancelAll()
            }
        }
    }

    @Test func cancellingServeClosesListenerAndConnectionsAndReturns() async throws {
        let connections = 3
        try await TCPServer.withServer(host: "127.0.0.1", port: 0) { server in
            let handlers = Counter()
            let serving = Task {
                try await server.serve { stream in
                    handlers.increment()
                    // Waits for bytes that never come: only closing the connection ends it.
                    _ = try await readAll(stream)
                }
            }
            try await withThrowingTaskGroup(of: Void.self) { clients in
                for _ in 0..<connections {
                    clients.addTask {
                        try await TCPClient.withConnection(host: "127.0.0.1", port: server.port) { stream in
                            // Ends (normally or with an error) only when the server closes the connection.
                            _ = try? await readAll(stream)
                        }
                    }
                }
                try await eventually("every handler runs") { handlers.value == connections }

                let start = ContinuousClock.now
                serving.cancel()
                try await serving.value
                let stopped = ContinuousClock.now - start
                #expect(stopped < .seconds(1), "serve returned after \(stopped)")
                #expect(server.openConnections == 0)

                try await clients.waitForAll()  // every client saw its connection end
                #expect(ContinuousClock.now - start < .seconds(2))
            }
            // The listener is closed: nothing accepts any more.
            await #expect {
                try await TCPClient.withConnection(host: "127.0.0.1", port: server.port) { _ in }
            } throws: { error in
                (error as? ReplicationError)?.code == .transport
            }
        }
    }

    @Test func serveRunsOnce() async throws {
        try await TCPServer.withServer(host: "127.0.0.1", port: 0) { server in
            let serving = Task { try await server.serve { _ in } }
            try await Task.sleep(for: .milliseconds(20))
            await #expect {
                try await server.serve { _ in }
            } throws: { error in
                (error as? ReplicationError)?.code == .closed
            }
            serving.cancel()
            try await serving.value
        }
    }

    @Test func connectingToAClosedPortThrowsTransport() async throws {
        let port = try await TCPServer.withServer(host: "127.0.0.1", port: 0) { $0.port }
        await #expect {
            try await TCPClient.withConnection(host: "127.0.0.1", port: port) { _ in }
        } throws: { error in
            guard let error = error as? ReplicationError else { return false }
            return error.code == .transport && error.message.contains("127.0.0.1:\(port)") && error.cause != nil
        }
    }

    @Test func connectingToAnUnknownHostThrowsTransport() async throws {
        await #expect {
            try await TCPClient.withConnection(host: "no-such-host.invalid", port: 7) { _ in }
        } throws: { error in
            guard let error = error as? ReplicationError else { return false }
            return error.code == .transport && error.message.contains("no-such-host.invalid:7")
        }
    }

    @Test func bindingAPortInUseThrowsTransport() async throws {
        try await TCPServer.withServer(host: "127.0.0.1", port: 0) { first in
            await #expect {
                try await TCPServer.withServer(host: "127.0.0.1", port: first.port) { _ in }
            } throws: { error in
                guard let error = error as? ReplicationError else { return false }
                return error.code == .transport && error.message.contains("127.0.0.1:\(first.port)")
            }
        }
    }

    @Test func scopeExitReleasesThePortAndEveryConnection() async throws {
        // A client stays connected while the server's scope ends without ever serving: the connection waits in
        // the listener, and leaving the scope must close it as well as the listener.
        let (ports, portContinuation) = AsyncStream.makeStream(of: Int.self)
        try await withThrowingTaskGroup(of: Void.self) { group in
            group.addTask {
                var iterator = ports.makeAsyncIterator()
                guard let port = await iterator.next() else { return }
                try await TCPClient.withConnection(host: "127.0.0.1", port: port) { stream in
                    let received = try await readAll(stream)  // ends when the server's scope closes it
                    #expect(received.isEmpty)
                }
            }
            let server = try await TCPServer.withServer(host: "127.0.0.1", port: 0) { server in
                portContinuation.yield(server.port)
                try await eventually("the connection is accepted") { server.openConnections == 1 }
                return server
            }
            #expect(server.openConnections == 0)
            try await group.waitForAll()  // the client saw its connection end
            // The listener is gone: the same port binds again at once.
            let rebound = try await TCPServer.withServer(host: "127.0.0.1", port: server.port) { $0.port }
            #expect(rebound == server.port)
        }
    }
}
