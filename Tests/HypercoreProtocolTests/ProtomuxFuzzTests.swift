import Hypercore
import HypercoreProtocol
import KappaTesting
import Testing

/// Seeded random inputs: damaged frames and messages never trap (they decode or throw a
/// ``ReplicationError``), and two well-behaved muxes never disagree however their traffic interleaves.
@Suite struct ProtomuxFuzzTests {
    /// Damages `bytes` with 1–3 random edits: bit flips, cuts, extensions, insertions, deletions and the
    /// bytes that change a varint's width.
    static func mutate(_ bytes: [UInt8], _ rng: inout SeededGenerator) -> [UInt8] {
        var b = bytes
        for _ in 0..<Int.random(in: 1...3, using: &rng) {
            switch Int.random(in: 0..<6, using: &rng) {
            case 0 where !b.isEmpty:
                b[Int.random(in: 0..<b.count, using: &rng)] ^= 1 << UInt8.random(in: 0..<8, using: &rng)
            case 1:
                b = Array(b.prefix(Int.random(in: 0...b.count, using: &rng)))
            case 2:
                b += (0..<Int.random(in: 1...8, using: &rng)).map { _ in UInt8.random(in: 0...255, using: &rng) }
            case 3:
                b.insert(UInt8.random(in: 0...255, using: &rng), at: Int.random(in: 0...b.count, using: &rng))
            case 4 where !b.isEmpty:
                b[Int.random(in: 0..<b.count, using: &rng)] =
                    [0x00, 0x01, 0xFC, 0xFD, 0xFE, 0xFF].randomElement(using: &rng) ?? 0
            case 5 where !b.isEmpty:
                b.remove(at: Int.random(in: 0..<b.count, using: &rng))
            default:
                break
            }
        }
        return b
    }

    @Test(.timeLimit(.minutes(1)))
    func damagedMessagesDecodeOrThrow() throws {
        var rng = SeededGenerator(seed: 0x6D65_7373)
        var decoded = 0
        for _ in 0..<20_000 {
            let original = exampleMessages.randomElement(using: &rng) ?? .cancel(CancelMessage(requestId: 0))
            let payload = Self.mutate(original.encoded, &rng)
            // Mostly the original type; sometimes another one, or one no version defines.
            let type = Int.random(in: 0..<4, using: &rng) == 0 ? UInt64.random(in: 0...11, using: &rng) : original.type
            do {
                let message = try HypercoreMessage.decode(type: type, payload: payload)
                decoded += 1
                // Whatever decodes re-encodes to something that decodes to the same message.
                #expect(message.type == type)
                #expect(message.encoded.count == message.encodedLength)
                #expect(try HypercoreMessage.decode(type: type, payload: message.encoded) == message)
            } catch {
                #expect(error.code == .malformedMessage)
            }
        }
        #expect(decoded > 1000)  // the damage leaves enough valid inputs to exercise the success path too
    }

    /// Frames a session could carry: opens, JS's batch, every message on channel 1, a mixed batch, closes.
    static func frameCorpus() throws -> [[UInt8]] {
        var a = Protomux()
        var corpus: [[UInt8]] = []
        let dk = try Bytes32(transcriptDiscoveryKey)
        let hypercore = try a.openHypercore(discoveryKey: dk, handshake: ChannelHandshake(capability: dk))
        corpus += [hypercore.frame].compactMap { $0 }
        for i in 0..<3 {
            corpus += [try a.open(protocol: "x", id: [UInt8(i)], handshake: [UInt8(i)]).frame].compactMap { $0 }
        }
        corpus.append(hex("00 00 01 07 00 07 00 fd e8 03 00 06 08 00 00 fd e8 03"))
        for message in exampleMessages { corpus += [a.send(message, on: hypercore.channel)].compactMap { $0 } }
        #expect(corpus.count == 5 + exampleMessages.count)
        a.cork()
        for message in exampleMessages.prefix(6) { _ = a.send(message, on: hypercore.channel) }
        _ = try a.open(protocol: "y", id: [], handshake: [])
        corpus += a.uncork()
        corpus += [
            ProtomuxFrame.control(.close(channel: 2)), ProtomuxFrame.control(.reject(channel: 1)),
            ProtomuxFrame.control(.close(channel: 1)), [],
        ]
        return corpus
    }

    @Test(.timeLimit(.minutes(1)))
    func damagedFramesNeverTrapTheMux() throws {
        let corpus = try Self.frameCorpus()
        var rng = SeededGenerator(seed: 0x6672_616D)
        var mux = Protomux()
        var pending: [Protomux.RemoteOpen] = []
        var channels: [Protomux.Channel] = []
        var counts = (events: 0, errors: 0)
        for step in 0..<20_000 {
            if step % 500 == 0 { mux = Protomux() }  // sometimes a fresh mux, mostly a battered one
            var frame = corpus.randomElement(using: &rng) ?? []
            if Int.random(in: 0..<10, using: &rng) < 7 { frame = Self.mutate(frame, &rng) }
            do {
                for event in try mux.receive(frame) {
                    counts.events += 1
                    switch event {
                    case .remoteOpened(let open): pending.append(open)
                    case .opened(let channel, _): channels.append(channel)
                    case .message(_, let type, let payload):
                        _ = try? HypercoreMessage.decode(type: type, payload: payload)
                    case .closed, .rejected: break
                    }
                }
            } catch {
                counts.errors += 1
                #expect([.malformedMessage, .protocolViolation, .unknownChannel, .bufferOverflow].contains(error.code))
            }
            // The owner's side keeps acting on whatever state the damage left.
            switch Int.random(in: 0..<8, using: &rng) {
            case 0 where !pending.isEmpty:
                let open = pending.removeFirst()
                if Bool.random(using: &rng) {
                    _ = mux.reject(open)
                } else if let result = try? mux.open(protocol: open.protocol, id: open.id, handshake: []) {
                    channels.append(result.channel)
                }
            case 1 where !channels.isEmpty:
                _ = mux.close(channels.remove(at: Int.random(in: 0..<channels.count, using: &rng)))
            case 2 where !channels.isEmpty:
                _ = mux.send(channels[Int.random(in: 0..<channels.count, using: &rng)], type: 0, payload: [1])
            case 3:
                if mux.isCorked { _ = mux.uncork() } else { mux.cork() }
            default:
                break
            }
            #expect(mux.bufferedBytes >= 0 && mux.bufferedBytes <= mux.limits.maxBuffered)
            #expect(mux.pendingOpenBytes >= 0 && mux.pendingOpenBytes <= mux.limits.maxPendingOpenBytes)
        }
        #expect(counts.events > 1000 && counts.errors > 1000)
    }

