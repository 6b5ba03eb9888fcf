import Hypercore
import HypercoreProtocol
import KappaTesting
import Testing

/// The `data` answer of spec D.9, built from the same content JS served (1000 blocks of 64 bytes: block `i` is
/// `u32be(i)` and 60 × the letter `0x61 + i % 26`): the tree hashes depend only on the content, so the bytes
/// are the ones JS hypercore 10.38.2 sent, except the signature (it depends on the key).
@Suite struct DataMessageTests {
    /// Reads the encoded `data` message field by field against the D.9 transcript.
    struct Transcript {
        let bytes: [UInt8]
        var offset = 0

        mutating func expect(_ expected: String, sourceLocation: SourceLocation = #_sourceLocation) {
            let want = hex(expected)
            let got = Array(bytes[offset..<min(bytes.count, offset + want.count)])
            #expect(got == want, "at offset \(offset)", sourceLocation: sourceLocation)
            offset += want.count
        }

        mutating func expectHash(_ prefix: String, _ suffix: String, sourceLocation: SourceLocation = #_sourceLocation)
        {
            let hash = Hex.encode(bytes[offset..<min(bytes.count, offset + 32)])
            #expect(
                hash.hasPrefix(prefix) && hash.hasSuffix(suffix), "hash \(hash) at offset \(offset)",
                sourceLocation: sourceLocation)
            offset += 32
        }

        mutating func take(_ n: Int) -> [UInt8] {
            defer { offset += n }
            return Array(bytes[offset..<min(bytes.count, offset + n)])
        }
    }

    static func servedFeed() async throws -> Feed {
        let feed = try Feed.create(keyPair: try KeyPair.fromSeed([UInt8](repeating: 7, count: 32)))
        try await feed.append(contentsOf: patternBlocks(count: 1000, size: 64))
        return feed
    }

    @Test func transcriptBytes() async throws {
        let feed = try await Self.servedFeed()
        let request = try HypercoreMessage.decode(type: 1, payload: hex("09 01 00 fd e7 03 00 00 fd e8 03"))
        guard case .request(let requestMessage) = request else {
            Issue.record("the D.9 request did not decode as a request")
            return
        }
        let proof = try await feed.proof(for: requestMessage.proofRequest)
        let message = DataMessage(requestId: requestMessage.id, proof)
        let bytes = message.encoded
        #expect(bytes.count == message.encodedLength)

        var t = Transcript(bytes: bytes)
        t.expect("09 01 00")  // flags block|upgrade, request 1, fork 0
        t.expect("fd e7 03")  // block.index 999
        t.expect("40 000003e7" + String(repeating: "6c", count: 60))  // value: u32be(999), 'l' × 60
        t.expect("03")  // block.nodes: 3
        t.expect("fd cc 07 40")
        t.expectHash("5551103b", "e57cfc")  // 1996, size 64
        t.expect("fd c9 07 80")
        t.expectHash("94dff689", "3e32ca")  // 1993, size 128
        t.expect("fd c3 07 fd 00 01")
        t.expectHash("e74c4193", "d7c8ce")  // 1987, size 256
        t.expect("00 fd e8 03")  // upgrade.start 0, length 1000
        t.expect("05")  // 5 roots; 1991 is replaced by the block proof
        t.expect("fd ff 01 fd 00 80")
        t.expectHash("fcff7b85", "74e853")  // 511, 32768
        t.expect("fd ff 04 fd 00 40")
        t.expectHash("9de65180", "adf057")  // 1279, 16384
        t.expect("fd 7f 06 fd 00 20")
        t.expectHash("c1f3f380", "4849bf")  // 1663, 8192
        t.expect("fd 3f 07 fd 00 10")
        t.expectHash("00dc21ea", "a074cef0")  // 1855, 4096
        t.expect("fd 9f 07 fd 00 08")
        t.expectHash("0604120e", "9ecdce")  // 1951, 2048
        t.expect("00")  // additionalNodes: 0
        t.expect("40")  // signature: 64 bytes
        let signature = try #require(await feed.signature)
        #expect(t.take(64) == signature.bytes)
        #expect(t.offset == bytes.count)

        // Decoding gives back the same message and a proof a replica accepts.
        let decoded = try HypercoreMessage.decode(type: 3, payload: bytes)
        #expect(decoded == .data(message))
        #expect(decoded.encoded == bytes)
        guard case .data(let data) = decoded else { return }
        let replica = try Feed.replica(key: feed.key)
        try await replica.receive(data.proof)
        #expect(await replica.length == 1000)
        #expect(await replica.treeHash.hex == "20dd1ccdaf2bbf8b0b200bffd13851fc30b390db9786956e26829d6213675547")
        #expect(try await replica.get(999) == patternBlocks(count: 1, from: 999)[0])
    }

    @Test func everyTruncationOfTheTranscriptThrows() async throws {
        let feed = try await Self.servedFeed()
        let proof = try await feed.proof(
            for: ProofRequest(block: .init(index: 999, nodes: 0), upgrade: .init(start: 0, length: 1000)))
        let bytes = DataMessage(requestId: 1, proof).encoded
        for cut in 0..<bytes.count {
            #expect(throws: ReplicationError.self) {
                try HypercoreMessage.decode(type: 3, payload: Array(bytes.prefix(cut)))
            }
        }
        #expect(
            try HypercoreMessage.decode(type: 3, payload: bytes + [0x2A, 0x00])
                == .data(DataMessage(requestId: 1, proof)))
    }

    @Test func additionalNodesAndManifestRoundTrip() async throws {
        let feed = try await Self.servedFeed()
        let proof = try await feed.proof(for: ProofRequest(upgrade: .init(start: 0, length: 500)))
        let message = DataMessage(requestId: 2, proof, manifest: Manifest.defaultCompat(publicKey: feed.key))
        let bytes = message.encoded
        #expect(bytes.count == message.encodedLength)
        #expect(bytes.suffix(70) == Caps.defaultManifest(publicKey: feed.key)[...])  // the manifest comes last
        let decoded = try HypercoreMessage.decode(type: 3, payload: bytes)
        #expect(decoded == .data(message))
        guard case .data(let data) = decoded else { return }
        #expect(data.upgrade?.additionalNodes.map(\.index) == [1003, 1015, 1279, 1663, 1855, 1951, 1991])
        #expect(data.manifest?.isCompat(key: feed.key) == true)
    }
}
