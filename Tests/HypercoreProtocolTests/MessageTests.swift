import Hypercore
import HypercoreProtocol
import Testing

@Suite struct MessageTests {
    // MARK: Vectors (spec D.9, plaintexts confirmed against JS hypercore 10.38.2)

    @Test func requestVector() throws {
        let payload = hex("09 01 00 fd e7 03 00 00 fd e8 03")
        let message = RequestMessage(
            id: 1,
            ProofRequest(
                fork: 0, block: .init(index: 999, nodes: 0),
                upgrade: .init(start: 0, length: 1000)))
        #expect(message.encoded == payload)
        #expect(message.encodedLength == payload.count)
        guard case .request(let decoded) = try HypercoreMessage.decode(type: 1, payload: payload) else {
            Issue.record("not a request")
            return
        }
        #expect(decoded == message)
        #expect(
            decoded.proofRequest
                == ProofRequest(block: .init(index: 999, nodes: 0), upgrade: .init(start: 0, length: 1000)))
        #expect(decoded.seek == nil && !decoded.manifest && decoded.priority == 0)
    }

    @Test func syncVectors() throws {
        // JS's sync inside its first batch, and ours (after the channel and type bytes).
        let theirs = SyncMessage(
            flags: [.canUpgrade, .uploading, .downloading], fork: 0, length: 1000, remoteLength: 0)
        #expect(theirs.encoded == hex("07 00 fd e8 03 00"))
        let ours = SyncMessage(flags: .downloading, fork: 0, length: 0, remoteLength: 1000)
        #expect(ours.encoded == hex("04 00 00 fd e8 03"))
        #expect(try HypercoreMessage.decode(type: 0, payload: hex("04 00 00 fd e8 03")) == .sync(ours))
    }

    @Test func nodeArrayBytes() {
        let message = DataMessage(
            requestId: 0, hash: .init(index: 2, nodes: [node(0xFD, 0x1_0000, fill: 0x11), node(1, 2, fill: 0x22)]))
        #expect(
            message.encoded == hex("02 00 00 02 02 fd fd 00 fe 00 00 01 00") + [UInt8](repeating: 0x11, count: 32)
                + [1, 2] + [UInt8](repeating: 0x22, count: 32))
    }

    @Test func rangeUsesTheShortFormForLengthOne() throws {
        #expect(RangeMessage(start: 0, length: 1000).encoded == hex("00 00 fd e8 03"))
        #expect(RangeMessage(drop: true, start: 5, length: 1).encoded == hex("03 05"))
        #expect(
            try HypercoreMessage.decode(type: 8, payload: hex("02 05")) == .range(RangeMessage(start: 5, length: 1)))
    }

    @Test func handshakeVector() throws {
        let capability = node(0, 0, fill: 0xC4).hash
        let handshake = ChannelHandshake(seeks: true, capability: capability)
        #expect(handshake.encoded == [0x01] + capability.bytes)
        #expect(try ChannelHandshake(handshake.encoded) == handshake)
        #expect(try ChannelHandshake(handshake.encoded + [9, 9]) == handshake)  // trailing bytes ignored
        for cut in 0..<33 {
            #expect(throws: ReplicationError.self) { try ChannelHandshake(Array(handshake.encoded.prefix(cut))) }
        }
        var noSeeks = handshake
        noSeeks.seeks = false
        #expect(noSeeks.encoded[0] == 0 && !noSeeks.seeks)
    }

    // MARK: Round trips, truncation, trailing bytes

    @Test(arguments: exampleMessages)
    func roundTrip(_ message: HypercoreMessage) throws {
        let payload = message.encoded
        #expect(payload.count == message.encodedLength)
        #expect(try HypercoreMessage.decode(type: message.type, payload: payload) == message)
    }

    /// Every example is complete in all its fields (v11 tails included), so a proper prefix is missing a field
    /// that the flags or the previous fields announce and throws — except where the shorter form is itself a
    /// message: a v10 `noData` or `want` (cut right before the v11 tail) and an extension whose raw message
    /// runs to the end.
    @Test(arguments: exampleMessages)
    func everyTruncationThrows(_ message: HypercoreMessage) throws {
        let payload = message.encoded
        for cut in 0..<payload.count {
            let prefix = Array(payload.prefix(cut))
            let shorter: HypercoreMessage? =
                switch message {
                case .noData(let m) where cut == CompactEncoder.uintLength(m.requestId):
                    .noData(NoDataMessage(requestId: m.requestId))
                case .want(let m) where cut == CompactEncoder.uintLength(m.start) + CompactEncoder.uintLength(m.length):
                    .want(WantMessage(start: m.start, length: m.length))
                case .unwant(let m)
                where cut == CompactEncoder.uintLength(m.start) + CompactEncoder.uintLength(m.length):
                    .unwant(WantMessage(start: m.start, length: m.length))
                case .extension(let m) where cut > m.name.utf8.count:
                    .extension(
                        ExtensionMessage(name: m.name, message: Array(m.message.prefix(cut - m.name.utf8.count - 1))))
                default:
                    nil
                }
            if let shorter {
                #expect(try HypercoreMessage.decode(type: message.type, payload: prefix) == shorter)
                continue
            }
            do {
                let decoded = try HypercoreMessage.decode(type: message.type, payload: prefix)
                Issue.record("\(cut)-byte prefix of \(message) decoded as \(decoded)")
            } catch {
                #expect(error.code == .malformedMessage)
            }
        }
    }

    @Test(arguments: exampleMessages)
    func trailingBytesAreIgnored(_ message: HypercoreMessage) throws {
        guard message.type != HypercoreMessage.WireType.extension else { return }  // its message is the rest
        for extra in [[0x00], [0xFF], [0x01, 0xFD, 0xE8, 0x03, 0x99]] as [[UInt8]] {
            #expect(try HypercoreMessage.decode(type: message.type, payload: message.encoded + extra) == message)
        }
    }

    // MARK: Optional v11 fields

    @Test func noDataReasonIsOptional() throws {
        #expect(NoDataMessage(requestId: 5).encoded == [5])  // v10 form, as JS 10 sends it
        #expect(try HypercoreMessage.decode(type: 4, payload: [5]) == .noData(NoDataMessage(requestId: 5)))
        #expect(try HypercoreMessage.decode(type: 4, payload: [5, 0]) == .noData(NoDataMessage(requestId: 5)))
        #expect(
            try HypercoreMessage.decode(type: 4, payload: [5, 1, 2])
                == .noData(NoDataMessage(requestId: 5, reason: .invalidRequest)))
        #expect(NoDataMessage(requestId: 5, reason: .notAvailable).encoded == [5, 1, 1])
        // Flags announcing a reason that is missing, or a flags field cut short: malformed.
        #expect(throws: ReplicationError.self) { try HypercoreMessage.decode(type: 4, payload: [5, 1]) }
        #expect(throws: ReplicationError.self) { try HypercoreMessage.decode(type: 4, payload: [5, 0xFD, 1]) }
    }

    @Test func wantAnyIsOptional() throws {
        #expect(WantMessage(start: 0, length: 2_097_152).encoded == hex("00 fe 00 00 20 00"))
        #expect(
            try HypercoreMessage.decode(type: 5, payload: hex("00 fe 00 00 20 00"))
                == .want(WantMessage(start: 0, length: 2_097_152)))
        #expect(
            try HypercoreMessage.decode(type: 6, payload: hex("00 01 01"))
                == .unwant(WantMessage(start: 0, length: 1, any: true)))
        #expect(
            try HypercoreMessage.decode(type: 5, payload: hex("00 01 02")) == .want(WantMessage(start: 0, length: 1)))
    }

    @Test func requestPriorityAndManifest() throws {
        let message = RequestMessage(id: 3, upgrade: .init(start: 0, length: 5), manifest: true, priority: 9)
        #expect(message.encoded == hex("38 03 00 00 05 09"))  // flags 8|16|32
        // Priority 0 is not sent (flag clear), and a zero priority on the wire decodes to the default.
        #expect(RequestMessage(id: 3, manifest: true).encoded == hex("10 03 00"))
        #expect(try HypercoreMessage.decode(type: 1, payload: hex("20 03 00 00")) == .request(RequestMessage(id: 3)))
        // The priority flag without a priority is cut short.
        #expect(throws: ReplicationError.self) { try HypercoreMessage.decode(type: 1, payload: hex("20 03 00")) }
    }

    // MARK: Bounds

    @Test func countsAreCheckedBeforeAllocating() throws {
        // data with a block whose node count is huge but whose bytes are few.
        let hugeNodes = hex("01 01 00 05 00 ff ff ff ff ff 00 00 00 00")
        #expect(throws: ReplicationError.self) { try HypercoreMessage.decode(type: 3, payload: hugeNodes) }
        // 300 nodes would be within compact-encoding's limit but beyond a proof's.
        var e = CompactEncoder()
        e.uint(UInt64(1))
        e.uint(UInt64(1))
        e.uint(UInt64(0))
        e.uint(UInt64(0))
        e.buffer([UInt8]())
        e.nodes((0..<300).map { node($0, 1, fill: 0) })
        #expect(throws: ReplicationError.self) { try HypercoreMessage.decode(type: 3, payload: e.bytes) }
        // A node count that fits the limit but not the bytes left.
        #expect(throws: ReplicationError.self) {
            try HypercoreMessage.decode(type: 3, payload: hex("01 01 00 05 00 10") + Array(repeating: 0, count: 40))
        }
        // A block value longer than the payload.
        #expect(throws: ReplicationError.self) {
            try HypercoreMessage.decode(type: 3, payload: hex("01 01 00 05 fe 00 00 00 01 00"))
        }
        // A bitfield announcing a million words with a few bytes, and one beyond compact-encoding's limit.
        #expect(throws: ReplicationError.self) {
            try HypercoreMessage.decode(type: 7, payload: hex("00 fe 00 00 10 00 01 02 03 04"))
        }
        #expect(throws: ReplicationError.self) {
            try HypercoreMessage.decode(type: 7, payload: hex("00 fe 01 00 10 00"))
        }
        // A signature longer than any multisig blob.
        let upgrade = hex("08 01 00 00 01 00 00 fe 70 11 01 00") + Array(repeating: 0, count: 70_000)
        #expect(throws: ReplicationError.self) { try HypercoreMessage.decode(type: 3, payload: upgrade) }
        // An extension name that is not UTF-8.
        #expect(throws: ReplicationError.self) { try HypercoreMessage.decode(type: 9, payload: hex("02 c3 28 01")) }
    }

    @Test func unknownTypesAreKept() throws {
        let message = try HypercoreMessage.decode(type: 42, payload: [1, 2, 3])
        #expect(message == .unknown(type: 42, payload: [1, 2, 3]))
        #expect(message.type == 42 && message.encoded == [1, 2, 3])
        #expect(HypercoreMessage.name(ofType: 42) == "type 42" && HypercoreMessage.name(ofType: 3) == "data")
    }

    @Test func errorsNameTheMessage() {
        do {
            _ = try HypercoreMessage.decode(type: 0, payload: [7, 0])
            Issue.record("a cut sync decoded")
        } catch {
            #expect(error.code == .malformedMessage)
            #expect(error.message.contains("sync"))
            #expect(error.cause is HypercoreError)
        }
    }

    // MARK: Conversions

    @Test func requestConvertsToAndFromProofRequest() {
        let request = ProofRequest(
            fork: 2, block: .init(index: 4, nodes: 1), hash: .init(index: 9, nodes: 3),
            upgrade: .init(start: 5, length: 6))
        let message = RequestMessage(id: 77, request, seek: .init(bytes: 1, padding: 0), manifest: true, priority: 1)
        #expect(message.proofRequest == request)
        #expect(
            message.id == 77 && message.seek == .init(bytes: 1, padding: 0) && message.manifest && message.priority == 1
        )
    }

    @Test func dataConvertsToAndFromProof() {
        let proof = Proof(
            fork: 1, block: .init(index: 3, value: [1, 2, 3], nodes: [node(4, 1, fill: 1)]),
            hash: nil,
            upgrade: .init(
                start: 0, length: 4, nodes: [node(3, 4, fill: 2)], additionalNodes: [],
                signature: Array(repeating: 9, count: 64)))
        let message = DataMessage(requestId: 12, proof)
        #expect(message.proof == proof)
        #expect(message.requestId == 12 && message.seek == nil && message.manifest == nil)
    }
}
