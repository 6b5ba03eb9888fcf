import Hypercore
import Logging

extension ReplicationSession {
    // MARK: Protomux events

    func handle(_ event: ProtomuxEvent, dirty: inout Set<ObjectIdentifier>) async throws {
        if extra != nil, let channel = event.localChannel, isExtraChannel(channel) {
            try await handleExtra(event, dirty: &dirty)
            return
        }
        switch event {
        case .remoteOpened(let open):
            try await answer(open, dirty: &dirty)
        case .opened(let channel, let handshake):
            guard let peer = peersByChannel[channel.index] else { return }
            try pair(peer, remoteHandshake: handshake)
            dirty.insert(ObjectIdentifier(peer))
        case .message(let channel, let type, let payload):
            guard let peer = peersByChannel[channel.index], !peer.closed else { return }
            let message: HypercoreMessage
            do {
                message = try HypercoreMessage.decode(type: type, payload: payload)
            } catch {
                throw ReplicationError(error.code, "feed \(peer.feed.key): \(error.message)", cause: error.cause)
            }
            try receive(message, from: peer)
            dirty.insert(ObjectIdentifier(peer))
        case .closed(let channel):
            guard let peer = peersByChannel[channel.index] else { return }
            peer.closed = true
            peer.closedByRemote = true
            peer.releaseAll()
            logger.debug("peer closed its channel", metadata: ["feed": "\(peer.feed.key)"])
        case .rejected(let channel):
            guard let peer = peersByChannel[channel.index] else { return }
            peer.closed = true
            peer.closedByRemote = true
            peer.releaseAll()
            logger.debug("peer does not replicate the feed", metadata: ["feed": "\(peer.feed.key)"])
        }
    }

    /// A channel the peer opened that no local channel waits for: a feed the resolver knows, or a reject.
    private func answer(_ open: Protomux.RemoteOpen, dirty: inout Set<ObjectIdentifier>) async throws {
        let isHypercore = open.protocol == HypercoreMessage.protocolName || open.protocol == HypercoreMessage.protocolAlias
        if isHypercore, let discoveryKey = try? Bytes32(open.id), let resolver, let (feed, mode) = await resolver(discoveryKey),
           !peers.contains(where: { $0.feed === feed }) {
            let peer = Peer(feed: feed, mode: mode)
            peers.append(peer)
            for event in try openChannel(peer) { try await handle(event, dirty: &dirty) }
            dirty.insert(ObjectIdentifier(peer))
            return
        }
        if let frame = mux.reject(open) { pendingFrames.append(frame) }
    }

    // MARK: Messages

    private func receive(_ message: HypercoreMessage, from peer: Peer) throws {
        switch message {
        case .sync(let sync):
            let lengthChanged = !peer.synced || sync.length != peer.remoteLength || sync.fork != peer.remoteFork
            peer.synced = true
            peer.remoteFork = sync.fork
            peer.remoteLength = sync.length
            peer.remoteCanUpgrade = sync.flags.contains(.canUpgrade)
            peer.remoteDownloading = sync.flags.contains(.downloading)
            peer.lengthAcked = sync.fork == peer.lastStatus.fork ? sync.remoteLength : 0
            // The echo (spec D.5): answer a new length, or a stale view of ours, with a fresh sync.
            if lengthChanged || peer.lengthAcked != peer.lastStatus.length { peer.needSync = true }
        case .request(let request):
            guard peer.requests.count < options.maxQueuedRequests else {
                throw ReplicationError(.tooManyRequests,
                                       "the peer sent more than \(options.maxQueuedRequests) requests for feed \(peer.feed.key) at once")
            }
            peer.requests.append(request)
        case .cancel(let cancel):
            // Applied when the requests are served: a flood of cancels must not cost a scan of the queue each.
            guard !peer.requests.isEmpty else { break }  // nothing queued to cancel
            guard peer.cancels.count < options.maxQueuedRequests || peer.cancels[cancel.requestId] != nil else {
                throw ReplicationError(.tooManyRequests, "the peer sent too many cancels for feed \(peer.feed.key)")
            }
            peer.cancels[cancel.requestId] = peer.requests.count
        case .data(let data):
            // Answers to requests never sent here are ignored, never stored. A late answer to a request that
            // timed out is verified and stored like any other (its block may still be missing).
            guard data.requestId != 0, data.requestId < nextRequestId else { return }
            peer.proofs.append(data.proof)
            peer.proofRequestIds.append(data.requestId)
        case .noData(let noData):
            guard let request = peer.removeInflight(noData.requestId) else { return }
            if let block = request.block {
                peer.feed.claims.release([block], abandoned: true)
                peer.remoteHas.remove(block..<(block + 1))
            }
            if request.upgrade {
                peer.upgradeInflight = false
                peer.remoteCanUpgrade = false  // until its next sync
            }
        case .want(let want):
            guard peer.wants.count < options.maxQueuedRequests else {
                throw ReplicationError(.tooManyRequests, "the peer sent too many wants for feed \(peer.feed.key)")
            }
            peer.wants.append(want)
        case .unwant, .extension, .unknown:
            break
        case .bitfield(let bitfield):
            peer.awaitingWantAnswer = false
            try announce(bitfield, by: peer)
        case .range(let range):
            peer.awaitingWantAnswer = false
            let (end, overflow) = range.start.addingReportingOverflow(range.length)
            guard !overflow else {
                throw ReplicationError(.malformedMessage, "feed \(peer.feed.key): range \(range.start)+\(range.length) overflows")
            }
            if range.drop {
                peer.remoteHas.remove(range.start..<end)
            } else {
                peer.remoteHas.insert(range.start..<end)
                try checkAnnouncements(of: peer)
            }
        }
    }

