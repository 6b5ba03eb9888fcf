import HypercoreProtocol
import Testing

@Suite struct FrameReassemblerTests {
    static func frames(_ sizes: [Int]) -> (bodies: [[UInt8]], wire: [UInt8]) {
        let bodies = sizes.enumerated().map { i, size in (0..<size).map { UInt8(truncatingIfNeeded: $0 &+ i) } }
        return (bodies, bodies.flatMap { Framing.frame($0) })
    }

    static func drain(_ reassembler: inout FrameReassembler) throws -> [[UInt8]] {
        var out: [[UInt8]] = []
        while let frame = try reassembler.nextFrame() { out.append(frame) }
        return out
    }

    @Test func prefixIsU24LittleEndian() {
        #expect(Framing.frame([7]) == [1, 0, 0, 7])
        #expect(Array(Framing.frame([UInt8](repeating: 0, count: 0x01_0203)).prefix(3)) == [0x03, 0x02, 0x01])
        #expect(Framing.frame([]) == [0, 0, 0])
    }

    @Test(arguments: [1, 2, 3, 4, 5, 7, 64, 1000, 100_000])
    func framesSurviveAnyChunking(chunkSize: Int) throws {
        let (bodies, wire) = Self.frames([0, 1, 2, 3, 17, 100, 5000, 0, 70_000, 9])
        var reassembler = FrameReassembler()
        var out: [[UInt8]] = []
        var start = 0
        while start < wire.count {
            reassembler.append(Array(wire[start..<min(start + chunkSize, wire.count)]))
            out += try Self.drain(&reassembler)
            start += chunkSize
        }
        #expect(out == bodies)
        #expect(!reassembler.hasPartialFrame)
    }

    @Test func aPartialPrefixOrBodyIsReportedAsPartial() throws {
        var reassembler = FrameReassembler()
        reassembler.append([5, 0])
        #expect(try reassembler.nextFrame() == nil)
        #expect(reassembler.hasPartialFrame)
        reassembler.append([0, 1, 2, 3, 4])
        #expect(try reassembler.nextFrame() == nil)
        reassembler.append([5, 2, 0])
        #expect(try reassembler.nextFrame() == [1, 2, 3, 4, 5])
        #expect(reassembler.hasPartialFrame)
    }

    @Test func manySmallFramesInOneChunkAreReadInPlace() throws {
        let (bodies, wire) = Self.frames([Int](repeating: 10, count: 100_000))
        var reassembler = FrameReassembler()
        reassembler.append(wire)
        var count = 0
        while let frame = try reassembler.nextFrame({ $0.count }) {
            #expect(frame == 10)
            count += 1
        }
        #expect(count == bodies.count)
        #expect(reassembler.movedBytes == 0)
    }

    @Test func oneLargeFrameInManyChunksIsNotCopiedOverAndOver() throws {
        let (bodies, wire) = Self.frames([4_000_000])
        var reassembler = FrameReassembler()
        var start = 0
        while start < wire.count {
            reassembler.append(Array(wire[start..<min(start + 1000, wire.count)]))
            start += 1000
        }
        #expect(try reassembler.nextFrame() == bodies[0])
        #expect(reassembler.movedBytes == 0)
    }

    @Test func chunksStraddlingFramesMoveOnlyTheirTails() throws {
        // Frames of 1000 bytes in chunks of 999: every chunk ends inside a frame, so each append moves the
        // unread tail of the previous chunk once. The total moved stays below the bytes received.
        let (bodies, wire) = Self.frames([Int](repeating: 997, count: 2000))
        var reassembler = FrameReassembler()
        var out: [[UInt8]] = []
        var start = 0
        while start < wire.count {
            reassembler.append(Array(wire[start..<min(start + 999, wire.count)]))
            out += try Self.drain(&reassembler)
            start += 999
        }
        #expect(out == bodies)
        #expect(reassembler.movedBytes < wire.count)
    }

    @Test func aPrefixAboveTheLimitIsFrameTooLarge() throws {
        var reassembler = FrameReassembler(maximumFrameLength: 100)
        reassembler.append(Framing.frame([UInt8](repeating: 1, count: 100)))
        #expect(try reassembler.nextFrame()?.count == 100)
        reassembler.append([101, 0, 0])
        let error = #expect(throws: ReplicationError.self) { try reassembler.nextFrame() }
        #expect(error?.code == .frameTooLarge)
        // The default limit is the protocol's: 2^24 - 1, the most a u24 prefix can say.
        var unlimited = FrameReassembler()
        unlimited.append([0xff, 0xff, 0xff, 1])
        #expect(try unlimited.nextFrame() == nil)
        #expect(unlimited.maximumFrameLength == 0xFF_FFFF)
    }

    @Test func aLargePrefixReservesTheFrameOnlyOnceAQuarterOfItHasArrived() throws {
        // A peer announcing a 16 MiB frame and sending a few bytes costs a few bytes, not 16 MiB.
        var reassembler = FrameReassembler()
        reassembler.append([0xff, 0xff, 0xff, 1])
        reassembler.append([2, 3])
        #expect(reassembler.reservedCapacity < 1 << 20)
        // Once a quarter has arrived the rest is reserved at once, and the frame comes out whole.
        let body = [UInt8](repeating: 0x5a, count: 4 << 20)
        var wire = Framing.frame(body)
        reassembler = FrameReassembler()
        var start = 0
        var frames: [[UInt8]] = []
        while start < wire.count {
            let end = min(start + 65_536, wire.count)
            reassembler.append(Array(wire[start..<end]))
            if 4 * end >= wire.count, end < wire.count {
                #expect(reassembler.reservedCapacity >= wire.count)
            }
            while let frame = try reassembler.nextFrame() { frames.append(frame) }
            start = end
        }
        #expect(frames == [body])
        wire = []
    }
}
