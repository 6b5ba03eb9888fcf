extension Protomux {
    /// Handles one received frame (one secret-stream message) and reports what the remote did.
    ///
    /// Batches are unpacked into the same events their messages would give alone. An empty frame (keep-alive)
    /// gives none; control messages of unknown type, and messages for channels that were closed, are ignored
    /// as protomux ignores them.
    /// - Throws: ``ReplicationError``: `.malformedMessage` (a frame cut short), `.protocolViolation` (an open that
    ///   skips ids or reuses a busy one, a reject for a channel not waiting for an answer), `.unknownChannel`
    ///   (a message or close for a remote id never opened), `.bufferOverflow` (too much buffered for unpaired
    ///   channels, or too many pending opens).
    package mutating func receive(_ frame: [UInt8]) throws(ReplicationError) -> [ProtomuxEvent] {
        var events: [ProtomuxEvent] = []
        try receive(frame, into: &events)
        return events
    }

    /// Handles one received frame, appending its events to `events` (to reuse one array across frames).
    /// - Throws: as ``receive(_:)``.
    package mutating func receive(_ frame: [UInt8], into events: inout [ProtomuxEvent]) throws(ReplicationError) {
        try ProtomuxFrame.forEachEntry(in: frame) { entry throws(ReplicationError) in
            if entry.channel == 0 {
                try receiveControl(entry, frame, &events)
            } else {
                try receiveMessage(entry, &events)
            }
        }
    }

    private mutating func receiveMessage(
        _ entry: ProtomuxFrame.Entry, _ events: inout [ProtomuxEvent]
    ) throws(ReplicationError) {
        let index = try remoteIndex(entry.channel, "a message")
        switch remote[index] {
        case .paired(let localIndex):
            events.append(.message(handle(localIndex), type: entry.type, payload: entry.payload))
        case .pending(var pending):
            guard !pending.closedByRemote else { return }
            let cost = Limits.bufferedMessageOverhead + entry.payload.count
            guard bufferedBytes + cost <= limits.maxBuffered else {
                throw ReplicationError(
                    .bufferOverflow, "more than \(limits.maxBuffered) bytes buffered for channels not answered yet")
            }
            remote[index] = nil  // keep `pending.buffered` uniquely referenced while it grows
            pending.buffered.append((entry.type, Array(entry.payload)))
            pending.bufferedBytes += cost
            bufferedBytes += cost
            remote[index] = .pending(pending)
        case nil:
            return  // closed or rejected: messages still in flight are expected
        }
    }

    /// The index in `remote` of remote channel `id`, which must have been opened once.
    private func remoteIndex(_ id: UInt64, _ what: String) throws(ReplicationError) -> Int {
        guard id <= UInt64(remote.count) else {
            throw ReplicationError(.unknownChannel, "\(what) for remote channel \(id), which the remote never opened")
        }
        return Int(id) - 1
    }

    private mutating func receiveControl(
        _ entry: ProtomuxFrame.Entry, _ frame: [UInt8], _ events: inout [ProtomuxEvent]
    ) throws(ReplicationError) {
        let range = entry.payload.startIndex..<entry.payload.endIndex
        switch try ProtomuxControl.decode(type: entry.type, frame, range) {
        case .open(let id, let name, let channelId, let handshake):
            try receiveOpen(RemoteOpen(remoteId: id, protocol: name, id: channelId, handshake: handshake), &events)
        case .reject(let id):
            try receiveReject(id, &events)
        case .close(let id):
            try receiveClose(id, &events)
        case .unknown:
            return
        }
    }

    private mutating func receiveOpen(_ open: RemoteOpen, _ events: inout [ProtomuxEvent]) throws(ReplicationError) {
        let id = open.remoteId
        guard id != 0 else {
            throw ReplicationError(.protocolViolation, "the remote tried to open the control channel 0")
        }
        guard id <= UInt64(remote.count) + 1 else {
            throw ReplicationError(
                .protocolViolation,
                "the remote opened channel \(id) after \(remote.count): channel ids may only grow by one")
        }
        let index = Int(id) - 1
        if index == remote.count {
            guard remote.count < limits.maxRemoteChannels else {
                throw ReplicationError(
                    .protocolViolation, "the remote opened more than \(limits.maxRemoteChannels) channel ids")
            }
            remote.append(nil)
        }
        guard remote[index] == nil else {
            throw ReplicationError(.protocolViolation, "the remote opened channel \(id), which is already open")
        }

        let canonical = info(for: Self.key(open.protocol, open.id), aliases: [])
        if let localIndex = infos[canonical]?.outgoing.first {
            infos[canonical]?.outgoing.removeFirst()
            switch local[localIndex]?.state {
            case .opening:
                remote[index] = .paired(local: localIndex)
                local[localIndex]?.state = .paired(remote: index)
                events.append(.opened(handle(localIndex), remoteHandshake: open.handshake))
            case .closing:
                // Closed before the remote answered: the answer frees the id; the remote will see our close.
                freeLocalIndex(localIndex)
                collect(canonical)
            case .paired, nil:
                collect(canonical)  // not reached: `outgoing` holds only channels waiting for an answer
            }
            return
        }

        let cost = Limits.pendingOpenOverhead + open.protocol.utf8.count + open.id.count + open.handshake.count
        guard pendingOpenBytes + cost <= limits.maxPendingOpenBytes else {
            collect(canonical)
            throw ReplicationError(
                .bufferOverflow, "more than \(limits.maxPendingOpenBytes) bytes of channel opens we did not answer yet")
        }
        pendingOpenBytes += cost
        remote[index] = .pending(PendingOpen(open: open, key: canonical, cost: cost))
        infos[canonical]?.incoming.append(index)
        events.append(.remoteOpened(open))
    }

    private mutating func receiveReject(_ id: UInt64, _ events: inout [ProtomuxEvent]) throws(ReplicationError) {
        guard id >= 1, id <= UInt64(local.count), let slot = local[Int(id) - 1] else {
            throw ReplicationError(.protocolViolation, "the remote rejected channel \(id), which is not open")
        }
        let index = Int(id) - 1
        let canonical = resolve(slot.key)
        switch slot.state {
        case .paired:
            throw ReplicationError(.protocolViolation, "the remote rejected channel \(id) after pairing it")
        case .opening:
            infos[canonical]?.opened -= 1
            events.append(.rejected(handle(index)))
        case .closing:
            break
        }
        infos[canonical]?.outgoing.removeAll { $0 == index }
        freeLocalIndex(index)
        collect(canonical)
    }

    private mutating func receiveClose(_ id: UInt64, _ events: inout [ProtomuxEvent]) throws(ReplicationError) {
        guard id != 0 else { return }  // protomux ignores it
        let index = try remoteIndex(id, "a close")
        switch remote[index] {
        case .paired(let localIndex):
            let channel = handle(localIndex)
            closePaired(localIndex, remote: index)
            events.append(.closed(channel))
        case .pending(var pending):
            // Withdrawn before we answered: drop what it buffered; our answer (open or reject) still frees the
            // remote's id.
            remote[index] = nil
            bufferedBytes -= pending.bufferedBytes
            pending.buffered = []
            pending.bufferedBytes = 0
            pending.closedByRemote = true
            remote[index] = .pending(pending)
        case nil:
            return
        }
    }
}
