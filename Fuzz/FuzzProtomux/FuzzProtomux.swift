// libFuzzer target: `Protomux.receive(_:into:)` on one mux that lives through a whole input, interleaved with what
// its owner does (answer or reject remote opens, open and close channels, cork, send, uncork), so that opens,
// pairings, buffering, batches, rejects and closes are all reachable.
//
// Input: `config ‖ step*`. `config` bit 0 picks small limits (so the bounds are reachable), bit 1 skips opening the
// two hypercore channels at the start. A step is one byte `op`:
//   - `op < 0xF0`: a frame of `op` bytes follows (fewer if the input ends first) and is received;
//   - `0xF0`: a frame with a `u16le` length follows;
//   - `0xF1`…`0xF7`, `0xF8`…`0xFF`: an owner action (see `act`), most taking one argument byte.
// Errors do not end the input: after a throw "the state is still safe to use", which the rest of the input tests.
//
// Checked, besides "no trap, no memory error, no leak": receive throws only the codes it documents; events follow
// the channel life (`opened` only for a channel waiting for the remote, `message` and `closed` only on a paired
// one, `rejected` only on a waiting one) and agree with `isOpen`/`isPaired`; the byte budgets stay within their
// limits and return to zero once every remote open is answered; every message on a hypercore channel decodes or
// throws `malformedMessage`; frames the mux builds (sends, batches) parse back to what was sent.
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
enum FuzzProtomuxMain {
    static func main() {
        var argc = CommandLine.argc
        var argv: UnsafeMutablePointer<UnsafeMutablePointer<CChar>?>? = CommandLine.unsafeArgv
        exit(LLVMFuzzerRunDriver(&argc, &argv, fuzzProtomux))
    }
}

@_cdecl("LLVMFuzzerTestOneInput")
public func fuzzProtomux(_ data: UnsafePointer<UInt8>?, _ size: Int) -> CInt {
    guard let data, size >= 1 else { return 0 }
    var session = Session(config: data[0])
    var input = Input(bytes: Array(UnsafeBufferPointer(start: data + 1, count: size - 1)))
    while let op = input.byte() {
        switch op {
        case 0..<0xF0: session.receive(input.take(Int(op)))
        case 0xF0: session.receive(input.take(Int(input.byte() ?? 0) | Int(input.byte() ?? 0) << 8))
        default: session.act(op, input.byte() ?? 0)
        }
    }
    session.finish()
    return 0
}

/// Stops the run with `message`; libFuzzer saves the input. The line is the caller's.
func fail(_ message: String, line: UInt = #line) -> Never {
    fatalError("FuzzProtomux: \(message)", line: line)
}

struct Input {
    let bytes: [UInt8]
    var offset = 0

    mutating func byte() -> UInt8? {
        guard offset < bytes.count else { return nil }
        defer { offset += 1 }
        return bytes[offset]
    }

    mutating func take(_ n: Int) -> [UInt8] {
        let end = min(bytes.count, offset + n)
        defer { offset = end }
        return Array(bytes[offset..<end])
    }
}

/// The discovery key of spec D.9's transcript (JS's core), and that of the seed corpus's recorded session (the
/// feed of `KeyPair.fromSeed(32 × 7)`), so that recorded opens pair with a local channel.
let transcriptKey = fixedKey("3a89f6d50ed41371f942c2d6ba86ff7d11e59f19d9cf1c11aaacd5e64184f230")
let sessionKey: Bytes32 = {
    guard let pair = try? KeyPair.fromSeed([UInt8](repeating: 7, count: 32)) else { fail("no key pair") }
    return Hashing.discoveryKey(pair.publicKey)
}()

func fixedKey(_ hex: String) -> Bytes32 {
    guard let key = try? Bytes32(hex: hex) else { fail("bad key \(hex)") }
    return key
}

/// Messages the owner sends, one of each kind of body.
let outgoing: [HypercoreMessage] = [
    .sync(SyncMessage(flags: [.canUpgrade, .uploading], fork: 0, length: 1000, remoteLength: 0)),
    .request(RequestMessage(id: 1, block: .init(index: 999, nodes: 0), upgrade: .init(start: 0, length: 1000))),
    .data(DataMessage(requestId: 1, block: .init(index: 0, value: [1, 2, 3], nodes: []))),
    .range(RangeMessage(start: 0, length: 1000)),
    .extension(ExtensionMessage(name: "x", message: [UInt8](repeating: 0xAB, count: 300))),
]

struct Session {
    enum State { case opening, paired, closed }

    struct Local {
        let channel: Protomux.Channel
        let isHypercore: Bool
        var state: State
    }

    var mux: Protomux
    var locals: [Local] = []
    var pending: [Protomux.RemoteOpen] = []
    var corked = 0
    var events: [ProtomuxEvent] = []

