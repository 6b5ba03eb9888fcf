import HypercoreProtocol
import KappaNIO
import Logging
import NIOCore
import NIOPosix
import Synchronization
import Testing

/// `count` pseudo-random bytes that depend on `seed`: reordered, lost or repeated bytes show.
private func pattern(seed: UInt64, count: Int) -> [UInt8] {
    [UInt8](unsafeUninitializedCapacity: count) { buffer, initialized in
        var state = seed &* 0x9E37_79B9_7F4A_7C15 | 1
        for i in 0..<count {
            state = state &* 6_364_136_223_846_793_005 &+ 1_442_695_040_888_963_407
            buffer[i] = UInt8(truncatingIfNeeded: state >> 56)
        }
        initialized = count
    }
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
    timeout: Duration = .seconds(60),
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

/// A log handler that keeps every record, to check what the transport logs.
private final class LogRecorder: Sendable {
    struct Record: Sendable {
        var level: Logger.Level
        var message: String
    }

    private let records = Mutex<[Record]>([])

    var all: [Record] { records.withLock { $0 } }

    func logger() -> Logger {
        Logger(label: "test") { _ in Handler(recorder: self) }
    }

    private struct Handler: LogHandler {
        let recorder: LogRecorder
        var metadata: Logger.Metadata = [:]
        var logLevel: Logger.Level = .trace

        subscript(metadataKey key: String) -> Logger.Metadata.Value? {
            get { metadata[key] }
            set { metadata[key] = newValue }
        }

        func log(event: LogEvent) {
            recorder.records.withLock { $0.append(Record(level: event.level, message: "\(event.message)")) }
        }
    }
}

private struct HandlerFailure: Error {}

@Suite(.timeLimit(.minutes(1)))
struct TCPTests {
    @Test func echoPreservesOrderOverManySizes() async throws {
        let sizes = [1, 2, 3, 7, 64, 200, 1000, 1460, 4096, 16_384, 65_536, 100_003, 1 << 20]
        let total = 10 * 1024 * 1024
        let expected = pattern(seed: 1, count: total)
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
                                try await stream.write(Array(expected[offset..<offset + count]))
                                offset += count
                                index += 1
                            }
                            await stream.close()
                        }
                        var received: [UInt8] = []
                        received.reserveCapacity(total)
                        for try await chunk in stream.inbound { received += chunk }
                        try await writers.waitForAll()
                        #expect(received.count == total)
                        if received != expected {
                            let first =
                                received.indices.first { $0 >= total || received[$0] != expected[$0] } ?? received.count
                            Issue.record("the echo differs from what was sent from offset \(first) on")
                        }
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
                                try await stream.write(pattern(seed: UInt64(id), count: 500 + id))
                                await stream.close()
                                return (id, try await readAll(stream))
                            }
                        }
                    }
                    var answered = 0
                    for try await (id, reply) in connections {
                        #expect(reply == pattern(seed: UInt64(id), count: 500 + id).reversed())
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
                    try await stream.write(pattern(seed: 2, count: 300))
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
                    // The server closed both directions: once its socket has answered a write with a reset, the
                    // writes here fail with a transport error.
                    var failure: (any Error)?
                    for _ in 0..<500 where failure == nil {
                        do {
                            try await stream.write([1, 2, 3])
                            try await Task.sleep(for: .milliseconds(2))
                        } catch {
                            failure = error
                        }
                    }
                    #expect((failure as? ReplicationError)?.code == .transport, "\(String(describing: failure))")
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

                // Cancelling returns (the handlers wait for bytes that never come, so only closing their
                // connections ends them; a hang here ends at the suite's time limit).
                serving.cancel()
                try await serving.value
                #expect(server.openConnections == 0)

                try await clients.waitForAll()  // every client saw its connection end
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

    @Test func aHandlerErrorEndsOnlyItsConnectionAndIsLogged() async throws {
        let recorder = LogRecorder()
        try await TCPServer.withServer(host: "127.0.0.1", port: 0, logger: recorder.logger()) { server in
            try await withThrowingTaskGroup(of: Void.self) { group in
                group.addTask {
                    try await server.serve { stream in
                        let request = try await readAll(stream)
                        if request == [0] { throw HandlerFailure() }
                        try await stream.write(request)
                    }
                }
                for request: [UInt8] in [[0], [1, 2]] {
                    try await TCPClient.withConnection(host: "127.0.0.1", port: server.port) { stream in
                        try await stream.write(request)
                        await stream.close()
                        let reply = try await readAll(stream)
                        #expect(reply == (request == [0] ? [] : request))
                    }
                }
                try await eventually("both connections are released") { server.openConnections == 0 }
                group.cancelAll()
            }
        }
        let records = recorder.all
        #expect(records.filter { $0.level == .debug && $0.message == "accepted" }.count == 2)
        #expect(records.filter { $0.level == .debug && $0.message == "closed" }.count == 1)
        #expect(records.filter { $0.level == .warning && $0.message == "connection handler failed" }.count == 1)
    }

    @Test func runsOnAGivenEventLoopGroup() async throws {
        let group = MultiThreadedEventLoopGroup(numberOfThreads: 1)
        let reply = try await TCPServer.withServer(host: "127.0.0.1", port: 0, group: group) { server in
            try await withThrowingTaskGroup(of: Void.self) { tasks in
                tasks.addTask { try await server.serve(echo) }
                defer { tasks.cancelAll() }
                return try await TCPClient.withConnection(host: "127.0.0.1", port: server.port, group: group) {
                    stream in
                    try await stream.write([4, 5, 6])
                    await stream.close()
                    return try await readAll(stream)
                }
            }
        }
        #expect(reply == [4, 5, 6])
        try await group.shutdownGracefully()
    }
}