    private func announce(_ bitfield: BitfieldMessage, by peer: Peer) throws {
        guard bitfield.start & 31 == 0 else {
            throw ReplicationError(.malformedMessage, "feed \(peer.feed.key): bitfield start \(bitfield.start) is not a multiple of 32")
        }
        let (_, overflow) = bitfield.start.addingReportingOverflow(UInt64(bitfield.words.count) * 32)
        guard !overflow else {
            throw ReplicationError(.malformedMessage, "feed \(peer.feed.key): bitfield at \(bitfield.start) overflows")
        }
        var runStart: UInt64?
        var index = bitfield.start
        for word in bitfield.words {
            if word == .max, runStart != nil { index += 32; continue }
            for bit in 0..<32 {
                let set = word & (1 << UInt32(bit)) != 0
                if set, runStart == nil { runStart = index }
                if !set, let start = runStart {
                    peer.remoteHas.insert(start..<index)
                    runStart = nil
                }
                index += 1
            }
            try checkAnnouncements(of: peer)
        }
        if let start = runStart { peer.remoteHas.insert(start..<index) }
        try checkAnnouncements(of: peer)
    }

    private func checkAnnouncements(of peer: Peer) throws {
        guard peer.remoteHas.count <= options.maxAnnouncedRanges else {
            throw ReplicationError(.protocolViolation,
                                   "the peer announced more than \(options.maxAnnouncedRanges) separate ranges of feed \(peer.feed.key)")
        }
    }

    // MARK: Timeouts

    func expireRequests(dirty: inout Set<ObjectIdentifier>) {
        let now = ContinuousClock.now
        for peer in peers where !peer.inflight.isEmpty {
            for (id, request) in peer.inflight where request.deadline <= now {
                _ = peer.removeInflight(id)
                if peer.expired.count >= Peer.maxExpired, let oldest = peer.expired.keys.min() {
                    peer.expired.removeValue(forKey: oldest)
                }
                peer.expired[id] = request
                if let block = request.block {
                    peer.feed.claims.release([block], abandoned: true)
                    peer.remoteHas.remove(block..<(block + 1))  // ask another peer
                }
                if request.upgrade { peer.upgradeInflight = false }
                logger.debug("request timed out", metadata: ["feed": "\(peer.feed.key)", "block": "\(request.block.map(String.init) ?? "upgrade")"])
                dirty.insert(ObjectIdentifier(peer))
            }
        }
    }
}

extension ProtomuxEvent {
    /// The local channel the event is about (`nil` for a remote open nobody answered yet).
    var localChannel: Protomux.Channel? {
        switch self {
        case .remoteOpened: nil
        case .opened(let channel, _), .message(let channel, _, _), .closed(let channel), .rejected(let channel): channel
        }
    }
}
