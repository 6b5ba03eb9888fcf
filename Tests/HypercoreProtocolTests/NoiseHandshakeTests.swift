import Hypercore
import HypercoreProtocol
import Testing

/// Fixed-key vectors for the Noise XX handshake of secret-stream.
///
/// The expected bytes were produced once by the independent Python model in `Tests/Interop/hc10-wire/wire.py`
/// (checked against JavaScript hypercore 10.38.2), running `Noise(True, …)` and `Noise(False, …)` with the same
/// four seeds and its `sign_keypair` patched to return the fixed ephemeral key pairs. The HMAC and HKDF
/// vectors come from Python's standard library (`hmac.new(key, msg, hashlib.blake2b)`), and the DH vector was
/// checked against a pure-Python Edwards25519 scalar multiplication as well as libsodium.
@Suite struct NoiseHandshakeTests {
    static let initiatorStatic = seeded(0x11)  // d04ab232…8737
    static let initiatorEphemeral = seeded(0x22)  // a09aa5f4…a4f0
    static let responderStatic = seeded(0x33)  // 17cb79fb…80ce
    static let responderEphemeral = seeded(0x44)  // d759793b…2c48

    static let message1 = "a09aa5f47a6759802ff955f8dc2d2a14a5c99d23be97f864127ff9383455a4f0"
    static let message2 = "d759793bbc13a2819a827c76adb6fba8a49aee007f49f2d0992d99b825ad2c48"
        + "538200a7aa92097367009ae8583bd8084f8d33c2acc84cc5d637cefe12be93f8d589f6c818e6fbcb6eb2142de4b793f5"
        + "20db81c49ec438f350133ebf4c50fccf"
    static let message3 = "b5bc3a195d48dc3a18de77866f337cc02b56dca2d76ba4549e9e91e3597255b0"
        + "74f4830c92321aefcd5cc525a194377ce4600dd08aa1b3d065906b0b24436512"
    static let handshakeHash = "a806f1035759eecef841760409ecd88694cbe22a3092a5365b965eff174adbf9"
        + "d3bb11996e3be8c99fbcc31041366fbe9c54f719f37c0789b2b4698b8d14276a"
    static let initiatorTransmit = "e003855e4d089258592805ddf7c51780f14b899622e4eef3e5777d97076a459b"
    static let initiatorReceive = "6f6b64dd6bd1689c10ad006a0659da7ef85eb90eccee6509850d234952c654a7"
    static let initiatorStreamID = "59b34b619618d04536473bae6900d8850f74c856559af2ccfc5b067ae9227663"
    static let responderStreamID = "f73563cb35e6f11d7f07dcfe65dd88ed7efd8777b1cae10001a5904422bc5a48"

    static func seeded(_ byte: UInt8) -> KeyPair {
        // A 32-byte seed is always valid.
        (try? KeyPair.fromSeed([UInt8](repeating: byte, count: 32))) ?? KeyPair.random()
    }

    static func hex(_ bytes: [UInt8]) -> String { Hex.encode(bytes) }

    @Test func fixedKeysGiveTheModelsMessagesHashKeysAndStreamIDs() throws {
        #expect(Self.initiatorStatic.publicKey.hex == "d04ab232742bb4ab3a1368bd4615e4e6d0224ab71a016baf8520a332c9778737")
        var initiator = NoiseHandshake(
            isInitiator: true, staticKeyPair: Self.initiatorStatic, ephemeralKeyPair: Self.initiatorEphemeral)
        var responder = NoiseHandshake(
            isInitiator: false, staticKeyPair: Self.responderStatic, ephemeralKeyPair: Self.responderEphemeral)

        let (initiatorWrites, responderWrites) = (initiator.isWriting, responder.isWriting)
        #expect(initiatorWrites && !responderWrites)
        let m1 = try initiator.writeMessage()
        #expect(Self.hex(m1) == Self.message1)
        try responder.readMessage(m1)
        let m2 = try responder.writeMessage()
        #expect(Self.hex(m2) == Self.message2)
        try initiator.readMessage(m2)
        let learnedByInitiator = initiator.remoteStaticKey
        #expect(learnedByInitiator == Self.responderStatic.publicKey)
        let m3 = try initiator.writeMessage()
        #expect(Self.hex(m3) == Self.message3)
        let initiatorComplete = initiator.isComplete
        #expect(initiatorComplete)
        try responder.readMessage(m3)
        let (responderComplete, learnedByResponder) = (responder.isComplete, responder.remoteStaticKey)
        #expect(responderComplete)
        #expect(learnedByResponder == Self.initiatorStatic.publicKey)

        let i = try initiator.split()
        let r = try responder.split()
        #expect(Self.hex(i.handshakeHash) == Self.handshakeHash)
        #expect(r.handshakeHash == i.handshakeHash)
        #expect(i.withTransmitKey { Self.hex(Array($0)) } == Self.initiatorTransmit)
        #expect(i.withReceiveKey { Self.hex(Array($0)) } == Self.initiatorReceive)
        #expect(r.withTransmitKey { Self.hex(Array($0)) } == Self.initiatorReceive)
        #expect(r.withReceiveKey { Self.hex(Array($0)) } == Self.initiatorTransmit)
        #expect(i.remoteStaticKey == Self.responderStatic.publicKey)
        #expect(r.remoteStaticKey == Self.initiatorStatic.publicKey)

        #expect(StreamIdentifier.streamID(handshakeHash: i.handshakeHash, isInitiator: true).hex == Self.initiatorStreamID)
        #expect(StreamIdentifier.streamID(handshakeHash: i.handshakeHash, isInitiator: false).hex == Self.responderStreamID)
    }

