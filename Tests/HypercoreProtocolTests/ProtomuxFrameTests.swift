import Hypercore
import HypercoreProtocol
import Testing

/// protomux frames on the wire (spec D.3), checked against the plaintexts of D.9.
@Suite struct ProtomuxFrameTests {
    static let capability = Caps.replicate(
        isInitiator: true, key: node(0, 0, fill: 0xB9).hash,
        handshakeHash: [UInt8](repeating: 0x5A, count: 64))
    static let jsFirstBatch = hex("00 00 01 07 00 07 00 fd e8 03 00 06 08 00 00 fd e8 03")

    /// Two muxes with the transcript's hypercore channel paired (each side's local id 1).
    static func pairedHypercore() throws -> (
        a: Protomux, aChannel: Protomux.Channel, b: Protomux, bChannel: Protomux.Channel
    ) {
        let dk = try Bytes32(transcriptDiscoveryKey)
        var a = Protomux()
        var b = Protomux()
        let openA = try a.openHypercore(discoveryKey: dk, handshake: ChannelHandshake(capability: capability))
        let openB = try b.openHypercore(discoveryKey: dk, handshake: ChannelHandshake(capability: capability))
        _ = try deliver(openA.frame, to: &b)
        _ = try deliver(openB.frame, to: &a)
        #expect(a.isPaired(openA.channel) && b.isPaired(openB.channel))
        return (a, openA.channel, b, openB.channel)
    }

    @Test func hypercoreOpenIs85Bytes() throws {
        var mux = Protomux()
        let result = try mux.openHypercore(
            discoveryKey: try Bytes32(transcriptDiscoveryKey),
            handshake: ChannelHandshake(seeks: true, capability: Self.capability))
        let frame = try #require(result.frame)
        #expect(frame.count == 85)
        #expect(
            frame == hex("00 01 01 0f 6879706572636f72652f616c706861 20") + transcriptDiscoveryKey + [0x01]
                + Self.capability.bytes)
        #expect(result.channel.localId == 1 && result.events.isEmpty)

