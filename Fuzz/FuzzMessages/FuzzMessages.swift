// libFuzzer target: `HypercoreMessage.decode(type:payload:)` for every wire type, and `ChannelHandshake`.
//
// Input: `selector ‖ payload`. `selector % 12` chooses what decodes the payload: 0–9 the `hypercore/alpha`
// message types, 10 a type no version defines (kept as `.unknown`), 11 the handshake of a channel open.
//
// Checked, besides "no trap, no memory error": a failure is `.malformedMessage`; the payload decodes the same from
// a slice of the input (as protomux delivers it) and from an array; whatever decodes has the type asked for,
// encodes to `encodedLength` bytes, decodes from those bytes to an equal value with an equal hash, and
// re-encodes to the same bytes.
import Hypercore
import HypercoreProtocol
#if canImport(Glibc)
import Glibc
#else
import Darwin
#endif
import CLibFuzzer

/// SwiftPM makes this the process's `main` (see CLibFuzzer.h): it hands the command line to libFuzzer.
@main
enum FuzzMessagesMain {
    static func main() {
        var argc = CommandLine.argc
        var argv: UnsafeMutablePointer<UnsafeMutablePointer<CChar>?>? = CommandLine.unsafeArgv
        exit(LLVMFuzzerRunDriver(&argc, &argv, fuzzMessages))
    }
}

@_cdecl("LLVMFuzzerTestOneInput")
public func fuzzMessages(_ data: UnsafePointer<UInt8>?, _ size: Int) -> CInt {
    guard let data, size >= 1 else { return 0 }
    let input = Array(UnsafeBufferPointer(start: data, count: size))
    let selector = input[0] % 12
    let payload = input[1...]  // a slice that does not start at 0, as protomux delivers payloads
    if selector == 11 {
        checkHandshake(Array(payload))
    } else {
        checkMessage(type: UInt64(selector), payload)
    }
    return 0
}

/// Stops the run with `message`; libFuzzer saves the input. The line is the caller's.
func fail(_ message: String, line: UInt = #line) -> Never {
    fatalError("FuzzMessages: \(message)", line: line)
}

func checkMessage(type: UInt64, _ payload: ArraySlice<UInt8>) {
    let fromSlice: Result<HypercoreMessage, ReplicationError>
    do throws(ReplicationError) {
        fromSlice = .success(try HypercoreMessage.decode(type: type, payload: payload))
    } catch {
        fromSlice = .failure(error)
    }
    let fromArray: Result<HypercoreMessage, ReplicationError>
    do throws(ReplicationError) {
        fromArray = .success(try HypercoreMessage.decode(type: type, payload: Array(payload)))
    } catch {
        fromArray = .failure(error)
    }

    switch (fromSlice, fromArray) {
    case (.failure(let a), .failure(let b)):
        guard a.code == .malformedMessage, b.code == .malformedMessage else {
            fail("type \(type): decoding failed with \(a.code) / \(b.code), not malformedMessage")
        }
    case (.success(let message), .success(let other)):
        guard message == other else { fail("type \(type): a slice and an array decode differently") }
        checkRoundTrip(message, type: type, payload)
    default:
        fail("type \(type): a slice and an array disagree on whether the payload decodes")
    }
}

func checkRoundTrip(_ message: HypercoreMessage, type: UInt64, _ payload: ArraySlice<UInt8>) {
    guard message.type == type else { fail("type \(type) decoded as type \(message.type)") }
    if case .unknown(_, let kept) = message, kept[...] != payload {
        fail("type \(type): an unknown message does not keep its payload as received")
    }
    let encoded = message.encoded
    guard encoded.count == message.encodedLength else {
        fail("type \(type): encodedLength \(message.encodedLength), encoded \(encoded.count) bytes")
    }
    let again: HypercoreMessage
    do throws(ReplicationError) {
        again = try HypercoreMessage.decode(type: type, payload: encoded)
    } catch {
        fail("type \(type): the re-encoded message does not decode: \(error)")
    }
    guard again == message else { fail("type \(type): decode(encode(x)) != x for \(message)") }
    guard again.hashValue == message.hashValue else { fail("type \(type): equal messages hash differently") }
    guard again.encoded == encoded else { fail("type \(type): encoding is not stable after one round trip") }
}

func checkHandshake(_ payload: [UInt8]) {
    let handshake: ChannelHandshake
    do throws(ReplicationError) {
        handshake = try ChannelHandshake(payload)
    } catch {
        guard error.code == .malformedMessage else { fail("handshake: failed with \(error.code)") }
        return
    }
    let encoded = handshake.encoded
    guard encoded.count == handshake.encodedLength else { fail("handshake: encodedLength is wrong") }
    guard encoded.count <= payload.count else { fail("handshake: re-encodes longer than it arrived") }
    do throws(ReplicationError) {
        let again = try ChannelHandshake(encoded)
        guard again == handshake, again.encoded == encoded else { fail("handshake: decode(encode(x)) != x") }
        guard again.seeks == (handshake.flags & 1 != 0) else { fail("handshake: seeks is not flag bit 0") }
    } catch {
        fail("handshake: the re-encoded handshake does not decode: \(error)")
    }
}