    @Test func messageLengthsAre32_96_64WithRandomEphemeralKeys() throws {
        var initiator = NoiseHandshake(isInitiator: true, staticKeyPair: .random())
        var responder = NoiseHandshake(isInitiator: false, staticKeyPair: .random())
        let m1 = try initiator.writeMessage()
        try responder.readMessage(m1)
        let m2 = try responder.writeMessage()
        try initiator.readMessage(m2)
        let m3 = try initiator.writeMessage()
        try responder.readMessage(m3)
        #expect([m1.count, m2.count, m3.count] == [32, 96, 64])
        let i = try initiator.split()
        let r = try responder.split()
        #expect(i.handshakeHash == r.handshakeHash)
        #expect(i.handshakeHash.count == 64)
        // Two handshakes never share ephemeral keys, so their hashes differ.
        var other = NoiseHandshake(isInitiator: true, staticKeyPair: .random())
        #expect(try other.writeMessage() != m1)
    }

    @Test func namespacesMatchTheSpec() {
        #expect(StreamIdentifier.initiatorNamespace.hex == "a931a0155b5c09e6d28628236af83c4b8a6af9af60986edeede9dc5d63192bf7")
        #expect(StreamIdentifier.responderNamespace.hex == "742c9d833d430af4c48a8705e91631eecf295442bbca18996e597097723b1061")
        #expect(StreamIdentifier.sendNamespace.hex == "aab97d097471f56651b0460ffc8aaa7d3342f7377597d60b925a1dac689adcbf")
    }

