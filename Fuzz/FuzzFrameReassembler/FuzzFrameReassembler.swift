// libFuzzer target: the secret-stream frame reassembler, fed a byte stream cut into arbitrary chunks.
//
// Input: `limit ‖ chunking ‖ stream`. `limit & 7` picks the largest frame accepted (the real 2^24 − 1, or a small
// one so that `frameTooLarge` is reachable); `chunking` picks how the stream is cut: whole, in chunks of 1, 2 or 3
// bytes, or in pseudo-random chunk sizes (empty chunks included), and whether frames are drained after every chunk
// or left to pile up. Some frames are taken with a body that throws, which must still consume them.
//
// Checked against a reference reading of the whole stream: the same frames in the same order, `frameTooLarge`
// exactly where a prefix first announces more than the limit (and nothing else thrown), the bytes left over equal to
// the unfinished tail, and no byte moved more than once.
import HypercoreProtocol
#if canImport(Glibc)
import Glibc
#else
import Darwin
#endif
import CLibFuzzer

/// SwiftPM makes this the process's `main` (see CLibFuzzer.h): it hands the command line to libFuzzer.
@main
enum FuzzFrameReassemblerMain {
    static func main() {
        var argc = CommandLine.argc
        var argv: UnsafeMutablePointer<UnsafeMutablePointer<CChar>?>? = CommandLine.unsafeArgv
        exit(LLVMFuzzerRunDriver(&argc, &argv, fuzzFrameReassembler))
    }
}

@_cdecl("LLVMFuzzerTestOneInput")
public func fuzzFrameReassembler(_ data: UnsafePointer<UInt8>?, _ size: Int) -> CInt {
    guard let data, size >= 2 else { return 0 }
    let input = Array(UnsafeBufferPointer(start: data, count: size))
    run(limitSelector: input[0], chunking: input[1], stream: Array(input[2...]))
    return 0
}

/// Stops the run with `message`; libFuzzer saves the input. The line is the caller's.
func fail(_ message: String, line: UInt = #line) -> Never {
    fatalError("FuzzFrameReassembler: \(message)", line: line)
}

let limits = [Framing.maximumFrameLength, 0, 1, 3, 64, 255, 256, 4096]

/// What a reader of the whole stream at once sees: the frames, then an oversized prefix or an unfinished tail.
struct Expected {
    var frames: [[UInt8]] = []
    var tooLarge = false
    var leftover = 0

    init(_ stream: [UInt8], limit: Int) {
        var offset = 0
        while stream.count - offset >= Framing.prefixLength {
            let length = Int(stream[offset]) | Int(stream[offset + 1]) << 8 | Int(stream[offset + 2]) << 16
            if length > limit {
                tooLarge = true
                return
            }
            guard stream.count - offset - Framing.prefixLength >= length else { break }
            frames.append(Array(stream[(offset + Framing.prefixLength)..<(offset + Framing.prefixLength + length)]))
            offset += Framing.prefixLength + length
        }
        leftover = stream.count - offset
    }
}

/// A small deterministic generator (xorshift64*), so that an input always replays the same way.
struct Generator {
    var state: UInt64
    init(seed: UInt64) { state = seed &* 0x9E37_79B9_7F4A_7C15 | 1 }
    mutating func next() -> UInt64 {
        state ^= state >> 12
        state ^= state << 25
        state ^= state >> 27
        return state &* 0x2545_F491_4F6C_DD1D
    }
    mutating func below(_ n: Int) -> Int { Int(next() % UInt64(n)) }
}

struct Consumer {
    var frames: [[UInt8]] = []
    var failure: ReplicationError?
}

func run(limitSelector: UInt8, chunking: UInt8, stream: [UInt8]) {
    let limit = limits[Int(limitSelector & 7)]
    let expected = Expected(stream, limit: limit)
    var reassembler = FrameReassembler(maximumFrameLength: limit)
    guard reassembler.maximumFrameLength == limit else { fail("limit \(limit) not kept") }

    var rng = Generator(seed: UInt64(chunking) << 32 | UInt64(stream.count))
    let mode = chunking >> 5
    let lazy = chunking & 16 != 0  // in random modes, sometimes leave frames buffered across chunks
    var got = Consumer()
    var offset = 0
    while offset < stream.count, got.failure == nil {
        let size: Int
        switch mode {
        case 0: size = stream.count
        case 1, 2, 3: size = Int(mode)
        case 4: size = 1 + rng.below(8)
        case 5: size = 1 + rng.below(64)
        case 6: size = 1 + rng.below(1024)
        default: size = rng.below(4) == 0 ? 0 : 1 + rng.below(stream.count)
        }
        let end = min(stream.count, offset + size)
        reassembler.append(Array(stream[offset..<end]))
        offset = end
        if lazy && mode >= 4 && rng.below(3) == 0 && offset < stream.count { continue }
        drain(&reassembler, &got, &rng)
    }
    if got.failure == nil { drain(&reassembler, &got, &rng) }

    guard got.frames.count <= expected.frames.count, got.frames == Array(expected.frames.prefix(got.frames.count))
    else { fail("frames differ from the reference (\(got.frames.count) vs \(expected.frames.count))") }
    if expected.tooLarge {
        guard let failure = got.failure, failure.code == .frameTooLarge, got.frames.count == expected.frames.count
        else {
            fail("expected frameTooLarge after \(expected.frames.count) frames, got \(String(describing: got.failure))")
        }
        return
    }
    if let failure = got.failure { fail("unexpected \(failure.code): \(failure)") }
    guard got.frames.count == expected.frames.count else { fail("missing frames") }
    guard reassembler.bufferedByteCount == expected.leftover,
        reassembler.hasPartialFrame == (expected.leftover > 0)
    else { fail("\(reassembler.bufferedByteCount) bytes buffered, \(expected.leftover) expected") }
    guard reassembler.movedBytes <= stream.count else {
        fail("\(reassembler.movedBytes) bytes moved for a stream of \(stream.count)")
    }
    // Taking a frame when none is complete changes nothing.
    do throws(ReplicationError) {
        guard try reassembler.nextFrame() == nil, reassembler.bufferedByteCount == expected.leftover else {
            fail("a frame appeared from nowhere")
        }
    } catch {
        fail("nextFrame threw with no complete frame: \(error)")
    }
}

func drain(_ reassembler: inout FrameReassembler, _ got: inout Consumer, _ rng: inout Generator) {
    while true {
        let throwing = rng.below(8) == 0
        do throws(ReplicationError) {
            let frame: [UInt8]?
            if throwing {
                // A body that throws: the frame is consumed all the same.
                var seen: [UInt8]?
                do throws(ReplicationError) {
                    _ = try reassembler.nextFrame { (body: UnsafeRawBufferPointer) throws(ReplicationError) -> Int in
                        seen = Array(body)
                        throw ReplicationError(.malformedMessage, "refused by the fuzzer")
                    }
                } catch where error.code == .malformedMessage {
                    guard seen != nil else { fail("the body's error was thrown without a frame") }
                }
                frame = seen
            } else {
                frame = try reassembler.nextFrame()
            }
            guard let frame else { return }
            got.frames.append(frame)
        } catch {
            got.failure = error
            return
        }
    }
}
