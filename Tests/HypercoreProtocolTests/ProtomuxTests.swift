import HypercoreProtocol
import Testing

/// The protomux state machine (spec D.3): pairing, ids, buffering, reject and close.
@Suite struct ProtomuxTests {
    static let key: [UInt8] = [0xD1, 0x5C]

    @Test func localOpenFirst() throws {
        var a = Protomux()
        var b = Protomux()
        let openA = try a.open(protocol: "hypercore/alpha", id: Self.key, handshake: [1])
        #expect(openA.events.isEmpty && !a.isPaired(openA.channel) && a.isOpen(openA.channel))
        let remote = Protomux.RemoteOpen(remoteId: 1, protocol: "hypercore/alpha", id: Self.key, handshake: [1])
        #expect(try deliver(openA.frame, to: &b) == [.remoteOpened(remote)])

        let openB = try b.open(protocol: "hypercore/alpha", id: Self.key, handshake: [2])
        #expect(openB.events == [.opened(openB.channel, remoteHandshake: [1])])
        #expect(try deliver(openB.frame, to: &a) == [.opened(openA.channel, remoteHandshake: [2])])

        let frame = a.send(openA.channel, type: 3, payload: [0xAB])
        #expect(try deliver(frame, to: &b) == [.message(openB.channel, type: 3, payload: [0xAB])])
        let back = b.send(openB.channel, type: 4, payload: [UInt8]())
        #expect(try deliver(back, to: &a) == [.message(openA.channel, type: 4, payload: [])])
    }

    @Test func crossingOpens() throws {
        var a = Protomux()
        var b = Protomux()
        let openA = try a.open(protocol: "x", id: Self.key, handshake: [1])
        let openB = try b.open(protocol: "x", id: Self.key, handshake: [2])
        #expect(try deliver(openB.frame, to: &a) == [.opened(openA.channel, remoteHandshake: [2])])
        #expect(try deliver(openA.frame, to: &b) == [.opened(openB.channel, remoteHandshake: [1])])
        #expect(a.isPaired(openA.channel) && b.isPaired(openB.channel))
    }

    @Test func protocolNamesPairByTheirBytesNotByUnicodeEquivalence() throws {
        // "café" precomposed and decomposed are equal Swift Strings but different strings to JavaScript's
        // protomux (and different bytes on the wire): they must not pair.
        let precomposed = "caf\u{E9}", decomposed = "cafe\u{301}"
        #expect(precomposed == decomposed)
        var a = Protomux()
        var b = Protomux()
        let openA = try a.open(protocol: precomposed, id: Self.key, handshake: [1])
        let openB = try b.open(protocol: decomposed, id: Self.key, handshake: [2])
        _ = try deliver(openB.frame, to: &a)
        _ = try deliver(openA.frame, to: &b)
        #expect(!a.isPaired(openA.channel) && !b.isPaired(openB.channel))
        // The same bytes pair.
        let sameB = try b.open(protocol: precomposed, id: Self.key, handshake: [3])
        #expect(sameB.events == [.opened(sameB.channel, remoteHandshake: [1])])
    }