    @Test func hmacBlake2bMatchesPythonsStandardLibrary() {
        let key = (0..<64).map { UInt8($0) }
        #expect(Self.hex(NoisePrimitives.hmac(key: key, data: Array("hypercore".utf8)))
            == "7d4981c29499dc4eaa02444ae38859db4ce525fbacc1b2fc9d14fa731d8e01e3"
            + "b73b8aade6e13ef39e59688e575660e2d82c565e7fb07df1467ef049a786fe3c")
        // A key longer than the 128-byte block is hashed first.
        let longKey = (0..<200).map { UInt8($0 % 251) }
        #expect(Self.hex(NoisePrimitives.hmac(key: longKey, data: (0..<100).map { UInt8($0) }))
            == "e229934202091b084441d27a428e1a1f70baad3b3c7787f62d66ffb67afd704e"
            + "302ae290c29571912d67910011f6238388e158219be3f4381ae62ee0644ff0cb")
    }

    @Test func hkdfMatchesTheStandardLibraryConstruction() {
        let ck = [UInt8](repeating: 0xaa, count: 64)
        let (t1, t2) = NoisePrimitives.hkdf(chainingKey: ck, inputKeyMaterial: [UInt8](repeating: 0xbb, count: 32))
        #expect(Self.hex(t1) == "a87e0dc3bccb5d299637971dd35d49c449838428f55aa6f139f7db2ccf3f1a90"
            + "70997c3b126c7e5a769ff72710a1219f6c8aa1259e6bcd6f7e838a931f658496")
        #expect(Self.hex(t2) == "1fabde0ff876839374477b7ce4bf24623fb6b08606cf142957d38be72b2c0872"
            + "f43353bf10c70844e13b8ee0537fcc1dc99f03455d580ae2087c9ca7a4877519")
        let (e1, e2) = NoisePrimitives.hkdf(chainingKey: ck, inputKeyMaterial: [])
        #expect(Self.hex(e1) == "e51e33b0ead509a017d14c62ce40345ac3114b2b32d0e730f3493e1edf9c8682"
            + "ee871579b35f29b063c58bfdba8ce20227a5be4884c4f16eb200ff3bfa82b879")
        #expect(Self.hex(e2) == "3ff13e0d65d90c35ae1ee7f33ca0f449702db7eac35960ad89eb0b66a98d5425"
            + "fe24bd9a3e4dfb848f996118450aca3e4e2308462bd5a50b9e047968eed35419")
    }

    @Test func edwardsDiffieHellmanOnFixedKeys() throws {
        let dh = try NoisePrimitives.dh(publicKey: Self.responderEphemeral.publicKey, secretKey: Self.initiatorStatic.secretKey)
        #expect(Self.hex(dh) == "61e7195c82c8fcaa1e4523aafd661b991f45966032beead1850b93b8b4270409")
        // DH is symmetric: DH(A.pub, b) == DH(B.pub, a).
        let other = try NoisePrimitives.dh(publicKey: Self.initiatorStatic.publicKey, secretKey: Self.responderEphemeral.secretKey)
        #expect(other == dh)
    }

    /// Small-order points (the identity, the point of order 2, a point of order 8) and a non-canonical encoding.
    static let invalidPoints = [
        "0100000000000000000000000000000000000000000000000000000000000000",
        "ecffffffffffffffffffffffffffffffffffffffffffffffffffffffffffff7f",
        "c7176a703d4dd84fba3c0b760d10670f2a2053fa2c39ccc64ec7fd7792ac037a",
        "edffffffffffffffffffffffffffffffffffffffffffffffffffffffffffff7f",
    ]

    @Test(arguments: invalidPoints)
    func invalidEphemeralKeysFailTheHandshake(point: String) throws {
        var responder = NoiseHandshake(isInitiator: false, staticKeyPair: .random())
        // Message 1 is just `e`: the DH with it happens when the responder writes message 2.
        try responder.readMessage(Hex.decode(point) ?? [])
        let error = #expect(throws: ReplicationError.self) { try responder.writeMessage() }
        #expect(error?.code == .handshakeFailed)
        // The handshake stays failed.
        #expect(throws: ReplicationError.self) { try responder.writeMessage() }
    }

    @Test func wrongLengthsBadTagsAndCallsOutOfTurnFail() throws {
        var responder = NoiseHandshake(isInitiator: false, staticKeyPair: .random())
        #expect(throws: ReplicationError.self) { try responder.writeMessage() }

        for length in [0, 31, 33, 35] {
            var r = NoiseHandshake(isInitiator: false, staticKeyPair: .random())
            let error = #expect(throws: ReplicationError.self) { try r.readMessage([UInt8](repeating: 9, count: length)) }
            #expect(error?.code == .handshakeFailed)
        }

        // Every byte of message 2 and message 3 is authenticated (or is a key whose change breaks a tag).
        for position in stride(from: 0, to: 96, by: 5) {
            var initiator = NoiseHandshake(isInitiator: true, staticKeyPair: .random())
            var r = NoiseHandshake(isInitiator: false, staticKeyPair: .random())
            try r.readMessage(initiator.writeMessage())
            var m2 = try r.writeMessage()
            m2[position] ^= 0x01
            let error = #expect(throws: ReplicationError.self) { try initiator.readMessage(m2) }
            #expect(error?.code == .handshakeFailed)
            // Failed for good: message 3 cannot be written, and there is nothing to split.
            #expect(throws: ReplicationError.self) { try initiator.writeMessage() }
            do {
                _ = try initiator.split()
                Issue.record("split succeeded after a failed handshake")
            } catch {
                #expect(error.code == .handshakeFailed)
            }
        }
        for position in stride(from: 0, to: 64, by: 3) {
            var initiator = NoiseHandshake(isInitiator: true, staticKeyPair: .random())
            var r = NoiseHandshake(isInitiator: false, staticKeyPair: .random())
            try r.readMessage(initiator.writeMessage())
            try initiator.readMessage(r.writeMessage())
            var m3 = try initiator.writeMessage()
            m3[position] ^= 0x80
            let error = #expect(throws: ReplicationError.self) { try r.readMessage(m3) }
            #expect(error?.code == .handshakeFailed)
        }
    }
}
