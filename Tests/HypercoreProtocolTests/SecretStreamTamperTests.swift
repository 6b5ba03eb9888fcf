import Hypercore
import HypercoreProtocol
import KappaTesting
import Testing

/// Flips one bit at a time in everything one side writes (handshake messages, header frame, data frames and
/// their length prefixes, a keep-alive) and checks the other side: it always ends with a typed
/// ``ReplicationError`` and never delivers a message that differs from what was sent.
@Suite(.timeLimit(.minutes(5))) struct SecretStreamTamperTests {
    /// One session's messages, both ways; the empty one is a keep-alive (dropped, but still authenticated).
    static let messages = [1, 3, 40, 0, 200, 17, 1000].enumerated().map { payload($0.offset, size: $0.element) }
    static let delivered = messages.filter { !$0.isEmpty }
    static let dataBytes = messages.reduce(0) { $0 + $1.count + 20 }
    /// Initiator: message 1 (35) + message 3 (67) + header (59). Responder: message 2 (99) + header (59).
    static let initiatorBytes = 35 + 67 + 59 + dataBytes
    static let responderBytes = 99 + 59 + dataBytes

    enum Side: String, CaseIterable, Sendable { case initiator, responder }

    /// Positions flipped: every byte of the handshake and header frames, every length prefix and tag byte,
    /// and every fourth byte of the rest.
    static func positions(_ side: Side) -> [Int] {
        let setup = side == .initiator ? 161 : 158
        let total = side == .initiator ? initiatorBytes : responderBytes
        var exhaustive = Set(0..<setup)
        var offset = setup
        for message in messages {
            for i in 0..<4 { exhaustive.insert(offset + i) }  // prefix and encrypted tag byte
            for i in 1...16 { exhaustive.insert(offset + 20 + message.count - i) }  // MAC
            offset += message.count + 20
        }
        return (exhaustive.union(stride(from: setup, to: total, by: 4))).sorted()
    }

    @Test func theRecordedSessionHasTheExpectedLayout() async throws {
        let (x, y) = InProcessStream.pair()
        let (i, r) = await Self.session(x, y, idleTimeout: .seconds(10))
        #expect(i.error == nil && r.error == nil)
        #expect(i.received == Self.delivered && r.received == Self.delivered)
        #expect(x.bytesWritten == Self.initiatorBytes)
        #expect(y.bytesWritten == Self.responderBytes)
    }

    @Test(arguments: Side.allCases)
    func everyFlippedBitEndsInATypedErrorAndNoTamperedMessage(flippedSide: Side) async throws {
        let positions = Self.positions(flippedSide)
        #expect(positions.count > 500)
        var codes: [String: Int] = [:]
        // A few sessions at once: some flips (a length prefix grown past the end of the handshake) can only
        // end by the idle timeout.
        try await withThrowingTaskGroup(of: (Int, SideOutcome).self) { group in
            var next = 0
            func start() {
                guard next < positions.count else { return }
                let position = positions[next]
                next += 1
                group.addTask {
                    let flip = InProcessStream.Faults(flip: [position])
                    let (x, y) = InProcessStream.pair(faults: flippedSide == .initiator ? (flip, .none) : (.none, flip))
                    let (i, r) = await Self.session(x, y)
                    return (position, flippedSide == .initiator ? r : i)
                }
            }
            for _ in 0..<6 { start() }
            while let (position, receiver) = try await group.next() {
                start()
                #expect(receiver.replicationError != nil, "flip at \(position): \(String(describing: receiver.error))")
                #expect(Self.delivered.starts(with: receiver.received), "flip at \(position) delivered a tampered message")
                if let code = receiver.replicationError?.code { codes["\(code)", default: 0] += 1 }
            }
        }
        // The sweep reaches each layer's own check.
        for code in ["handshakeFailed", "streamIdMismatch", "decryptionFailed"] {
            #expect(codes[code, default: 0] > 0, "\(codes)")
        }
    }

    /// Both sides send the messages at once, then read until they have them all (or the stream ends).
    /// The sweep's idle timeout is short (a few flips can only end that way): on a loaded machine it may also
    /// end an untampered session early, which still has to be a typed error and cannot deliver a wrong
    /// message.
    static func session(
        _ x: InProcessStream, _ y: InProcessStream, idleTimeout: Duration = .seconds(1)
    ) async -> (SideOutcome, SideOutcome) {
        let options = SecretStream.Options(keepAliveInterval: nil, idleTimeout: idleTimeout)
        let body: @Sendable (SecretStream) async throws -> SideOutcome = { stream in
            try await stream.send(contentsOf: Array(messages[..<3]))
            try await stream.send(contentsOf: Array(messages[3...]))
            return await collect(stream, count: delivered.count)
        }
        return await runPair((x, y), options: (options, options), initiator: body, responder: body)
    }
}
