import Foundation
import Hypercore
import HypercoreProtocol
import KappaTesting
import Testing

/// Writes the seed corpus of the libFuzzer targets in `Fuzz/` (docs/fuzzing.md) from real messages: the plaintexts
/// of spec D.9, ``exampleMessages``, and the frames of a Swift-to-Swift session recorded with
/// ``PlainMessageTransport``. Runs only when asked:
///
///     KAPPA_FUZZ_SEEDS=1 swift test --filter FuzzSeedCorpus   (without it the test only checks)
///
/// The files follow each target's input format, described at the top of its source.
@Suite struct FuzzSeedCorpus {
    static let root = URL(fileURLWithPath: #filePath).deletingLastPathComponent().deletingLastPathComponent()
        .deletingLastPathComponent().appendingPathComponent("Fuzz/corpus")

    /// The feed of the recorded session: its discovery key is the one `FuzzProtomux` opens besides D.9's.
    static func sessionFeed() async throws -> Feed {
        let feed = try Feed.create(keyPair: try KeyPair.fromSeed([UInt8](repeating: 7, count: 32)))
        try await feed.append(contentsOf: (0..<6).map { testBlock($0, size: 24) })
        return feed
    }

    /// Both sides' messages (protomux frames) of a full download of ``sessionFeed()``.
    static func recordSession() async throws -> (writer: [[UInt8]], replica: [[UInt8]]) {
        let writer = try await sessionFeed()
        let replica = try Feed.replica(key: writer.key)
        let (a, b) = PlainMessageTransport.pair()
        let writerSession = ReplicationSession(transport: a)
        try await writerSession.add(writer)
        let replicaSession = ReplicationSession(transport: b)
        try await replicaSession.add(replica)
        async let left = Result { try await writerSession.run() }
        _ = try await replicaSession.run()
        _ = try await left.get()
        #expect(await replica.length == 6)
        return (a.recorded, b.recorded)
    }

    /// D.9: our hypercore open (with the capability the transcript elides), JS's first batch, our sync.
    static let d9Open = hex("00 01 01 0f 6879706572636f72652f616c706861 20") + transcriptDiscoveryKey + [0x01]
        + [UInt8](repeating: 0xC4, count: 32)
    static let d9Batch = hex("00 00 01 07 00 07 00 fd e8 03 00 06 08 00 00 fd e8 03")
    static let d9Sync = hex("01 00 04 00 00 fd e8 03")
    static let d9Request = hex("09 01 00 fd e7 03 00 00 fd e8 03")

    /// A `FuzzProtomux` step receiving `frame`.
    static func step(_ frame: [UInt8]) -> [UInt8] {
        frame.count < 0xF0
            ? [UInt8(frame.count)] + frame : [0xF0, UInt8(frame.count & 0xFF), UInt8(frame.count >> 8)] + frame
    }

    /// Builds every seed and checks it fits the fuzzers' `-max_len`; with `KAPPA_FUZZ_SEEDS=1` also writes them
    /// to `Fuzz/corpus` (the committed corpus is checked to exist either way).
    @Test func seedsFitAndTheCorpusExists() async throws {
        let writing = ProcessInfo.processInfo.environment["KAPPA_FUZZ_SEEDS"] != nil
        let session = try await Self.recordSession()
        var seeds: [String: [String: [UInt8]]] = [:]

        // FuzzMessages: `type % 12 ‖ payload`; 11 is a channel handshake.
        var messages: [String: [UInt8]] = [:]
        messages["d9-request"] = [1] + Self.d9Request
        messages["d9-sync"] = [0] + Array(Self.d9Sync.dropFirst(2))
        for entry in try ProtomuxFrame.entries(of: Self.d9Batch) {
            messages["d9-batch-type\(entry.type)"] = [UInt8(entry.type)] + entry.payload
        }
        messages["d9-handshake"] = [11] + Array(Self.d9Open.suffix(33))
        let feed = try await DataMessageTests.servedFeed()
        let proof = try await feed.proof(for: ProofRequest(
            block: .init(index: 999, nodes: 0), upgrade: .init(start: 0, length: 1000)))
        messages["d9-data"] = [3] + DataMessage(requestId: 1, proof).encoded
        for (i, message) in exampleMessages.enumerated() {
            messages["example-\(i)-type\(message.type)"] = [UInt8(message.type)] + message.encoded
        }
        var perType: [UInt64: Int] = [:]
        for frame in session.writer + session.replica {
            for entry in try ProtomuxFrame.entries(of: frame) where entry.channel != 0 && entry.type < 10 {
                perType[entry.type, default: 0] += 1
                if perType[entry.type, default: 0] <= 2 {
                    messages["session-type\(entry.type)-\(perType[entry.type, default: 0])"] =
                        [UInt8(entry.type)] + entry.payload
                }
            }
        }
        seeds["FuzzMessages"] = messages

        // FuzzProtomux: `config ‖ steps`; a step is a received frame or an owner action (0xF1…0xFF).
        var mux: [String: [UInt8]] = [:]
        mux["d9-open-batch-sync"] = [0] + [Self.d9Open, Self.d9Batch, Self.d9Sync].flatMap(Self.step)
        // The writer's frames as the remote's, whole, then also answered with sends, a cork and a close.
        mux["session-writer"] = [0] + session.writer.flatMap(Self.step)
        mux["session-replica"] = [0] + session.replica.flatMap(Self.step)
        // Owner actions: cork, two sends, then after the rest an uncork and a close.
        var owner: [UInt8] = [0] + session.writer.prefix(3).flatMap(Self.step)
        owner += [0xF6, 0x00, 0xF7, 0x11, 0xF7, 0x31]
        owner += session.writer.dropFirst(3).flatMap(Self.step)
        owner += [0xF6, 0x01, 0xF4, 0x01]
        mux["session-writer-owner"] = owner
        // Remote opens before any local one (config bit 1), under the alias too, answered, rejected, closed.
        let aliasOpen = ProtomuxFrame.control(
            .open(channel: 1, protocol: "hypercore", id: transcriptDiscoveryKey, handshake: [0x01] + [UInt8](
                repeating: 0, count: 32)))
        let otherOpen = ProtomuxFrame.control(.open(channel: 2, protocol: "x", id: [0], handshake: [9]))
        let message = ProtomuxFrame.message(channel: 2, type: 0, payload: [UInt8]([1, 2, 3]))
        mux["remote-first-answered"] = [2] + [aliasOpen, otherOpen, message].flatMap(Self.step)
            + [0xF1, 0x00, 0xF2, 0x01] + Self.step(ProtomuxFrame.control(.close(channel: 2)))
        mux["remote-first-rejected"] = [3] + [aliasOpen, otherOpen, message, message].flatMap(Self.step)
            + [0xF3, 0x01, 0xF5, 0x00] + Self.step(ProtomuxFrame.control(.reject(channel: 1)))
        // A batch of control entries and messages with channel switches, as a corked mux builds it.
        var builder = Protomux()
        _ = try builder.openHypercore(discoveryKey: try Bytes32(transcriptDiscoveryKey),
                                      handshake: ChannelHandshake(capability: try Bytes32(transcriptDiscoveryKey)))
        builder.cork()
        let x = try builder.open(protocol: "x", id: [0], handshake: [1])
        for message in exampleMessages.prefix(5) { _ = builder.send(x.channel, type: message.type, payload: message) }
        _ = builder.close(x.channel)
        mux["batch-mixed"] = [0] + Self.step(Self.d9Open) + builder.uncork().flatMap(Self.step)
        // Remote ids must grow by one, which mutations rarely keep. With the small limits (config bit 0), 20 opens
        // in one batch overflow the pending-open bytes; 20 opens each rejected at once overflow the remote ids.
        var opener = Protomux()
        let opens = try (0..<20).map { i in
            try opener.open(protocol: "x", id: [UInt8(i)], handshake: [UInt8(i)]).frame ?? []
        }
        var batch = Protomux()
        batch.cork()
        for i in 0..<20 { _ = try batch.open(protocol: "x", id: [UInt8(i)], handshake: [UInt8(i)]) }
        mux["many-remote-opens-batch"] = [1] + batch.uncork().flatMap(Self.step) + [0xF3, 0x00, 0xF1, 0x00]
        mux["many-remote-opens-rejected"] = [1] + opens.flatMap { Self.step($0) + [0xF3, 0x00] }
        seeds["FuzzProtomux"] = mux

        // FuzzFrameReassembler: `limit ‖ chunking ‖ stream` of u24le-framed frames.
        var frames: [String: [UInt8]] = [:]
        let sessionStream: [UInt8] = (session.writer + session.replica).flatMap { Framing.frame($0) }
        frames["session-whole"] = [0, 0x00] + sessionStream
        frames["session-bytes"] = [0, 0x20] + sessionStream.prefix(600)
        frames["session-random-lazy"] = [0, 0x97] + sessionStream
        frames["session-random-empty-chunks"] = [0, 0xE5] + sessionStream
        // The D.9 handshake sizes (35, 99, 67) and header frames (59 each), and a keep-alive (20 bytes).
        let handshakeStream: [UInt8] = [32, 96, 64, 56, 56, 17].flatMap { (size: Int) -> [UInt8] in
            Framing.frame((0..<size).map { UInt8(truncatingIfNeeded: $0 &* 37 &+ size) })
        }
        frames["d9-handshake-chunks-of-3"] = [0, 0x60] + handshakeStream
        frames["too-large-for-64"] = [4, 0x80] + handshakeStream
        frames["empty-frames-and-a-cut"] = [0, 0x40] + [0, 0, 0, 0, 0, 0, 1, 0, 0, 7, 0x10, 0, 0, 1, 2]
        seeds["FuzzFrameReassembler"] = frames

        for (target, files) in seeds {
            let directory = Self.root.appendingPathComponent(target)
            #expect(!files.isEmpty)
            for (name, bytes) in files {
                #expect(bytes.count <= 4096, "\(target)/\(name) is longer than the fuzzers' -max_len")
            }
            if writing {
                try FileManager.default.createDirectory(at: directory, withIntermediateDirectories: true)
                for (name, bytes) in files { try Data(bytes).write(to: directory.appendingPathComponent(name)) }
            }
            let committed = try FileManager.default.contentsOfDirectory(atPath: directory.path)
            #expect(committed.count >= files.count / 2, "Fuzz/corpus/\(target) is missing; regenerate it")
        }
    }
}
