@testable import Hypercore
import Testing

/// The feed's side of replication: waits for blocks from peers, and the state peers are told.
@Suite struct ReplicationSupportTests {
    /// A writer with `count` blocks and an empty replica of it that knows its length (upgrade received).
    private func pair(count: Int) async throws -> (writer: Feed, replica: Feed) {
        let writer = try Feed.create()
        _ = try await writer.append(contentsOf: (0..<count).map { [UInt8(truncatingIfNeeded: $0)] })
        let replica = try Feed.replica(key: writer.key)
        try await replica.receive(try await writer.proof(for: ProofRequest(upgrade: .init(start: 0, length: UInt64(count)))))
        return (writer, replica)
    }

    private func deliver(_ index: UInt64, from writer: Feed, to replica: Feed) async throws {
        let nodes = try await replica.missingNodes(2 * index)
        try await replica.receive(try await writer.proof(for: ProofRequest(block: .init(index: index, nodes: nodes))))
    }

    @Test func getWaitsForABlockToArriveAndRegistersItsWant() async throws {
        let (writer, replica) = try await pair(count: 10)
        async let value = replica.get(7, timeout: .seconds(120))
        // The want becomes visible to sessions; they would fetch it. Here the test delivers it.
        while !replica.wants.overlaps(7..<8) { try await Task.sleep(for: .milliseconds(1)) }
        try await deliver(7, from: writer, to: replica)
        #expect(try await value == [7])
        #expect(replica.wants.ranges.isEmpty)
    }

    @Test func getTimesOutWithATypedError() async throws {
        let (_, replica) = try await pair(count: 4)
        let started = ContinuousClock.now
        await #expect {
            _ = try await replica.get(2, timeout: .milliseconds(50))
        } throws: { ($0 as? HypercoreError)?.code == .timeout }
        #expect(ContinuousClock.now - started < .seconds(120))  // ends (a loaded CI machine may be slow)
        #expect(replica.wants.ranges.isEmpty)
    }

    @Test func downloadWaitsUntilTheWholeRangeIsHeldAndEndsOnCancellation() async throws {
        let (writer, replica) = try await pair(count: 8)
        let task = Task { try await replica.download(2..<5) }
        for index: UInt64 in [2, 4] { try await deliver(index, from: writer, to: replica) }
        try await Task.sleep(for: .milliseconds(20))
        try await deliver(3, from: writer, to: replica)
        try await task.value
        for index: UInt64 in 2..<5 { #expect(await replica.has(index)) }

        let waiting = Task { try await replica.download(6..<8) }
        try await Task.sleep(for: .milliseconds(20))
        waiting.cancel()
        await #expect(throws: CancellationError.self) { try await waiting.value }
    }

    @Test func downloadBeyondTheLengthWaitsForTheLengthToGrow() async throws {
        let (writer, replica) = try await pair(count: 2)
        for index: UInt64 in 0..<2 { try await deliver(index, from: writer, to: replica) }
        let task = Task { try await replica.download(0..<3, timeout: .seconds(120)) }
        _ = try await writer.append([2])
        try await replica.receive(try await writer.proof(for: ProofRequest(block: .init(index: 2, nodes: 0),
                                                                             upgrade: .init(start: 2, length: 1))))
        try await task.value
        #expect(await replica.length == 3)
    }

    @Test func closingEndsAWait() async throws {
        let (_, replica) = try await pair(count: 3)
        let task = Task { try await replica.get(1, timeout: .seconds(120)) }
        try await Task.sleep(for: .milliseconds(20))
        try await replica.close()
        await #expect { _ = try await task.value } throws: { ($0 as? HypercoreError)?.code == .closed }
    }

    @Test func canUpgradeBitfieldWordsAndMissingBlocks() async throws {
        let (writer, replica) = try await pair(count: 70)
        #expect(await writer.canUpgrade(from: 0))
        #expect(await writer.canUpgrade(from: 69))
        #expect(!(await writer.canUpgrade(from: 70)))
        #expect(await writer.bitfieldWords(from: 32, count: 3) == [.max, 0b111_111, 0])

        for index: UInt64 in [0, 1, 33, 69] { try await deliver(index, from: writer, to: replica) }
        #expect(await replica.bitfieldWords(from: 0, count: 3) == [0b11, 0b10, 0b10_0000])
        #expect(await replica.missingBlocks(in: 0..<5, limit: 10) == [2, 3, 4])
        #expect(await replica.missingBlocks(in: 30..<100, limit: 4) == [30, 31, 32, 34])
        #expect(await replica.missingBlocks(in: 68..<100, limit: 10) == [68])
        let status = await replica.replicationStatus
        #expect(status == .init(length: 70, fork: 0, contiguousLength: 2))
    }

    @Test func batchedReceiveKeepsTheProofsBeforeABadOne() async throws {
        let (writer, replica) = try await pair(count: 6)
        var proofs: [Proof] = []
        for index: UInt64 in 0..<6 {
            proofs.append(try await writer.proof(for: ProofRequest(block: .init(index: index, nodes: try await replica.missingNodes(2 * index)))))
        }
        proofs[3].block?.value[0] ^= 0xFF
        await #expect(throws: HypercoreError.self) { try await replica.receive(contentsOf: proofs) }
        for index: UInt64 in 0..<6 { #expect(await replica.has(index) == (index < 3)) }
        #expect(await replica.contiguousLength == 3)
        #expect(try await replica.receive(contentsOf: Array(proofs[4...])) == 2)
        #expect(try await replica.get(5) == [5])
    }

    @Test func claimedRunsAskForOneNodeEachAndAProofAheadOfItsAnchorIsUnanchored() async throws {
        let (writer, replica) = try await pair(count: 64)
        let claimed = await replica.claimMissingBlocks(in: [0..<64], limit: 64).blocks
        #expect(claimed.map(\.index) == Array(0..<64))
        // The first block asks for its whole path; the others stop at a node an earlier proof brings.
        #expect(claimed[0].nodes == (try await replica.missingNodes(0)))
        #expect(!claimed[0].anchoredByEarlierClaim)
        #expect(claimed.dropFirst().allSatisfy { $0.anchoredByEarlierClaim })
        #expect(claimed.reduce(0) { $0 + $1.nodes } < 2 * 64)
        var proofs: [Proof] = []
        for block in claimed {
            proofs.append(try await writer.proof(for: ProofRequest(block: .init(index: block.index, nodes: block.nodes))))
        }
        let anchoredLater = claimed.map { $0.anchoredByEarlierClaim ? $0.nodes : nil }
        // Block 1's proof before block 0's: it cannot verify yet, and is neither stored nor an error.
        let early = try await replica.receiveBatch([proofs[1]], anchoredLater: [anchoredLater[1]])
        #expect(early == [.unanchored])
        #expect(!(await replica.has(1)))
        // Without the flag the same proof is an error, as before.
        await #expect(throws: HypercoreError.self) { _ = try await replica.receiveBatch([proofs[1]]) }
        // In order, every proof verifies against the nodes of the ones before it.
        let outcomes = try await replica.receiveBatch(proofs, anchoredLater: anchoredLater)
        #expect(outcomes == Array(repeating: .stored, count: 64))
        #expect(try await allBlocks(replica) == (0..<64).map { [UInt8($0)] })
        #expect(await replica.treeHash == writer.treeHash)
    }

    private func allBlocks(_ feed: Feed) async throws -> [[UInt8]] {
        var blocks: [[UInt8]] = []
        for index in 0..<(await feed.length) { blocks.append(try await feed.get(index)) }
        return blocks
    }
}
