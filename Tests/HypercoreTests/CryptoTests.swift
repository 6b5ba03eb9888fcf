import Testing
@testable import Hypercore

/// Spec A.4 and A.7 vectors, verbatim.
@Suite struct CryptoTests {
    private static let helloLeaf = "9f1b578fd57a4df015493d2886aec9600eef913c3bb009768c7f0fb875996308"

    @Test func leafHash() {
        #expect(Hashing.leaf(Array("hello world".utf8)).hex == Self.helloLeaf)
    }

    @Test func parentHash() throws {
        let hash = try Bytes32(hex: Self.helloLeaf)
        let a = TreeNode(index: 0, size: 11, hash: hash)
        let b = TreeNode(index: 2, size: 11, hash: hash)
        #expect(Hashing.parent(left: a, right: b).hex == "3ad0c9b58b771d1b7707e1430f37c23a23dd46e0c7c3ab9c16f79d25f7c36804")
        // Order is by index, not by argument position.
        #expect(TreeNode.parent(b, a).hash.hex == "3ad0c9b58b771d1b7707e1430f37c23a23dd46e0c7c3ab9c16f79d25f7c36804")
        #expect(TreeNode.parent(b, a).index == 1)
        #expect(TreeNode.parent(b, a).size == 22)
    }

    @Test func treeHash() {
        let roots = [TreeNode(index: 3, size: 11, hash: .zero), TreeNode(index: 9, size: 2, hash: .zero)]
        #expect(Hashing.tree(roots).hex == "0e576a56b478cddb6ffebab8c494532b6de009466b2e9f7af9143fc54b9eaa36")
    }

    @Test func discoveryKeys() throws {
        let pk = try Bytes32(hex: "778f8d955175c92e4ced5e4f5563f69bfec0c86cc6f670352c457943666fe639")
        #expect(Hashing.discoveryKey(pk).hex == "25a78aa81615847eba00995df29dd41d7ee30f3b01f892209f79b75a57d989e1")
        let interop = try Bytes32(hex: "97606caad2b08c1d5fe1642eeea562cb91d655e200c8d43a32091d064a331ee3")
        #expect(Hashing.discoveryKey(interop).hex == "17e48ada51127b6fa0c3689a377412842ce54d76d93629a261765f04d58e4f7c")
    }

    @Test func seedKeyPair() throws {
        let seed = try #require(Hex.decode("27e67425c1ffd1d9ee625c962b5713c3510b711415f331f6fa9ef2bf235f2ffe"))
        let pair = try KeyPair.fromSeed(seed)
        #expect(pair.publicKey.hex == "97606caad2b08c1d5fe1642eeea562cb91d655e200c8d43a32091d064a331ee3")
        #expect(pair.secretKey.publicKey == pair.publicKey)
        #expect(KeyPair.validate(publicKey: pair.publicKey, secretKey: pair.secretKey))
        #expect(!KeyPair.validate(publicKey: KeyPair.random().publicKey, secretKey: pair.secretKey))
        #expect(throws: HypercoreError.self) { try KeyPair.fromSeed([1, 2, 3]) }
    }

    @Test func hypercoreNamespaces() {
        let base = Hashing.blake2b256(Array("hypercore".utf8))
        #expect(base.hex == "f7939b245918bbd3b167df469af1da5ba003e21218138ec62b7f4b6f0283de13")
        #expect(Caps.tree.hex == "9fac70b50ca14efc4e91c833b204e75b8b5aad8b5881bfc0adb5ef38a3275b9c")
        #expect(Caps.replicateInitiator.hex == "51812a2a359b50369536775df89e18e47740f3db72ac0ae70b29594c194dc316")
        #expect(Caps.replicateResponder.hex == "0438492d02970cc13528ac0262bca0074e0926260256865accc0bf15bd79127d")
        #expect(Caps.manifest.hex == "e64b7108eacce47cfc61ac850568f55f8b15b82ec5ed78c4ec597b036e2a1498")
        #expect(Caps.defaultNamespace.hex == "4144eea531e483d54e0c14f4ca68e0644f355343ff6fcb0f005200e12cd747cb")
        #expect(Caps.blockEncryption.hex == "9aedb6f1dea8487cc1e1698f97eb2f063f6db4c649695622e7b675e2ceafa6e9")
    }

    @Test func otherNamespaces() {
        let secretStream = Hashing.namespace("hyperswarm/secret-stream", count: 3)
        #expect(secretStream[0].hex == "a931a0155b5c09e6d28628236af83c4b8a6af9af60986edeede9dc5d63192bf7")
        #expect(secretStream[1].hex == "742c9d833d430af4c48a8705e91631eecf295442bbca18996e597097723b1061")
        #expect(secretStream[2].hex == "aab97d097471f56651b0460ffc8aaa7d3342f7377597d60b925a1dac689adcbf")
        #expect(Hashing.namespace("corestore", count: 1)[0].hex == "ac5c4cbfb1064776404637a280c71fac823281d351ebeced03151743270def29")
        #expect(Hashing.namespace("foo", ids: [1])[0].hex == "fff5eac99641b1b9dee6cabaaeb5959f4b452f7c83769156566aa44de89c82fb")
    }

    @Test func defaultManifestHash() throws {
        // Spec A.6: manifestHash(v1) of the datrs test key.
        let pk = try Bytes32(hex: "97606caad2b08c1d5fe1642eeea562cb91d655e200c8d43a32091d064a331ee3")
        let manifest = Caps.defaultManifest(publicKey: pk)
        #expect(manifest.count == 70)
        #expect(Hashing.blake2b256(Caps.manifest.bytes + manifest).hex == "bbb09f3a80bfbff309ff66c3dbcd08bb4893e29cb4b96d43f4692234b752abe3")
    }

    @Test func signAndVerify() {
        let pair = KeyPair.random()
        let message = Caps.treeSignableCompat(treeHash: Hashing.leaf([1]), length: 6, fork: 0)
        #expect(message.count == 80)
        #expect(Array(message[0..<32]) == Caps.tree.bytes)
        #expect(Array(message[64..<72]) == [6, 0, 0, 0, 0, 0, 0, 0])
        let signature = Signer.sign(message, secretKey: pair.secretKey)
        #expect(Signer.verify(signature, message, publicKey: pair.publicKey))
        var tampered = message
        tampered[70] ^= 1
        #expect(!Signer.verify(signature, tampered, publicKey: pair.publicKey))
        #expect(!Signer.verify(signature, message, publicKey: KeyPair.random().publicKey))
    }

    @Test func replicationCapabilityIsRoleDependent() {
        let key = Hashing.leaf([7])
        let handshakeHash = [UInt8](repeating: 9, count: 64)
        let asInitiator = Caps.replicate(isInitiator: true, key: key, handshakeHash: handshakeHash)
        let asResponder = Caps.replicate(isInitiator: false, key: key, handshakeHash: handshakeHash)
        #expect(asInitiator != asResponder)
        let expected = Hashing.blake2b256(Caps.replicateInitiator.bytes + key.bytes, key: handshakeHash)
        #expect(asInitiator == expected)
    }

    @Test func hexErrors() {
        #expect(throws: HypercoreError.self) { try Bytes32(hex: "zz") }
        #expect(throws: HypercoreError.self) { try Bytes32(hex: String(repeating: "a", count: 62)) }
        #expect(Hex.decode("0aFf") == [0x0a, 0xff])
    }
}
