import HypercoreProtocol
import Testing

/// What fuzzing the wire decoders found (docs/fuzzing.md), kept as ordinary tests.
@Suite struct FuzzFindingsTests {
    /// The frames of `count` opens of channels in one batch, as a remote sends them: all of protocol `x` with
    /// the same empty id (protomux allows that with `unique: false`), or each with its own id.
    static func opens(_ count: Int, sameKey: Bool) throws -> [[UInt8]] {
        var remote = Protomux()
        remote.cork()
        for i in 0..<count {
            let id: [UInt8] = sameKey ? [] : [UInt8(truncatingIfNeeded: i), UInt8(truncatingIfNeeded: i >> 8)]
            _ = try remote.open(protocol: "x", id: id, handshake: [], unique: false)
        }
        return remote.uncork()
    }

    /// Receives `frames` and rejects every remote open in the order they arrived, as `ReplicationSession` rejects
    /// the opens of feeds it does not replicate; returns how long that took.
    static func receiveAndReject(_ frames: [[UInt8]]) throws -> Duration {
        var mux = Protomux()
        var opens = 0
        let elapsed = try ContinuousClock().measure {
            for frame in frames {
                for case .remoteOpened(let open) in try mux.receive(frame) {
                    opens += 1
                    _ = mux.reject(open)
                }
            }
        }
        #expect(opens == 10_000)
        #expect(mux.pendingOpenBytes == 0)
        return elapsed
    }

    /// Found with a crafted `FuzzProtomux` input: each reject scanned every open of the same key still waiting,
    /// so rejecting many opens of one key took quadratic time. 32,000 of them (256 KB of frames, within the 4 MiB
    /// pending-open budget) took 3.5 s of CPU in a release build, against 0.4 s for distinct keys; the 10,000 here
    /// took 13 s in a debug build (0.2 s distinct). Answers in arrival order now take the oldest open directly.
    @Test func rejectingManyOpensOfOneKeyInOrderTakesLinearTime() throws {
        let distinct = try Self.receiveAndReject(try Self.opens(10_000, sameKey: false))
        let same = try Self.receiveAndReject(try Self.opens(10_000, sameKey: true))
        // One key costs no more than distinct keys (each of which also makes a pairing record); generous for
        // timing noise, and far below the 10×–100× the scan cost.
        #expect(same < distinct * 3 + .milliseconds(200), "one key: \(same), distinct keys: \(distinct)")
    }
}
