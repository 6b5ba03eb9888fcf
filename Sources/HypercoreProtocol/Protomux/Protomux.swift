import Hypercore

/// The protomux channel multiplexer (spec D.3) as a synchronous, sans-IO state machine.
///
/// It pairs local and remote channels by `protocol ## hex(id)` (and aliases), numbers local channels from 1
/// (reusing the smallest freed id), tracks the remote's ids, buffers messages for remote channels not paired
/// yet, and batches what is sent while corked. It does no I/O: methods return the frames to send, and
/// ``receive(_:)`` turns a received frame into ``ProtomuxEvent``s. The owner (a replication session actor)
/// writes the frames, in the order they are returned, to the secret stream.
///
/// **Channel life.** ``open(protocol:aliases:id:handshake:unique:)`` sends an open. The channel is *paired* when
/// the remote's open for the same key arrives (``ProtomuxEvent/opened(_:remoteHandshake:)``), or at once if the
/// remote's open came first and was waiting (``ProtomuxEvent/remoteOpened(_:)``). A remote open nobody pairs is
/// answered with ``reject(_:)``. Either side may ``close(_:)``. A channel closed before it was paired keeps its id
/// until the remote answers the open (pairs or rejects), as protomux does, so the remote never sees an id reused
/// while it still maps it.
///
/// **Remote ids.** A remote open must use a remote id that is free: one freed earlier, or exactly one above the
/// highest the remote used so far ("the remote may only grow ids by one"). Anything else is a
/// ``ReplicationError/Code/protocolViolation``.
///
/// **Differences from protomux 3.10**, all on inputs a well-behaved peer never sends: a message or close for a
/// remote id that was never opened throws ``ReplicationError/Code/unknownChannel`` (protomux ignores it);
/// a remote open of channel 0 and a batch nested in a batch throw; messages beyond the buffer budget throw
/// ``ReplicationError/Code/bufferOverflow`` (protomux pauses the stream); pending remote opens and remote ids are
/// bounded (``Limits``); a close for a remote open not yet answered withdraws it (its buffered messages are
/// dropped, and a later local open of the same key pairs and closes at once). Freed local ids are reused
/// smallest first (protomux: last freed first); either is valid for the remote.
///
/// Every malformed or illegal input throws a ``ReplicationError``; none traps. After a throw the session is
/// over: the state is still safe to use but may not match the remote's.
package struct Protomux: Sendable {
    struct LocalChannel: Sendable {
        enum State: Sendable {
            /// Open sent, waiting for the remote's open (the id is in its info's `outgoing`).
            case opening
            /// Paired with the remote channel at this index of `remote`.
            case paired(remote: Int)
            /// Closed locally before pairing; the id stays reserved until the remote answers the open.
            case closing
        }
        /// The pairing key the channel was opened under (resolve through `aliasTargets`).
        var key: ChannelKey
        var state: State
    }

    struct PendingOpen: Sendable {
        var open: RemoteOpen
        var key: ChannelKey
        var buffered: [(type: UInt64, payload: [UInt8])] = []
        var bufferedBytes = 0
        var closedByRemote = false
        var cost: Int
    }

    enum RemoteChannel: Sendable {
        /// Opened by the remote, not answered yet.
        case pending(PendingOpen)
        /// Paired with the local channel at this index of `local`.
        case paired(local: Int)
    }

    /// The pairing state of one `protocol ## id` key (protomux's `info`).
    struct Info: Sendable {
        /// The alias keys that resolve to this info.
        var aliases: [ChannelKey]
        /// Local channels open under this key (not closed).
        var opened = 0
        /// Local channels (indexes) whose open waits for the remote's, oldest first.
        var outgoing: [Int] = []
        /// Remote channels (indexes) whose open waits for a local one, oldest first. A slice, so that taking the
        /// oldest is O(1): the remote decides how many there are.
        var incoming: ArraySlice<Int> = []
    }

    /// The limits this mux enforces.
    package let limits: Limits

    /// Local channels by index (local id − 1); `nil` is a free id.
    var local: [LocalChannel?] = []
    /// The generation of each local slot, bumped at each allocation (kept while free).
    var generations: [UInt32] = []
    /// Free local indexes, largest first, so `popLast()` gives the smallest.
    var freeLocal: [Int] = []
    /// Remote channels by index (remote id − 1); `nil` is closed or never paired.
    var remote: [RemoteChannel?] = []
    /// Pairing state by canonical key.
    var infos: [ChannelKey: Info] = [:]
    /// Alias key → canonical key.
    var aliasTargets: [ChannelKey: ChannelKey] = [:]
    /// Bytes buffered for pending remote channels (protomux accounting).
    package internal(set) var bufferedBytes = 0
    /// Bytes held by pending remote opens.
    package internal(set) var pendingOpenBytes = 0
    var corkDepth = 0
    var batch: BatchBuilder

    /// Creates a mux with no channels.
    package init(limits: Limits = Limits()) {
        self.limits = limits
        self.batch = BatchBuilder(maxBatch: limits.maxBatch)
    }

    // MARK: Queries

    /// True while `channel` is open locally (opening or paired, not closed).
    package func isOpen(_ channel: Channel) -> Bool {
        liveIndex(channel) != nil
    }

    /// True when `channel` is paired with a remote channel.
    package func isPaired(_ channel: Channel) -> Bool {
        guard let index = liveIndex(channel), case .paired = local[index]?.state else { return false }
        return true
    }

    /// True while sends are batched (``cork()`` was called more often than ``uncork()``).
    package var isCorked: Bool { corkDepth > 0 }

    /// The number of remote channel ids the remote has used (the size of its id table).
    package var remoteChannelCount: Int { remote.count }

    /// The index of `channel` if the handle is current and the channel not closed.
    func liveIndex(_ channel: Channel) -> Int? {
        let index = channel.index
        guard index >= 0, index < local.count, generations[index] == channel.generation,
            let slot = local[index]
        else { return nil }
        if case .closing = slot.state { return nil }
        return index
    }

    func handle(_ index: Int) -> Channel {
        Channel(index: index, generation: generations[index])
    }

    // MARK: Keys

    /// `protocol ## hex(id)`, protomux's pairing key, compared byte for byte as JavaScript compares strings
    /// (code unit by code unit), not by Unicode canonical equivalence as Swift's `String` does.
    struct ChannelKey: Hashable, Sendable {
        let bytes: [UInt8]
    }

    static func key(_ protocolName: String, _ id: [UInt8]) -> ChannelKey {
        ChannelKey(bytes: Array(protocolName.utf8) + Array("##".utf8) + Array(Hex.encode(id).utf8))
    }

    func resolve(_ key: ChannelKey) -> ChannelKey {
        aliasTargets[key] ?? key
    }

    /// The canonical key of `key`'s info, creating the info (with `aliases`) if there is none.
    mutating func info(for key: ChannelKey, aliases: [ChannelKey]) -> ChannelKey {
        let canonical = resolve(key)
        if infos[canonical] != nil { return canonical }
        var info = Info(aliases: [])
        for alias in aliases where alias != key {
            // An info created by a remote open under the alias joins this one.
            if let other = infos[alias], other.aliases.isEmpty {
                info.opened += other.opened
                info.outgoing += other.outgoing
                info.incoming += other.incoming
                infos[alias] = nil
            }
            aliasTargets[alias] = key
            info.aliases.append(alias)
        }
        infos[key] = info
        return key
    }

    /// Forgets `key`'s info once nothing refers to it.
    mutating func collect(_ canonical: ChannelKey) {
        guard let info = infos[canonical], info.opened == 0, info.outgoing.isEmpty, info.incoming.isEmpty else {
            return
        }
        infos[canonical] = nil
        for alias in info.aliases where aliasTargets[alias] == canonical { aliasTargets[alias] = nil }
    }

    // MARK: Local ids

    mutating func allocateLocal(_ slot: LocalChannel) -> Int {
        if let index = freeLocal.popLast() {
            local[index] = slot
            generations[index] &+= 1
            return index
        }
        local.append(slot)
        generations.append(0)
        return local.count - 1
    }

    mutating func freeLocalIndex(_ index: Int) {
        local[index] = nil
        // Keep `freeLocal` sorted largest first.
        var low = 0
        var high = freeLocal.count
        while low < high {
            let mid = (low + high) / 2
            if freeLocal[mid] > index { low = mid + 1 } else { high = mid }
        }
        freeLocal.insert(index, at: low)
    }

    // MARK: Sending

    /// Sends `payload` as a message of `type` on `channel`.
    ///
    /// - Returns: the frame to send; `nil` while corked (the message joined the batch) or when the channel is
    ///   closed (the message is dropped, as protomux does: a send racing a remote close is not an error).
    package mutating func send(_ channel: Channel, type: UInt64, payload: some ProtomuxPayload) -> [UInt8]? {
        guard let index = liveIndex(channel) else { return nil }
        return emit(channel: UInt64(index) + 1, type: type, payload: payload)
    }

    mutating func emit(channel: UInt64, type: UInt64, payload: some ProtomuxPayload) -> [UInt8]? {
        if corkDepth > 0 {
            batch.append(channel: channel, type: type, payload: payload)
            return nil
        }
        return ProtomuxFrame.message(channel: channel, type: type, payload: payload)
    }

    mutating func emit(_ control: ProtomuxControl) -> [UInt8]? {
        emit(channel: 0, type: control.type, payload: control)
    }

    /// Starts batching: until the matching ``uncork()``, sends and control messages join one batch frame.
    /// Calls nest.
    package mutating func cork() {
        corkDepth += 1
    }

    /// Ends one ``cork()``. When the outermost cork ends, returns the batch: one frame, or several when the
    /// batch would exceed ``Limits/maxBatch`` (a single message larger than that travels as a plain frame, in
    /// order). Returns nothing when nothing was sent, or when not corked.
    package mutating func uncork() -> [[UInt8]] {
        guard corkDepth > 0 else { return [] }
        corkDepth -= 1
        return corkDepth == 0 ? batch.finish() : []
    }

    // MARK: Opening, rejecting, closing

    /// Opens a local channel for `protocol` and `id`, or answers a waiting remote open of the same key.
    ///
    /// - Parameters:
    ///   - protocol: the protocol name, such as `hypercore/alpha`.
    ///   - aliases: other names the remote may open the same channel under (hypercore: `hypercore`).
    ///   - id: the channel id within the protocol (a discovery key for hypercore).
    ///   - handshake: the encoded handshake sent with the open.
    ///   - unique: refuse a second open channel for the same key (protomux's default).
    /// - Returns: the channel, the open frame (`nil` while corked) and, when a remote open was waiting, the
    ///   pairing events (see ``OpenResult/events``).
    /// - Throws: ``ReplicationError`` `.protocolViolation` when `unique` and a channel for the key is open.
    package mutating func open(
        protocol protocolName: String, aliases: [String] = [], id: [UInt8], handshake: [UInt8], unique: Bool = true
    ) throws(ReplicationError) -> OpenResult {
        let key = Self.key(protocolName, id)
        let canonical = info(for: key, aliases: aliases.map { Self.key($0, id) })
        guard !unique || infos[canonical]?.opened ?? 0 == 0 else {
            throw ReplicationError(
                .protocolViolation, "a \(protocolName) channel for \(Hex.encode(id)) is already open")
        }
        let index = allocateLocal(LocalChannel(key: canonical, state: .opening))
        infos[canonical]?.opened += 1
        let channel = handle(index)
        let frame = emit(.open(channel: UInt64(index) + 1, protocol: protocolName, id: id, handshake: handshake))

        var events: [ProtomuxEvent] = []
        while let remoteIndex = infos[canonical]?.incoming.first {
            infos[canonical]?.incoming.removeFirst()
            guard case .pending(let pending) = remote[remoteIndex], resolve(pending.key) == canonical else { continue }
            pendingOpenBytes -= pending.cost
            bufferedBytes -= pending.bufferedBytes
            remote[remoteIndex] = .paired(local: index)
            local[index]?.state = .paired(remote: remoteIndex)
            events.append(.opened(channel, remoteHandshake: pending.open.handshake))
            for message in pending.buffered {
                events.append(.message(channel, type: message.type, payload: message.payload[...]))
            }
            if pending.closedByRemote {
                closePaired(index, remote: remoteIndex)
                events.append(.closed(channel))
            }
            return OpenResult(channel: channel, frame: frame, events: events)
        }
        infos[canonical]?.outgoing.append(index)
        return OpenResult(channel: channel, frame: frame, events: events)
    }

    /// Refuses a remote open (protomux's reject, sent when no handler pairs the channel). Drops the messages
    /// buffered for it.
    /// - Returns: the reject frame; `nil` while corked, or when `open` is no longer waiting (already answered).
    package mutating func reject(_ open: RemoteOpen) -> [UInt8]? {
        let id = open.remoteId
        guard id >= 1, id <= UInt64(remote.count), case .pending(let pending) = remote[Int(id) - 1] else {
            return nil
        }
        let index = Int(id) - 1
        remote[index] = nil
        pendingOpenBytes -= pending.cost
        bufferedBytes -= pending.bufferedBytes
        let canonical = resolve(pending.key)
        // Owners answer in arrival order: the oldest is taken directly, not searched for (a search per reject made
        // a batch of opens of one key quadratic to reject).
        if infos[canonical]?.incoming.first == index {
            infos[canonical]?.incoming.removeFirst()
        } else {
            infos[canonical]?.incoming.removeAll { $0 == index }
        }
        collect(canonical)
        return emit(.reject(channel: id))
    }

    /// Closes a local channel and tells the remote.
    /// - Returns: the close frame; `nil` while corked, or when the channel was already closed.
    package mutating func close(_ channel: Channel) -> [UInt8]? {
        guard let index = liveIndex(channel), let slot = local[index] else { return nil }
        switch slot.state {
        case .paired(let remoteIndex):
            closePaired(index, remote: remoteIndex)
        case .opening:
            local[index]?.state = .closing
            infos[resolve(slot.key)]?.opened -= 1
        case .closing:
            return nil
        }
        return emit(.close(channel: UInt64(index) + 1))
    }

    /// Ends a paired channel on both tables and frees its local id (the remote has answered its open).
    mutating func closePaired(_ index: Int, remote remoteIndex: Int) {
        guard let slot = local[index] else { return }
        remote[remoteIndex] = nil
        let canonical = resolve(slot.key)
        infos[canonical]?.opened -= 1
        freeLocalIndex(index)
        collect(canonical)
    }
}