    init(config: UInt8) {
        let small = Protomux.Limits(
            maxBuffered: 2048, maxBatch: 512, maxPendingOpenBytes: 1024, maxRemoteChannels: 16)
        mux = Protomux(limits: config & 1 != 0 ? small : Protomux.Limits())
        if config & 2 == 0 {
            for key in [transcriptKey, sessionKey] {
                do throws(ReplicationError) {
                    let result = try mux.openHypercore(
                        discoveryKey: key, handshake: ChannelHandshake(capability: key))
                    locals.append(Local(channel: result.channel, isHypercore: true, state: .opening))
                } catch {
                    fail("cannot open the hypercore channel: \(error)")
                }
            }
        }
    }

    mutating func receive(_ frame: [UInt8]) {
        events.removeAll(keepingCapacity: true)
        do throws(ReplicationError) {
            try mux.receive(frame, into: &events)
        } catch {
            switch error.code {
            case .malformedMessage, .protocolViolation, .unknownChannel, .bufferOverflow: break
            default: fail("receive threw \(error.code): \(error)")
            }
        }
        // Events of the entries before a throw were delivered: they must be as consistent as the others.
        apply(events)
        check()
    }

    /// One owner action. `argument` picks among channels, pending opens or protocols.
    mutating func act(_ op: UInt8, _ argument: UInt8) {
        switch op & 7 {
        case 1, 2:
            // Answer a remote open by opening the same key (the oldest seen, or the one `argument` picks). It stays
            // in `pending`: the open may pair with another open of the key, or fail, and `finish` rejects them all.
            guard !pending.isEmpty else { return }
            let open = pending[op & 7 == 1 ? 0 : Int(argument) % pending.count]
            let hypercore = open.protocol == HypercoreMessage.protocolName
                || open.protocol == HypercoreMessage.protocolAlias
            let name = hypercore ? HypercoreMessage.protocolName : open.protocol
            let aliases = hypercore ? [HypercoreMessage.protocolAlias] : []
            openLocal(protocol: name, aliases: aliases, id: open.id, unique: true, isHypercore: hypercore)
        case 3:
            guard !pending.isEmpty else { return }
            let open = pending.remove(at: Int(argument) % pending.count)
            _ = mux.reject(open)
        case 4:
            guard !locals.isEmpty else { return }
            let index = Int(argument) % locals.count
            let wasOpen = mux.isOpen(locals[index].channel)
            let frame = mux.close(locals[index].channel)
            guard (frame != nil) == (wasOpen && corked == 0) else { fail("close returned the wrong frame") }
            if frame != nil { checkFrame(frame ?? [], control: true) }
            locals[index].state = .closed
        case 5:
            // A local open, perhaps of a key already open (`unique: false`), or of the alias `hypercore` alone.
            let id: [UInt8]
            switch argument & 3 {
            case 0: id = [argument >> 2 & 3]
            case 1: id = transcriptKey.bytes
            case 2: id = sessionKey.bytes
            default: id = []
            }
            let protocols = ["x", HypercoreMessage.protocolName, HypercoreMessage.protocolAlias, ""]
            let name = protocols[Int(argument >> 4 & 3)]
            let aliases = name == HypercoreMessage.protocolName ? [HypercoreMessage.protocolAlias] : []
            openLocal(protocol: name, aliases: aliases, id: id, unique: argument & 0x40 == 0,
                      isHypercore: name != "x" && name != "")
        case 6:
            if argument & 1 == 0 {
                mux.cork()
                corked += 1
            } else {
                let frames = mux.uncork()
                if corked > 0 { corked -= 1 }
                guard corked == 0 || frames.isEmpty else { fail("uncork returned frames while still corked") }
                for frame in frames { checkFrame(frame, control: false) }
            }
        case 7:
            guard !locals.isEmpty else { return }
            let local = locals[Int(argument) % locals.count]
            let message = outgoing[Int(argument >> 4) % outgoing.count]
            let frame = mux.send(message, on: local.channel)
            guard (frame != nil) == (mux.isOpen(local.channel) && corked == 0) else {
                fail("send returned \(frame == nil ? "no frame" : "a frame") for \(local.channel)")
            }
            if let frame { checkSent(frame, message, on: local.channel) }
        default:
            return
        }
        check()
    }

    mutating func openLocal(protocol name: String, aliases: [String], id: [UInt8], unique: Bool, isHypercore: Bool) {
        let result: Protomux.OpenResult
        do throws(ReplicationError) {
            result = try mux.open(protocol: name, aliases: aliases, id: id, handshake: [1], unique: unique)
        } catch {
            guard error.code == .protocolViolation, unique else { fail("open threw \(error.code): \(error)") }
            return
        }
        guard (result.frame != nil) == (corked == 0) else { fail("open returned the wrong frame") }
        if let frame = result.frame { checkFrame(frame, control: true) }
        guard !locals.contains(where: { $0.channel == result.channel && $0.state != .closed }) else {
            fail("open returned \(result.channel), which is still open")
        }
        locals.append(Local(channel: result.channel, isHypercore: isHypercore, state: .opening))
        apply(result.events)
        if result.events.isEmpty, mux.isPaired(result.channel) { fail("paired without an opened event") }
    }