    /// One side of a random but well-behaved session: it opens, answers, closes and sends at random, and
    /// checks that every message arrives on the channel of the key it was sent on.
    struct Side {
        var mux = Protomux()
        var keys: [Protomux.Channel: UInt8] = [:]
        var pending: [Protomux.RemoteOpen] = []
        var outbox: [[UInt8]] = []
        /// How often each event happened, to show the session covered them.
        var seen: [String: Int] = [:]

        mutating func post(_ frame: [UInt8]?) {
            if let frame { outbox.append(frame) }
        }

        mutating func handle(_ events: [ProtomuxEvent], opened key: UInt8? = nil) {
            for event in events {
                seen["\(event)".prefix { $0 != "(" }.description, default: 0] += 1
                switch event {
                case .remoteOpened(let open): pending.append(open)
                case .opened(let channel, let handshake):
                    let expected = keys[channel] ?? key
                    #expect(handshake == expected.map { [$0] }, "paired with the wrong key")
                case .message(let channel, _, let payload):
                    #expect(payload.first == keys[channel], "a message for key \(payload.first ?? 0) on \(channel)")
                case .closed(let channel), .rejected(let channel):
                    #expect(keys.removeValue(forKey: channel) != nil)
                }
            }
        }

        mutating func open(_ key: UInt8) throws {
            guard !keys.values.contains(key) else { return }
            let result = try mux.open(protocol: "x", id: [key], handshake: [key])
            keys[result.channel] = key
            post(result.frame)
            // Pairing with a waiting remote open answers it (the mux pairs the oldest first, as this list does).
            if !result.events.isEmpty, let answered = pending.firstIndex(where: { $0.id == [key] }) {
                pending.remove(at: answered)
            }
            handle(result.events)
        }

        mutating func step(_ rng: inout SeededGenerator, from peer: inout Side) throws {
            switch Int.random(in: 0..<10, using: &rng) {
            case 0, 1:
                try open(UInt8.random(in: 0..<4, using: &rng))
            case 2 where !pending.isEmpty:
                let open = pending[0]
                if Bool.random(using: &rng) || keys.values.contains(open.id[0]) {
                    pending.removeFirst()
                    post(mux.reject(open))
                } else {
                    try self.open(open.id[0])  // pairs with the oldest waiting open of the key: this one
                }
            case 3 where !keys.isEmpty:
                let channel = Array(keys.keys)[Int.random(in: 0..<keys.count, using: &rng)]
                keys[channel] = nil
                post(mux.close(channel))
            case 4 where !keys.isEmpty, 5 where !keys.isEmpty:
                let (channel, key) = Array(keys)[Int.random(in: 0..<keys.count, using: &rng)]
                post(mux.send(channel, type: UInt64.random(in: 0..<10, using: &rng), payload: [key, 0xEE]))
            case 6:
                if mux.isCorked { outbox += mux.uncork() } else { mux.cork() }
            default:
                guard !peer.outbox.isEmpty else { return }
                handle(try mux.receive(peer.outbox.removeFirst()))
            }
        }
    }

    @Test(.timeLimit(.minutes(1)))
    func wellBehavedPeersNeverDisagree() throws {
        var rng = SeededGenerator(seed: 0x7065_6572)
        var seen: [String: Int] = [:]
        var reused = 0
        for _ in 0..<100 {
            var a = Side()
            var b = Side()
            for _ in 0..<300 {
                if Bool.random(using: &rng) {
                    try a.step(&rng, from: &b)
                } else {
                    try b.step(&rng, from: &a)
                }
            }
            // Drain: uncork both and deliver everything.
            while a.mux.isCorked { a.outbox += a.mux.uncork() }
            while b.mux.isCorked { b.outbox += b.mux.uncork() }
            while !a.outbox.isEmpty || !b.outbox.isEmpty {
                if !b.outbox.isEmpty { a.handle(try a.mux.receive(b.outbox.removeFirst())) }
                if !a.outbox.isEmpty { b.handle(try b.mux.receive(a.outbox.removeFirst())) }
            }
            #expect(a.mux.bufferedBytes == 0 && b.mux.bufferedBytes == 0 || !a.pending.isEmpty || !b.pending.isEmpty)
            seen.merge(a.seen, uniquingKeysWith: +)
            seen.merge(b.seen, uniquingKeysWith: +)
            reused += a.mux.remoteChannelCount < 8 ? 1 : 0
        }
        // Every kind of event happened many times (a session that never paired would prove nothing).
        for kind in ["remoteOpened", "opened", "message", "closed", "rejected"] {
            #expect(seen[kind, default: 0] > 100, "\(kind): \(seen[kind, default: 0])")
        }
        #expect(reused > 50)  // ids were reused rather than grown
    }
}