        var peer = Protomux()
        let events = try peer.receive(frame)
        let open = Protomux.RemoteOpen(
            remoteId: 1, protocol: "hypercore/alpha", id: transcriptDiscoveryKey,
            handshake: [0x01] + Self.capability.bytes)
        #expect(events == [.remoteOpened(open)])
        #expect(try ChannelHandshake(open.handshake) == ChannelHandshake(seeks: true, capability: Self.capability))
    }

    @Test func everyTruncationOfTheOpenFails() throws {
        var mux = Protomux()
        let open = try mux.openHypercore(
            discoveryKey: try Bytes32(transcriptDiscoveryKey),
            handshake: ChannelHandshake(capability: Self.capability))
        let frame = try #require(open.frame)
        for cut in 1..<frame.count {
            var peer = Protomux()
            do {
                let events = try peer.receive(Array(frame.prefix(cut)))
                // The frame parsed: the cut fell in the handshake, which then does not decode.
                guard case .remoteOpened(let open) = events.first else {
                    Issue.record("\(cut)-byte prefix gave \(events)")
                    continue
                }
                #expect(throws: ReplicationError.self) { try ChannelHandshake(open.handshake) }
            } catch {
                #expect(error.code == .malformedMessage)
            }
        }
    }

    @Test func jsFirstBatchDecodes() throws {
        var (_, _, b, bChannel) = try Self.pairedHypercore()
        let entries = try ProtomuxFrame.entries(of: Self.jsFirstBatch)
        #expect(entries.map(\.channel) == [1, 1] && entries.map(\.type) == [0, 8])

        let events = try b.receive(Self.jsFirstBatch)
        #expect(events.count == 2)
        var messages: [HypercoreMessage] = []
        for event in events {
            guard case .message(let channel, let type, let payload) = event else {
                Issue.record("unexpected \(event)")
                continue
            }
            #expect(channel == bChannel)
            messages.append(try HypercoreMessage.decode(type: type, payload: payload))
        }
        #expect(
            messages == [
                .sync(
                    SyncMessage(flags: [.canUpgrade, .uploading, .downloading], fork: 0, length: 1000, remoteLength: 0)),
                .range(RangeMessage(drop: false, start: 0, length: 1000)),
            ])
    }

    @Test func jsFirstBatchEncodesWhileCorked() throws {
        var (a, aChannel, _, _) = try Self.pairedHypercore()
        a.cork()
        #expect(
            a.send(
                .sync(
                    SyncMessage(
                        flags: [.canUpgrade, .uploading, .downloading], fork: 0, length: 1000,
                        remoteLength: 0)), on: aChannel) == nil)
        #expect(a.send(.range(RangeMessage(start: 0, length: 1000)), on: aChannel) == nil)
        #expect(a.uncork() == [Self.jsFirstBatch])
        #expect(!a.isCorked && a.uncork().isEmpty)
    }

    @Test func ourSyncFrame() throws {
        var (a, aChannel, b, bChannel) = try Self.pairedHypercore()
        let sync = HypercoreMessage.sync(SyncMessage(flags: .downloading, fork: 0, length: 0, remoteLength: 1000))
        let sent = a.send(sync, on: aChannel)
        let frame = try #require(sent)
        #expect(frame == hex("01 00 04 00 00 fd e8 03"))
        #expect(try b.receive(frame) == [.message(bChannel, type: 0, payload: frame[2...])])
    }

    @Test func everyTruncationOfTheBatchFailsOrEndsAtAnEntry() throws {
        let full = try ProtomuxFrame.entries(of: Self.jsFirstBatch)
        for cut in 1..<Self.jsFirstBatch.count {
            do {
                let entries = try ProtomuxFrame.entries(of: Array(Self.jsFirstBatch.prefix(cut)))
                // Only a cut between entries parses: to exactly the entries before it.
                #expect([3, 11].contains(cut), "\(cut)-byte prefix parsed")
                #expect(entries.map(\.type) == full.prefix(entries.count).map(\.type))
                #expect(entries.map { Array($0.payload) } == full.prefix(entries.count).map { Array($0.payload) })
            } catch {
                #expect(error.code == .malformedMessage)
            }
        }
    }

    @Test func controlMessagesAndChannelSwitchesInOneBatch() throws {
        var a = Protomux()
        a.cork()
        let one = try a.open(protocol: "p", id: [0xAA], handshake: [])
        #expect(one.frame == nil)
        _ = a.send(one.channel, type: 5, payload: [9])
        let two = try a.open(protocol: "p", id: [0xBB], handshake: [])
        _ = a.send(two.channel, type: 0, payload: [UInt8]())
        _ = a.send(one.channel, type: 1, payload: [7, 7])
        #expect(a.close(two.channel) == nil)
        let frames = a.uncork()
        #expect(
            frames == [
                hex(
                    """
                    00 00 00  06 01 01 01 70 01 aa
                    00 01     02 05 09
                    00 00     06 01 02 01 70 01 bb
                    00 02     01 00
                    00 01     03 01 07 07
                    00 00     02 03 02
                    """)
            ])

        // The peer sees the same as if the messages had come one by one.
        var b = Protomux()
        let events = try deliver(frames, to: &b)
        let openOne = Protomux.RemoteOpen(remoteId: 1, protocol: "p", id: [0xAA], handshake: [])
        let openTwo = Protomux.RemoteOpen(remoteId: 2, protocol: "p", id: [0xBB], handshake: [])
        #expect(events == [.remoteOpened(openOne), .remoteOpened(openTwo)])
        let answer = try b.open(protocol: "p", id: [0xAA], handshake: [])
        #expect(
            answer.events == [
                .opened(answer.channel, remoteHandshake: []),
                .message(answer.channel, type: 5, payload: [9]),
                .message(answer.channel, type: 1, payload: [7, 7]),
            ])
        // Channel 2 was withdrawn: answering it pairs and closes at once, with nothing buffered.
        let late = try b.open(protocol: "p", id: [0xBB], handshake: [])
        #expect(late.events == [.opened(late.channel, remoteHandshake: []), .closed(late.channel)])
        #expect(!b.isOpen(late.channel) && b.bufferedBytes == 0 && b.pendingOpenBytes == 0)
    }

    @Test func batchesSplitAtTheLimit() throws {
        var a = Protomux(limits: .init(maxBatch: 64))
        var b = Protomux()
        let open = try a.open(protocol: "p", id: [1], handshake: [])
        _ = try deliver(open.frame, to: &b)
        let answer = try b.open(protocol: "p", id: [1], handshake: [])
        let channelB = answer.channel
        _ = try deliver(answer.frame, to: &a)

        a.cork()
        var sent: [[UInt8]] = []
        for i in 0..<20 {
            let payload = [UInt8](repeating: UInt8(i), count: i == 7 ? 100 : 10)  // one message alone beyond 64
            sent.append(payload)
            _ = a.send(open.channel, type: UInt64(i), payload: payload)
        }
        let frames = a.uncork()
        #expect(frames.count > 1)
        #expect(frames.filter { $0.count > 64 }.count == 1)
        for frame in frames where frame.count > 64 {
            #expect(frame.count == 102 && frame.prefix(2) == [1, 7])  // the big one travels as a plain frame
        }
        let events = try deliver(frames, to: &b)
        #expect(
            events == sent.enumerated().map { .message(channelB, type: UInt64($0.offset), payload: $0.element[...]) })
    }

    @Test func defaultBatchLimitIs8MiB() throws {
        var a = Protomux()
        let channel = try a.open(protocol: "p", id: [], handshake: []).channel
        a.cork()
        // Eight of these with their entry headers fit in 8 MiB; a ninth starts a second batch.
        let almostMegabyte = [UInt8](repeating: 0xEE, count: (1 << 20) - 16)
        for _ in 0..<9 { _ = a.send(channel, type: 3, payload: almostMegabyte) }
        let frames = a.uncork()
        #expect(frames.count == 2)
        #expect(frames.allSatisfy { $0.count <= 8 * 1024 * 1024 })
        #expect(frames.map { (try? ProtomuxFrame.entries(of: $0).count) ?? -1 } == [8, 1])
    }

    @Test func oddFrames() throws {
        var (_, _, b, _) = try Self.pairedHypercore()
        #expect(try b.receive([]).isEmpty)  // keep-alive
        #expect(try b.receive(hex("00 09 01 02 03")).isEmpty)  // unknown control type
        #expect(try b.receive(hex("00 00 01")).isEmpty)  // a batch with no entries
        // A batch inside a batch, an entry longer than the frame, a frame cut inside its header.
        for frame in ["00 00 00 02 00 01", "00 00 01 05 00 01", "fd 01", "01", "00 00", "00 00 01 00"] {
            #expect(throws: ReplicationError.self, "\(frame)") { try b.receive(hex(frame)) }
        }
    }
}