    mutating func apply(_ events: [ProtomuxEvent]) {
        for event in events {
            switch event {
            case .remoteOpened(let open):
                guard open.remoteId >= 1, open.remoteId <= UInt64(mux.remoteChannelCount) else {
                    fail("remote open with id \(open.remoteId) of \(mux.remoteChannelCount)")
                }
                pending.append(open)
                if open.protocol.hasPrefix("hypercore") { _ = try? ChannelHandshake(open.handshake) }
            case .opened(let channel, let handshake):
                transition(channel, from: .opening, to: .paired, "opened")
                _ = try? ChannelHandshake(handshake)
            case .message(let channel, let type, let payload):
                transition(channel, from: .paired, to: .paired, "message")
                guard let local = locals.last(where: { $0.channel == channel }), local.isHypercore else { break }
                do throws(ReplicationError) {
                    let message = try HypercoreMessage.decode(type: type, payload: payload)
                    guard message.type == type else { fail("a type-\(type) message decoded as \(message.type)") }
                } catch {
                    guard error.code == .malformedMessage else { fail("decode threw \(error.code)") }
                }
            case .closed(let channel):
                transition(channel, from: .paired, to: .closed, "closed")
            case .rejected(let channel):
                transition(channel, from: .opening, to: .closed, "rejected")
            }
        }
    }

    mutating func transition(_ channel: Protomux.Channel, from: State, to: State, _ event: String) {
        guard let index = locals.lastIndex(where: { $0.channel == channel }) else {
            fail("\(event) for \(channel) (generation \(channel.generation)), which was never opened")
        }
        guard locals[index].state == from else {
            fail("\(event) for \(channel), which is \(locals[index].state)")
        }
        locals[index].state = to
    }

    /// The model agrees with the mux, and the budgets are within their limits.
    func check() {
        for local in locals {
            let open = mux.isOpen(local.channel)
            let paired = mux.isPaired(local.channel)
            switch local.state {
            case .opening: guard open, !paired else { fail("\(local.channel) should be waiting") }
            case .paired: guard open, paired else { fail("\(local.channel) should be paired") }
            case .closed: guard !open, !paired else { fail("\(local.channel) should be closed") }
            }
        }
        let limits = mux.limits
        guard mux.bufferedBytes >= 0, mux.bufferedBytes <= limits.maxBuffered else {
            fail("bufferedBytes \(mux.bufferedBytes) outside 0…\(limits.maxBuffered)")
        }
        guard mux.pendingOpenBytes >= 0, mux.pendingOpenBytes <= limits.maxPendingOpenBytes else {
            fail("pendingOpenBytes \(mux.pendingOpenBytes) outside 0…\(limits.maxPendingOpenBytes)")
        }
        guard mux.remoteChannelCount <= limits.maxRemoteChannels else { fail("too many remote ids") }
    }

    /// A frame the mux built parses; a batch is within its limit unless it holds a single message.
    func checkFrame(_ frame: [UInt8], control: Bool) {
        let entries: [ProtomuxFrame.Entry]
        do throws(ReplicationError) {
            entries = try ProtomuxFrame.entries(of: frame)
        } catch {
            fail("a frame the mux built does not parse: \(error)")
        }
        guard !entries.isEmpty else { fail("the mux built an empty frame") }
        if control, entries.count != 1 || entries[0].channel != 0 { fail("a control frame is not one control") }
        if entries.count > 1, frame.count > mux.limits.maxBatch { fail("a batch of \(frame.count) bytes") }
    }

    func checkSent(_ frame: [UInt8], _ message: HypercoreMessage, on channel: Protomux.Channel) {
        do throws(ReplicationError) {
            let entries = try ProtomuxFrame.entries(of: frame)
            guard entries.count == 1, entries[0].channel == channel.localId, entries[0].type == message.type,
                try HypercoreMessage.decode(type: message.type, payload: entries[0].payload) == message
            else { fail("a sent frame does not carry the message") }
        } catch {
            fail("a sent frame does not parse: \(error)")
        }
    }

    /// The owner answers every remote open and closes every channel: nothing stays accounted.
    mutating func finish() {
        while corked > 0 { act(0xFE, 1) }
        for open in pending { _ = mux.reject(open) }
        pending = []
        for index in locals.indices {
            _ = mux.close(locals[index].channel)
            locals[index].state = .closed
        }
        check()
        guard mux.pendingOpenBytes == 0, mux.bufferedBytes == 0 else {
            fail("\(mux.pendingOpenBytes) bytes of opens and \(mux.bufferedBytes) buffered after answering all")
        }
    }
}
