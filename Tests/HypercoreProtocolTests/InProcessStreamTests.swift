import HypercoreProtocol
import KappaTesting
import Testing

@Suite struct InProcessStreamTests {
    @Test func bytesArriveInOrderAndCloseEndsThePeersInbound() async throws {
        let (a, b) = InProcessStream.pair()
        try await a.write([1, 2])
        try await a.write([3])
        await a.close()
        var received: [UInt8] = []
        for try await chunk in b.inbound { received += chunk }
        #expect(received == [1, 2, 3])
        await #expect(throws: InProcessStream.StreamClosed.self) { try await a.write([4]) }
    }

    @Test func faultsFlipAndCut() async throws {
        let (a, b) = InProcessStream.pair(faults: (.init(cutAfter: 5, flip: [1]), .none))
        try await a.write([0, 0, 0])
        await #expect(throws: InProcessStream.ConnectionCut.self) { try await a.write([0, 0, 0]) }
        var received: [UInt8] = []
        await #expect(throws: InProcessStream.ConnectionCut.self) {
            for try await chunk in b.inbound { received += chunk }
        }
        #expect(received == [0, 1, 0, 0, 0])
        await #expect(throws: InProcessStream.StreamClosed.self) { try await b.write([1]) }
    }
}
