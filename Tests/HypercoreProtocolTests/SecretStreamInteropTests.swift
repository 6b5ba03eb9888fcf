import Foundation
import Hypercore
import HypercoreProtocol
import KappaTesting
import Testing

/// Swift's secret stream against the independent Python peer in `Tests/Interop/hc10-wire` (itself checked
/// against JavaScript hypercore 10.38.2), over loopback TCP, in both roles.
@Suite(.timeLimit(.minutes(5))) struct SecretStreamInteropTests {
    static let peer = URL(fileURLWithPath: #filePath).deletingLastPathComponent().deletingLastPathComponent()
        .appendingPathComponent("Interop/hc10-wire/peer.py").path

    static func python(_ arguments: [String]) throws -> RunningProcess {
        try RunningProcess("/usr/bin/env", arguments: ["python3", peer] + arguments)
    }

    static func json(_ line: String) throws -> [String: Any] {
        let object = try JSONSerialization.jsonObject(with: Data(line.utf8))
        return try #require(object as? [String: Any], "not a JSON object: \(line)")
    }

    static func bytes(_ object: [String: Any], _ key: String) throws -> [UInt8] {
        try #require((object[key] as? String).flatMap { Hex.decode($0) }, "no hex \(key) in \(object)")
    }

    @Test func swiftInitiatorAgainstPythonServe() async throws {
        let server = try Self.python([
            "serve", "--port", "0", "--once", "--blocks", "10", "--keepalive", "100", "--accept-timeout", "30", "--verbose",
        ])
        let info = try Self.json(try await server.nextLine())
        let port = try #require(info["port"] as? Int)
        let coreKey = try Bytes32(Self.bytes(info, "key"))
        let discoveryKey = try Self.bytes(info, "discoveryKey")

        let identity = KeyPair.random()
        let socket = try await LoopbackTCP.connect(port: UInt16(port))
        let options = SecretStream.Options(idleTimeout: .seconds(10))
        let handshakeHash = try await SecretStream.withSecretStream(
            over: FileDescriptorStream(socket: socket), isInitiator: true, identity: identity, options: options
        ) { stream in
            #expect(stream.handshakeHash.count == 64)
            var messages = stream.messages.makeAsyncIterator()
            // The first message is the peer's protomux open of the hypercore/alpha channel (spec D.3):
            // 00 01 01 0f "hypercore/alpha" 20 <discovery key> 01 <capability>.
            let open = try #require(try await messages.next())
            #expect(Array(open.prefix(4)) == [0x00, 0x01, 0x01, 0x0f])
            #expect(Array(open[4..<19]) == Array("hypercore/alpha".utf8))
            #expect(open[19] == 0x20)
            #expect(Array(open[20..<52]) == discoveryKey)
            #expect(open[52] == 0x01)
            // Its capability is keyed by the handshake hash: equal hashes on both sides.
            let capability = Caps.replicate(isInitiator: false, key: coreKey, handshakeHash: stream.handshakeHash)
            #expect(Array(open[53..<85]) == capability.bytes)
            #expect(open.count == 85)

            // The peer sends an empty message every 100 ms while it waits for our open (`--keepalive 100`);
            // wait until its log shows some.
            for _ in 0..<1000 where server.standardError.components(separatedBy: "> keepalive").count < 3 {
                try await Task.sleep(for: .milliseconds(10))
            }

            // Our open, with the initiator's capability: the peer checks it, then sends sync and range in one
            // batch on channel 1. Its reply proves it decrypted what we sent; that we decrypt it after the
            // keep-alives proves each of them was pulled in order (secretstream nonces advance per message)
            // and dropped (the batch is the next element, not an empty one).
            var ours: [UInt8] = [0x00, 0x01, 0x01, 0x0f] + Array("hypercore/alpha".utf8) + [0x20] + discoveryKey + [0x01]
            ours += Caps.replicate(isInitiator: true, key: coreKey, handshakeHash: stream.handshakeHash).bytes
            try await stream.send(ours)
            let batch = try #require(try await messages.next())
            #expect(Array(batch.prefix(3)) == [0x00, 0x00, 0x01])
            return stream.handshakeHash
        }

        #expect(try await server.waitForExit() == 0, "\(server.standardError)")
        let log = server.standardError
        let keepAlives = log.components(separatedBy: "> keepalive").count - 1
        #expect(keepAlives >= 2, "\(log)")
        #expect(log.range(of: "> keepalive").map { $0.lowerBound < (log.range(of: "< open")?.lowerBound ?? $0.lowerBound) } == true)
        let events = server.standardError.split(separator: "\n").compactMap { try? Self.json(String($0)) }
        let handshake = try #require(events.first { $0["event"] as? String == "handshake" }, "\(server.standardError)")
        #expect(try Self.bytes(handshake, "handshakeHash") == handshakeHash)
        #expect(try Self.bytes(handshake, "remoteStaticKey") == identity.publicKey.bytes)
        #expect(events.contains { $0["error"] != nil } == false, "\(server.standardError)")
    }

    @Test func swiftResponderAgainstPythonHandshake() async throws {
        let listener = try LoopbackTCP.Listener()
        let seed = [UInt8](repeating: 0x5a, count: 32)
        let client = try Self.python(["handshake", "--port", "\(listener.port)", "--static-seed", Hex.encode(seed)])
        let socket = try await listener.accept(timeout: .seconds(30))

        let identity = KeyPair.random()
        let (hash, remote) = try await SecretStream.withSecretStream(
            over: FileDescriptorStream(socket: socket), isInitiator: false, identity: identity
        ) { stream in
            (stream.handshakeHash, stream.remotePublicKey)
        }

        let result = try Self.json(try await client.nextLine())
        #expect(try await client.waitForExit() == 0, "\(client.standardError)")
        #expect(try Self.bytes(result, "handshakeHash") == hash)
        #expect(try Self.bytes(result, "remoteStaticKey") == identity.publicKey.bytes)
        #expect(try Self.bytes(result, "localStaticKey") == remote.bytes)
        #expect(remote == (try KeyPair.fromSeed(seed)).publicKey)
    }
}
