import Foundation
import Testing
import KappaTesting
@testable import Hypercore

@Suite struct ProofTests {
    static let pair = try! KeyPair.fromSeed([UInt8](repeating: 7, count: 32))

    /// A writer holding `patternBlocks(count:)` under the shared key pair (same blocks → same tree).
    static func writer(_ count: Int, size: Int = 64) async throws -> Feed {
        let feed = try Feed.create(keyPair: pair)
        if count > 0 { try await feed.append(contentsOf: patternBlocks(count: count, size: size)) }
        return feed
    }

    /// Spec D.7: the 1000 × 64-byte transcript; tree hash and the shape of the `data` answer.
    @Test func transcriptVector() async throws {
        let writer = try await Self.writer(1000)
        #expect(await writer.treeHash.hex == "20dd1ccdaf2bbf8b0b200bffd13851fc30b390db9786956e26829d6213675547")
        let proof = try await writer.proof(for: ProofRequest(block: .init(index: 999, nodes: 0),
                                                             upgrade: .init(start: 0, length: 1000)))
        let block = try #require(proof.block)
        #expect(block.index == 999)
        #expect(block.value == patternBlocks(count: 1, from: 999)[0])
        #expect(block.nodes.map(\.index) == [1996, 1993, 1987])
        #expect(block.nodes.map(\.size) == [64, 128, 256])
        #expect(block.nodes[0].hash.hex.hasPrefix("5551103b") && block.nodes[0].hash.hex.hasSuffix("e57cfc"))
        #expect(block.nodes[1].hash.hex.hasPrefix("94dff689") && block.nodes[1].hash.hex.hasSuffix("3e32ca"))
        #expect(block.nodes[2].hash.hex.hasPrefix("e74c4193") && block.nodes[2].hash.hex.hasSuffix("d7c8ce"))
        let upgrade = try #require(proof.upgrade)
        #expect(upgrade.nodes.map(\.index) == [511, 1279, 1663, 1855, 1951])
        #expect(upgrade.nodes.map(\.size) == [32768, 16384, 8192, 4096, 2048])
        #expect(upgrade.nodes[0].hash.hex.hasPrefix("fcff7b85") && upgrade.nodes[0].hash.hex.hasSuffix("74e853"))
        #expect(upgrade.nodes[4].hash.hex.hasPrefix("0604120e") && upgrade.nodes[4].hash.hex.hasSuffix("9ecdce"))
        #expect(upgrade.additionalNodes.isEmpty)

        let replica = try Feed.replica(key: writer.key)
        try await replica.receive(proof)
        #expect(await replica.length == 1000)
        #expect(await replica.treeHash == (await writer.treeHash))
        #expect(try await replica.get(999) == block.value)
        #expect(!(await replica.has(998)))
    }

    /// Spec D.5: upgrade {0, 500} against 1000 blocks returns the roots of 500 and additional nodes to 1000.
    @Test func additionalNodesVector() async throws {
        let writer = try await Self.writer(1000)
        let proof = try await writer.proof(for: ProofRequest(upgrade: .init(start: 0, length: 500)))
        let upgrade = try #require(proof.upgrade)
        #expect(upgrade.nodes.map(\.index) == [255, 639, 831, 927, 975, 995])
        #expect(upgrade.additionalNodes.map(\.index) == [1003, 1015, 1279, 1663, 1855, 1951, 1991])
        let replica = try Feed.replica(key: writer.key)
        try await replica.receive(proof)
        #expect(await replica.length == 1000)
        #expect(await replica.treeHash == (await writer.treeHash))
    }

    /// Spec D.9: a JavaScript peer following live appends sends a block below the upgrade start together with the
    /// upgrade (`block {833, nodes 7}` + `upgrade {1011, 39}`); it is served as rule 1 plus rule 2 and verifies.
    @Test func aBlockBelowTheUpgradeStartIsServedWithTheUpgrade() async throws {
        let writer = try await Self.writer(1050)
        let earlier = try await Self.writer(1011)  // the same key and blocks: the writer as it was at 1011
        let replica = try Feed.replica(key: writer.key)
        try await replica.receive(try await earlier.proof(for: ProofRequest(upgrade: .init(start: 0, length: 1011))))
        #expect(await replica.length == 1011)
        let nodes = try await replica.missingNodes(2 * 833)
        let request = ProofRequest(block: .init(index: 833, nodes: nodes), upgrade: .init(start: 1011, length: 39))
        let proof = try await writer.proof(for: request)
        try await replica.receive(proof)
        #expect(await replica.length == 1050)
        #expect(await replica.treeHash == (await writer.treeHash))
        #expect(try await replica.get(833) == (try await writer.get(833)))
    }