    @Test func messagesBeforePairingAreBufferedAndDeliveredInOrder() throws {
        var a = Protomux()
        var b = Protomux()
        let openA = try a.open(protocol: "x", id: Self.key, handshake: [])
        _ = try deliver(openA.frame, to: &b)
        for i in 0..<3 {
            #expect(try deliver(a.send(openA.channel, type: UInt64(i), payload: [UInt8(i)]), to: &b).isEmpty)
        }
        #expect(b.bufferedBytes == 3 * (512 + 1))
        let openB = try b.open(protocol: "x", id: Self.key, handshake: [])
        #expect(
            openB.events == [
                .opened(openB.channel, remoteHandshake: []),
                .message(openB.channel, type: 0, payload: [0]),
                .message(openB.channel, type: 1, payload: [1]),
                .message(openB.channel, type: 2, payload: [2]),
            ])
        #expect(b.bufferedBytes == 0 && b.pendingOpenBytes == 0)
    }

    @Test func bufferingIsBounded() throws {
        var a = Protomux()
        var b = Protomux()
        let openA = try a.open(protocol: "x", id: Self.key, handshake: [])
        _ = try deliver(openA.frame, to: &b)
        // protomux counts 512 bytes per message plus its payload: 64 empty messages fill 32 KiB exactly.
        for _ in 0..<64 { _ = try deliver(a.send(openA.channel, type: 0, payload: [UInt8]()), to: &b) }
        #expect(b.bufferedBytes == 32 * 1024)
        let frame = a.send(openA.channel, type: 0, payload: [UInt8]())
        let error = #expect(throws: ReplicationError.self) { try deliver(frame, to: &b) }
        #expect(error?.code == .bufferOverflow)
    }

    @Test func rejectFreesBothSides() throws {
        var a = Protomux()
        var b = Protomux()
        let openA = try a.open(protocol: "x", id: Self.key, handshake: [])
        let events = try deliver(openA.frame, to: &b)
        guard case .remoteOpened(let remote) = events.first else {
            Issue.record("no remote open: \(events)")
            return
        }
        _ = try deliver(a.send(openA.channel, type: 1, payload: [1, 2, 3]), to: &b)  // buffered, then dropped
        let reject = b.reject(remote)
        #expect(reject == [0, 2, 1])
        #expect(b.reject(remote) == nil)  // answered already
        #expect(b.bufferedBytes == 0 && b.pendingOpenBytes == 0)
        #expect(try deliver(reject, to: &a) == [.rejected(openA.channel)])
        #expect(!a.isOpen(openA.channel))
        #expect(a.send(openA.channel, type: 0, payload: [1]) == nil)  // dropped: the channel is closed

        // Both ids are free again: the next open reuses 1, and the peer accepts the reuse.
        let again = try a.open(protocol: "x", id: Self.key, handshake: [])
        #expect(again.channel.localId == 1 && again.channel != openA.channel)
        #expect(try deliver(again.frame, to: &b).count == 1)
        #expect(b.remoteChannelCount == 1)
    }

    @Test func closeAndIdReuseSmallestFirst() throws {
        var a = Protomux()
        var b = Protomux()
        var channelsA: [Protomux.Channel] = []
        var channelsB: [Protomux.Channel] = []
        for i in 0..<4 {
            let open = try a.open(protocol: "x", id: [UInt8(i)], handshake: [])
            _ = try deliver(open.frame, to: &b)
            let answer = try b.open(protocol: "x", id: [UInt8(i)], handshake: [])
            _ = try deliver(answer.frame, to: &a)
            channelsA.append(open.channel)
            channelsB.append(answer.channel)
        }
        #expect(channelsA.map(\.localId) == [1, 2, 3, 4])

        // A closes 3, B closes its side of 1 (A learns from B's close).
        #expect(try deliver(a.close(channelsA[2]), to: &b) == [.closed(channelsB[2])])
        #expect(try deliver(b.close(channelsB[0]), to: &a) == [.closed(channelsA[0])])
        #expect(a.close(channelsA[2]) == nil && b.close(channelsB[0]) == nil)  // closed already
        // Messages still in flight for a closed channel are ignored.
        #expect(try a.receive([1, 0, 9]).isEmpty)

        let reopened = try (0..<3).map { i in try a.open(protocol: "y", id: [UInt8(i)], handshake: []) }
        #expect(reopened.map(\.channel.localId) == [1, 3, 5])
        for open in reopened { #expect(try deliver(open.frame, to: &b).count == 1) }
    }

    @Test func closingBeforePairingKeepsTheIdUntilTheRemoteAnswers() throws {
        var a = Protomux()
        var b = Protomux()
        let first = try a.open(protocol: "x", id: Self.key, handshake: [])
        let close = a.close(first.channel)
        #expect(close == [0, 3, 1] && !a.isOpen(first.channel))
        let second = try a.open(protocol: "x", id: [0], handshake: [])
        #expect(second.channel.localId == 2)  // 1 is still mapped by the remote

        // B sees the open and the close; its answer is the ack that frees id 1 at A.
        #expect(try deliver(first.frame, to: &b).count == 1)
        #expect(try deliver(close, to: &b).isEmpty)
        let answer = try b.open(protocol: "x", id: Self.key, handshake: [])
        #expect(answer.events == [.opened(answer.channel, remoteHandshake: []), .closed(answer.channel)])
        #expect(try deliver(answer.frame, to: &a).isEmpty)
        #expect(try a.open(protocol: "z", id: [], handshake: []).channel.localId == 1)
    }

    @Test func rejectOfAChannelClosedBeforePairing() throws {
        var a = Protomux()
        var b = Protomux()
        let open = try a.open(protocol: "x", id: Self.key, handshake: [])
        let close = a.close(open.channel)
        let events = try deliver(open.frame, to: &b)
        _ = try deliver(close, to: &b)
        guard case .remoteOpened(let remote) = events.first else { return }
        #expect(try deliver(b.reject(remote), to: &a).isEmpty)  // frees the id, no event: it was closed
        #expect(try a.open(protocol: "x", id: Self.key, handshake: []).channel.localId == 1)
    }

    @Test(arguments: [true, false])
    func aliasesPair(localFirst: Bool) throws {
        var hypercore = Protomux()  // opens under "hypercore/alpha" with the alias "hypercore"
        var legacy = Protomux()  // a peer that names the protocol by its alias
        let legacyOpen = try legacy.open(protocol: "hypercore", id: Self.key, handshake: [7])
        if localFirst {
            let open = try hypercore.open(
                protocol: "hypercore/alpha", aliases: ["hypercore"], id: Self.key, handshake: [8])
            #expect(try deliver(legacyOpen.frame, to: &hypercore) == [.opened(open.channel, remoteHandshake: [7])])
        } else {
            let events = try deliver(legacyOpen.frame, to: &hypercore)
            #expect(events.count == 1)
            let open = try hypercore.open(
                protocol: "hypercore/alpha", aliases: ["hypercore"], id: Self.key, handshake: [8])
            #expect(open.events == [.opened(open.channel, remoteHandshake: [7])])
        }
        // Without the alias the names do not meet.
        var plain = Protomux()
        _ = try plain.open(protocol: "hypercore/alpha", id: Self.key, handshake: [])
        let events = try deliver(legacyOpen.frame, to: &plain)
        guard case .remoteOpened = events.first else {
            Issue.record("an open under another name paired: \(events)")
            return
        }
    }

    @Test func uniqueChannelsPerKey() throws {
        var a = Protomux()
        _ = try a.open(protocol: "x", id: Self.key, handshake: [])
        #expect(throws: ReplicationError.self) { try a.open(protocol: "x", id: Self.key, handshake: []) }
        let second = try a.open(protocol: "x", id: Self.key, handshake: [], unique: false)
        #expect(second.channel.localId == 2)
    }

    @Test func remoteIdsMayOnlyGrowByOne() throws {
        // Open frames from a remote with a given id.
        func open(_ id: UInt64) -> [UInt8] {
            ProtomuxFrame.control(.open(channel: id, protocol: "x", id: [UInt8(truncatingIfNeeded: id)], handshake: []))
        }

        var b = Protomux()
        for (frame, code) in [
            (open(2), ReplicationError.Code.protocolViolation), (open(0), .protocolViolation),
            (open(.max), .protocolViolation),
        ] {
            do {
                _ = try b.receive(frame)
                Issue.record("accepted \(frame)")
            } catch {
                #expect(error.code == code)
            }
        }
        #expect(try b.receive(open(1)).count == 1)
        #expect(throws: ReplicationError.self) { try b.receive(open(1)) }  // busy
        #expect(throws: ReplicationError.self) { try b.receive(open(3)) }  // skips 2
        #expect(try b.receive(open(2)).count == 1)
        #expect(b.remoteChannelCount == 2)
    }

    @Test func framesForUnknownChannelsAndBadRejects() throws {
        var b = Protomux()
        _ = try b.receive(ProtomuxFrame.control(.open(channel: 1, protocol: "x", id: [], handshake: [])))
        for (frame, code) in [
            ([UInt8]([5, 0, 1]), ReplicationError.Code.unknownChannel),  // message, id never opened
            (ProtomuxFrame.control(.close(channel: 9)), .unknownChannel),
            (ProtomuxFrame.control(.reject(channel: 1)), .protocolViolation),  // we opened nothing
            (ProtomuxFrame.control(.reject(channel: 0)), .protocolViolation),
        ] {
            do {
                _ = try b.receive(frame)
                Issue.record("accepted \(frame)")
            } catch {
                #expect(error.code == code)
            }
        }
        #expect(try b.receive(ProtomuxFrame.control(.close(channel: 0))).isEmpty)  // ignored, as protomux does
    }

    @Test func rejectAfterPairingIsAViolation() throws {
        var a = Protomux()
        var b = Protomux()
        let open = try a.open(protocol: "x", id: [], handshake: [])
        _ = try deliver(open.frame, to: &b)
        _ = try deliver(try b.open(protocol: "x", id: [], handshake: []).frame, to: &a)
        #expect(throws: ReplicationError.self) { try a.receive(ProtomuxFrame.control(.reject(channel: 1))) }
    }

    @Test func pendingOpensAreBounded() throws {
        var b = Protomux(limits: .init(maxPendingOpenBytes: 1000, maxRemoteChannels: 3))
        let handshake = [UInt8](repeating: 0, count: 300)
        for id in 1...2 as ClosedRange<UInt64> {
            _ = try b.receive(
                ProtomuxFrame.control(.open(channel: id, protocol: "x", id: [UInt8(id)], handshake: handshake)))
        }
        #expect(b.pendingOpenBytes == 2 * (128 + 1 + 1 + 300))
        do {
            _ = try b.receive(ProtomuxFrame.control(.open(channel: 3, protocol: "x", id: [3], handshake: handshake)))
            Issue.record("a third pending open fit in 1000 bytes")
        } catch {
            #expect(error.code == .bufferOverflow)
        }
        var c = Protomux(limits: .init(maxRemoteChannels: 2))
        _ = try c.receive(ProtomuxFrame.control(.open(channel: 1, protocol: "x", id: [1], handshake: [])))
        _ = try c.receive(ProtomuxFrame.control(.open(channel: 2, protocol: "x", id: [2], handshake: [])))
        #expect(throws: ReplicationError.self) {
            try c.receive(ProtomuxFrame.control(.open(channel: 3, protocol: "x", id: [3], handshake: [])))
        }
    }

    @Test func staleHandlesDoNotReachAReusedChannel() throws {
        var a = Protomux()
        let old = try a.open(protocol: "x", id: [1], handshake: [])
        _ = a.close(old.channel)
        _ = try a.receive(ProtomuxFrame.control(.reject(channel: 1)))  // the remote's answer frees id 1
        let new = try a.open(protocol: "x", id: [2], handshake: [])
        #expect(new.channel.localId == old.channel.localId && new.channel != old.channel)
        #expect(a.send(old.channel, type: 0, payload: [1]) == nil && a.close(old.channel) == nil)
        #expect(a.isOpen(new.channel))
    }

    @Test func nestedCorksBatchOnce() throws {
        var a = Protomux()
        let channel = try a.open(protocol: "x", id: [], handshake: []).channel
        a.cork()
        a.cork()
        _ = a.send(channel, type: 0, payload: [1])
        #expect(a.uncork().isEmpty && a.isCorked)
        _ = a.send(channel, type: 0, payload: [2])
        #expect(a.uncork() == [[0, 0, 1, 2, 0, 1, 2, 0, 2]])
        #expect(a.uncork().isEmpty)  // not corked: nothing, no trap
    }
}