    @Test func outOfOrderBlocksMakeASparseReplica() async throws {
        let count = 77
        let writer = try await Self.writer(count, size: 19)
        let replica = try Feed.replica(key: writer.key)
        try await replica.receive(try await writer.proof(for: ProofRequest(upgrade: .init(start: 0, length: UInt64(count)))))
        var order = Array(0..<UInt64(count))
        var rng = SeededGenerator(seed: 42)
        order.shuffle(using: &rng)
        for (n, index) in order.enumerated() {
            let nodes = try await replica.missingNodes(2 * index)
            let proof = try await writer.proof(for: ProofRequest(block: .init(index: index, nodes: nodes)))
            try await replica.receive(proof)
            #expect(await replica.has(index))
            if n == count / 2 {
                // Half-way: a gap-free prefix only up to the first missing block.
                let contiguous = await replica.contiguousLength
                #expect(contiguous < UInt64(count))
                #expect(!(await replica.has(contiguous)))
            }
        }
        #expect(await replica.contiguousLength == UInt64(count))
        for i in 0..<UInt64(count) { #expect(try await replica.get(i) == (try await writer.get(i))) }
    }

    /// Every combination of replica length, upgrade target, writer length and requested block verifies and
    /// ends at the writer's length with the writer's tree hash.
    @Test(arguments: [0, 1, 2, 3, 5, 8, 10, 13])
    func upgradesFromEveryShape(start: Int) async throws {
        for end in [start + 1, start + 2, start + 3, start + 6, 16, 21, 33] where end > start {
            for head in [end, end + 1, end + 7, 40] where head >= end {
                let target = try await Self.writer(head)
                for blockChoice in [nil, 0, start, end - 1] as [Int?] {
                    if let b = blockChoice, b >= end || (b < start && start == 0) { continue }
                    let replica = try Feed.replica(key: Self.pair.publicKey)
                    if start > 0 {
                        let base = try await Self.writer(start)
                        try await replica.receive(try await base.proof(for: ProofRequest(upgrade: .init(start: 0, length: UInt64(start)))))
                    }
                    var request = ProofRequest(upgrade: .init(start: UInt64(start), length: UInt64(end - start)))
                    if let b = blockChoice {
                        let nodes = b < start ? try await replica.missingNodes(2 * UInt64(b)) : 0
                        request.block = .init(index: UInt64(b), nodes: nodes)
                    }
                    let proof = try await target.proof(for: request)
                    try await replica.receive(proof)
                    #expect(await replica.length == UInt64(head), "start \(start) end \(end) head \(head) block \(String(describing: blockChoice))")
                    #expect(await replica.treeHash == (await target.treeHash))
                    if let b = blockChoice {
                        #expect(try await replica.get(UInt64(b)) == patternBlocks(count: 1, from: b)[0])
                    }
                }
            }
        }
    }

    @Test func hashProofsVerify() async throws {
        let writer = try await Self.writer(16)
        let replica = try Feed.replica(key: writer.key)
        try await replica.receive(try await writer.proof(for: ProofRequest(upgrade: .init(start: 0, length: 16))))
        // Node 9 (blocks 4–5) with the siblings up to root 15.
        let nodes = try await replica.missingNodes(9)
        #expect(nodes == 3)  // 9, 11 and 7 are missing; root 15 is held
        let proof = try await writer.proof(for: ProofRequest(hash: .init(index: 9, nodes: nodes)))
        #expect(proof.hash?.nodes.map(\.index) == [9, 13, 3, 23])
        try await replica.receive(proof)
        #expect(try await replica.missingNodes(9) == 0)
    }

    // MARK: Rejections: nothing is stored.

    static func freshPair() async throws -> (writer: Feed, replica: Feed, proof: Proof) {
        let writer = try await Self.writer(10)
        let replica = try Feed.replica(key: writer.key)
        let proof = try await writer.proof(for: ProofRequest(block: .init(index: 3, nodes: 0), upgrade: .init(start: 0, length: 10)))
        return (writer, replica, proof)
    }

    static func expectRejected(_ proof: Proof, by replica: Feed, _ code: HypercoreError.Code) async throws {
        await #expect { try await replica.receive(proof) } throws: { ($0 as? HypercoreError)?.code == code }
        #expect(await replica.length == 0)
        #expect(!(await replica.has(3)))
    }

    @Test func tamperedValueIsRejected() async throws {
        let (_, replica, proof) = try await Self.freshPair()
        var bad = proof
        bad.block!.value[0] ^= 1
        try await Self.expectRejected(bad, by: replica, .invalidSignature)
        try await replica.receive(proof)
        #expect(await replica.length == 10)
    }

    @Test func wrongSiblingIsRejected() async throws {
        let (_, replica, proof) = try await Self.freshPair()
        var bad = proof
        bad.block!.nodes[0].index += 2
        try await Self.expectRejected(bad, by: replica, .invalidProof)
    }

    @Test func wrongSizeIsRejected() async throws {
        let (_, replica, proof) = try await Self.freshPair()
        var bad = proof
        bad.block!.nodes[1].size += 1
        try await Self.expectRejected(bad, by: replica, .invalidSignature)
        var badRoot = proof
        badRoot.upgrade!.nodes[0].size += 1
        try await Self.expectRejected(badRoot, by: replica, .invalidSignature)
    }

    @Test func badSignatureIsRejected() async throws {
        let (_, replica, proof) = try await Self.freshPair()
        var bad = proof
        bad.upgrade!.signature[10] ^= 0x40
        try await Self.expectRejected(bad, by: replica, .invalidSignature)
        var short = proof
        short.upgrade!.signature.removeLast()
        await #expect(throws: HypercoreError.self) { try await replica.receive(short) }
        #expect(await replica.length == 0)
    }

    @Test func proofForAnotherKeyIsRejected() async throws {
        let (_, _, proof) = try await Self.freshPair()
        let stranger = try Feed.replica(key: KeyPair.random().publicKey)
        try await Self.expectRejected(proof, by: stranger, .invalidSignature)
    }

    @Test func missingAndExtraNodesAreRejected() async throws {
        let (_, replica, proof) = try await Self.freshPair()
        var missing = proof
        missing.upgrade!.nodes.removeLast()
        try await Self.expectRejected(missing, by: replica, .invalidProof)
        var extra = proof
        extra.upgrade!.nodes.append(extra.upgrade!.nodes[0])
        try await Self.expectRejected(extra, by: replica, .invalidProof)
    }

    @Test func blockWithoutTrustedAnchorIsRejected() async throws {
        let writer = try await Self.writer(10)
        let replica = try Feed.replica(key: writer.key)
        // No upgrade yet: the replica trusts no node, so a bare block proof cannot verify.
        let proof = try await writer.proof(for: ProofRequest(block: .init(index: 2, nodes: 2)))
        try await Self.expectRejected(proof, by: replica, .invalidProof)
        // After the upgrade, a forged block against a trusted root fails the checksum.
        try await replica.receive(try await writer.proof(for: ProofRequest(upgrade: .init(start: 0, length: 10))))
        var forged = try await writer.proof(for: ProofRequest(block: .init(index: 2, nodes: try await replica.missingNodes(4))))
        forged.block!.value = [1, 2, 3]
        await #expect { try await replica.receive(forged) } throws: { ($0 as? HypercoreError)?.code == .invalidChecksum }
        #expect(!(await replica.has(2)))
    }

    @Test func staleAndOtherForkProofsAreRejected() async throws {
        let writer = try await Self.writer(10)
        let replica = try Feed.replica(key: writer.key)
        try await replica.receive(try await writer.proof(for: ProofRequest(upgrade: .init(start: 0, length: 5))))
        let stale = try await writer.proof(for: ProofRequest(upgrade: .init(start: 0, length: 10)))
        await #expect { try await replica.receive(stale) } throws: { ($0 as? HypercoreError)?.code == .staleUpgrade }
        var otherFork = stale
        otherFork.fork = 1
        await #expect { try await replica.receive(otherFork) } throws: { ($0 as? HypercoreError)?.code == .forkMismatch }
    }

    @Test func badRequestsThrow() async throws {
        let writer = try await Self.writer(10)
        await #expect(throws: HypercoreError.self) { try await writer.proof(for: ProofRequest(upgrade: .init(start: 5, length: 6))) }
        await #expect(throws: HypercoreError.self) { try await writer.proof(for: ProofRequest(block: .init(index: 10, nodes: 0))) }
        await #expect(throws: HypercoreError.self) { try await writer.proof(for: ProofRequest(block: .init(index: 1, nodes: 9))) }
        await #expect(throws: HypercoreError.self) { try await writer.proof(for: ProofRequest(fork: 2, block: .init(index: 1, nodes: 0))) }
    }

    /// A peer's request may hold any 64-bit numbers: those no tree can answer throw, never trap (found by
    /// `ReplicationTamperTests`: an upgrade start of `UInt64.max` overflowed `2 * start`).
    @Test func requestsWithOutOfRangeNumbersThrow() async throws {
        let writer = try await Self.writer(10)
        let requests = [
            ProofRequest(upgrade: .init(start: .max, length: 1)),
            ProofRequest(upgrade: .init(start: 1 << 63, length: 1 << 63)),
            ProofRequest(upgrade: .init(start: 0, length: .max)),
            ProofRequest(upgrade: .init(start: 5, length: .max - 2)),
            ProofRequest(block: .init(index: 3, nodes: 0), upgrade: .init(start: .max, length: 2)),
            ProofRequest(hash: .init(index: .max, nodes: 0)),
            ProofRequest(hash: .init(index: (1 << 63) - 1, nodes: .max)),
        ]
        for request in requests {
            await #expect(throws: HypercoreError.self, "\(request)") { try await writer.proof(for: request) }
        }
    }

    /// A proof may hold any 64-bit indexes and sizes: those no tree has are rejected before the verifier does
    /// arithmetic on them, never trap (found by `ReplicationTamperTests`: a sibling size overflowed the parent's).
    @Test func proofsWithOutOfRangeIndexesOrSizesAreRejected() async throws {
        let writer = try await Self.writer(20)
        let fresh = try await writer.proof(
            for: ProofRequest(block: .init(index: 3, nodes: 0), upgrade: .init(start: 0, length: 20)))
        let hash = fresh.upgrade!.nodes[0].hash
        var proofs: [(String, Proof)] = []
        func variant(_ what: String, _ change: (inout Proof) -> Void) {
            var proof = fresh
            change(&proof)
            proofs.append((what, proof))
        }
        variant("a block index of max") { $0.block!.index = .max }
        variant("a sibling of size max") { $0.block!.nodes[0].size = .max }
        variant("a sibling at index max") { $0.block!.nodes[0].index = .max }
        variant("siblings up past depth 63") {
            var current: UInt64 = 6
            $0.block!.nodes = (0..<64).map { level in
                let sibling = FlatTree.sibling(current)
                if level < 63 { current = FlatTree.parent(current) }
                return TreeNode(index: sibling, size: 0, hash: hash)
            }
        }
        variant("an upgrade length of max") { $0.upgrade!.length = .max }
        variant("an additional node at index max") {
            $0.upgrade!.additionalNodes = [TreeNode(index: .max, size: 1, hash: hash)]
        }
        variant("an additional node at depth 63") {
            $0.upgrade!.additionalNodes = [TreeNode(index: (1 << 63) - 1, size: 1, hash: hash)]
        }
        // Root 7 and additional node 23 merge: sizes that overflow.
        var split = try await writer.proof(for: ProofRequest(upgrade: .init(start: 0, length: 8)))
        #expect(split.upgrade!.additionalNodes.map(\.index) == [23, 35])
        split.upgrade!.additionalNodes[0].size = .max
        proofs.append(("additional nodes whose sizes overflow", split))
        for (what, proof) in proofs {
            let replica = try Feed.replica(key: writer.key)
            await #expect("\(what)") { try await replica.receive(proof) } throws: { $0 is HypercoreError }
            #expect(await replica.length == 0, "\(what)")
        }
        // A replica at 5 blocks: an upgrade from 5 whose length overflows when added to it.
        let replica = try Feed.replica(key: writer.key)
        let five = try await Self.writer(5)
        try await replica.receive(try await five.proof(for: ProofRequest(upgrade: .init(start: 0, length: 5))))
        #expect(await replica.length == 5)
        var overflow = try await writer.proof(for: ProofRequest(upgrade: .init(start: 5, length: 15)))
        overflow.upgrade!.length = .max - 2
        await #expect { try await replica.receive(overflow) } throws: { ($0 as? HypercoreError)?.code == .invalidProof }
        #expect(await replica.length == 5)
    }

    @Test func replicaPersistsDownloads() async throws {
        try await withTemporaryDirectory { dir in
            let writer = try await Self.writer(30)
            let storage = try FileDirectory(path: dir.path)
            let replica = try Feed.replica(key: writer.key, storage: storage)
            try await replica.receive(try await writer.proof(for: ProofRequest(block: .init(index: 29, nodes: 0), upgrade: .init(start: 0, length: 30))))
            for index: UInt64 in [3, 17, 4] {
                try await replica.receive(try await writer.proof(for: ProofRequest(block: .init(index: index, nodes: try await replica.missingNodes(2 * index)))))
            }
            try await replica.close()
            let reopened = try Feed.open(storage: try FileDirectory(path: dir.path))
            #expect(!reopened.writable)
            #expect(await reopened.length == 30)
            for index: UInt64 in [3, 4, 17, 29] {
                #expect(try await reopened.get(index) == patternBlocks(count: 1, from: Int(index))[0])
            }
            await #expect { try await reopened.get(5) } throws: { ($0 as? HypercoreError)?.code == .blockNotAvailable }
            try await reopened.close()
        }
    }
}
