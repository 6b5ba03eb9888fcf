import Hypercore
import Logging

extension ReplicationSession {
    /// One pass for one feed after a batch of events: store verified answers, answer requests and wants, tell
    /// the peer our state, request what we lack, and close the channel when both sides are in sync.
    func update(_ peer: Peer) async throws {
        if !peer.proofs.isEmpty { try await storeProofs(of: peer) }
        let (status, canUpgrade, held) = await peer.feed.peerStatus(remoteLength: peer.remoteLength, remoteFork: peer.remoteFork)
        peer.lastStatus = status
        peer.held = held
        guard peer.paired, let channel = peer.channel, !peer.closed else { return }
        logger.trace("update", metadata: [
            "feed": "\(peer.feed.key)", "length": "\(status.length)", "contiguous": "\(status.contiguousLength)",
            "remoteLength": "\(peer.remoteLength)", "acked": "\(peer.lengthAcked)", "inflight": "\(peer.inflight.count)",
        ])
        if !peer.requests.isEmpty { try await serve(peer, on: channel) }
        if !peer.wants.isEmpty { await answerWants(of: peer, on: channel, status: status) }
        announce(peer, on: channel, status: status, canUpgrade: canUpgrade)
        if peer.synced { try await request(from: peer, on: channel, status: status) }
        if !options.live, peer.synced, isLocallyComplete(peer), isRemotelyComplete(peer, status: status) {
            if let frame = mux.close(channel) { pendingFrames.append(frame) }
            peer.closed = true
            peer.releaseAll()
            logger.debug("feed in sync with the peer; channel closed", metadata: ["feed": "\(peer.feed.key)"])
        }
    }

    // MARK: Storing

    private func storeProofs(of peer: Peer) async throws {
        let received = peer.proofs
        let ids = peer.proofRequestIds
        peer.proofs.removeAll()
        peer.proofRequestIds.removeAll()
        var blocks: [UInt64] = []
        // Only the first answer to each request is verified and stored; another answer to the same request in
        // this batch was not asked for. A late answer to a request that timed out is accepted once (its claim
        // was given back when it timed out, so it is not released again).
        var batch: [Proof] = []
        var anchoredLater: [UInt64?] = []
        var claimed: [Bool] = []
        batch.reserveCapacity(received.count)
        anchoredLater.reserveCapacity(received.count)
        claimed.reserveCapacity(received.count)
        for (id, proof) in zip(ids, received) {
            let request: Peer.Inflight
            if let current = peer.removeInflight(id) {
                request = current
                if let block = request.block { blocks.append(block) }
                claimed.append(true)
            } else if let late = peer.expired.removeValue(forKey: id) {
                request = late
                claimed.append(false)
            } else {
                continue
            }
            batch.append(proof)
            anchoredLater.append(request.anchoredLater)
            if request.upgrade { peer.upgradeInflight = false }
            // An answer that carries another block than the one asked for (or none) is not stored.
            if proof.block?.index != request.block {
                peer.feed.claims.release(blocks, abandoned: true)
                let answer = proof.block.map { "block \($0.index)" } ?? "no block"
                throw ReplicationError(.protocolViolation,
                                       "feed \(peer.feed.key): the peer answered request \(id) with \(answer)")
            }
        }
        // Ask for the next blocks before verifying these, so that the peer serves them while this side stores:
        // the window counts the answers in hand as done. Not with an upgrade, which changes what to ask for.
        if !blocks.isEmpty, !batch.contains(where: { $0.upgrade != nil }) {
            do {
                try await requestAhead(from: peer)
            } catch {
                peer.feed.claims.release(blocks, abandoned: true)  // their answers will not be stored
                throw error
            }
        }
        let outcomes: [Feed.ReceiveOutcome]
        do {
            outcomes = try await peer.feed.receiveBatch(batch, anchoredLater: anchoredLater)
        } catch let error as HypercoreError {
            peer.feed.claims.release(blocks, abandoned: true)
            throw ReplicationError(.invalidProof, "feed \(peer.feed.key): data from the peer does not verify: \(error.message)",
                                   cause: error)
        } catch {
            peer.feed.claims.release(blocks, abandoned: true)
            throw error
        }
        var unanchored: [UInt64] = []
        for (i, outcome) in outcomes.enumerated() {
            switch outcome {
            case .stored:
                if let block = batch[i].block {
                    peer.blocksReceived += 1
                    peer.bytesReceived += block.value.count
                }
            case .notNew:
                break
            case .unanchored:
                // The proof it builds on did not come (noData, a timeout, another order): ask again.
                if claimed[i], let block = batch[i].block?.index { unanchored.append(block) }
            }
        }
        if unanchored.isEmpty {
            peer.feed.claims.release(blocks)
        } else {
            let retry = Set(unanchored)
            peer.feed.claims.release(blocks.filter { !retry.contains($0) })
            peer.feed.claims.release(unanchored, abandoned: true)
            logger.debug("proofs arrived before the proofs anchoring them; asking again",
                         metadata: ["feed": "\(peer.feed.key)", "blocks": "\(unanchored.count)"])
        }
    }

    /// Requests what the window has room for and sends it at once, in the middle of a pass.
    private func requestAhead(from peer: Peer) async throws {
        guard peer.synced, peer.paired, let channel = peer.channel, !peer.closed else { return }
        try await request(from: peer, on: channel, status: peer.lastStatus)
        try await flush()
        mux.cork()
    }

    // MARK: Serving

    /// Block bytes answered before the answers so far are sent (mid-pass), so that a window of large blocks
    /// neither waits for the whole window nor sits in memory at once.
    static let servedBytesPerWrite = 4 << 20

    private func serve(_ peer: Peer, on channel: Protomux.Channel) async throws {
        var requests = peer.requests
        if !peer.cancels.isEmpty {
            let cancels = peer.cancels
            requests = requests.enumerated().compactMap { i, request in
                cancels[request.id].map { i < $0 } == true ? nil : request
            }
        }
        peer.requests.removeAll()
        peer.cancels.removeAll()
        // Proofs are built a slice at a time, sized from the blocks seen so far to about one write's worth.
        var start = 0
        var sliceLength = 64
        var pendingBytes = 0
        while start < requests.count {
            let slice = requests[start..<Swift.min(start + sliceLength, requests.count)]
            start = slice.endIndex
            let proofs = await peer.feed.proofs(for: slice.map(\.proofRequest))
            var sliceBytes = 0
            for (request, result) in zip(slice, proofs) {
                // Seeks and manifests are not served here (compat cores, spec D.4); such requests get noData.
                if request.seek == nil, case .success(let proof) = result {
                    if let frame = mux.send(.data(DataMessage(requestId: request.id, proof)), on: channel) {
                        pendingFrames.append(frame)
                    }
                    if let block = proof.block {
                        peer.blocksSent += 1
                        peer.bytesSent += block.value.count
                        sliceBytes += block.value.count
                    }
                } else {
                    let frame = mux.send(.noData(NoDataMessage(requestId: request.id, reason: .notAvailable)), on: channel)
                    if let frame { pendingFrames.append(frame) }
                }
            }
            pendingBytes += sliceBytes
            sliceLength = Swift.max(1, Swift.min(512, Self.servedBytesPerWrite / Swift.max(1, sliceBytes / slice.count)))
            if pendingBytes >= Self.servedBytesPerWrite, start < requests.count {
                try await flush()
                mux.cork()
                pendingBytes = 0
            }
        }
    }

    /// Bitfield words answered to wants in one pass (4 MiB); the rest wait for the next pass, after this one's
    /// answers are written, so a flood of small wants cannot make the session build huge answers at once.
    static let wantAnswerWordsPerPass = 1 << 20

    private func answerWants(of peer: Peer, on channel: Protomux.Channel, status: Feed.ReplicationStatus) async {
        var budget = Self.wantAnswerWordsPerPass
        var answered = Set<WantMessage>()
        var taken = 0
        defer {
            peer.wants.removeFirst(taken)
            if !peer.wants.isEmpty { inbox.push(.feedChanged(peer.id)) }  // the rest in the next pass
        }
        for want in peer.wants {
            guard budget > 0 else { break }
            taken += 1
            // The same want twice in one pass gets one answer.
            guard answered.insert(want).inserted else { continue }
            // As hypercore 10.38 does: a contiguous core, or a range below the contiguous length, is answered
            // with one range; otherwise with the bitfield of the wanted blocks we hold.
            let end = want.start.addingReportingOverflow(want.length)
            if status.contiguousLength == status.length || (!end.overflow && end.partialValue <= status.contiguousLength) {
                if status.contiguousLength > 0 {
                    send(.range(RangeMessage(start: 0, length: status.contiguousLength)), on: channel)
                }
                continue
            }
            let start = want.start & ~31
            guard start < status.length else { continue }
            let last = end.overflow ? status.length : Swift.min(end.partialValue, status.length)
            let words = Int(Swift.min((last - start + 31) / 32, 1 << 16))
            let bits = await peer.feed.bitfieldWords(from: start, count: words)
            send(.bitfield(BitfieldMessage(start: start, words: bits)), on: channel)
            budget -= words
        }
    }

    // MARK: Announcing

    private func announce(_ peer: Peer, on channel: Protomux.Channel, status: Feed.ReplicationStatus, canUpgrade: Bool) {
        var flags: SyncMessage.Flags = [.uploading]
        if canUpgrade { flags.insert(.canUpgrade) }
        if peer.mode == .full || !peer.feed.wants.ranges.isEmpty { flags.insert(.downloading) }
        let remoteLength = peer.synced && peer.remoteFork == status.fork ? peer.remoteLength : 0
        let sync = SyncMessage(flags: flags, fork: status.fork, length: status.length, remoteLength: remoteLength)
        if peer.needSync || sync != peer.lastSync {
            send(.sync(sync), on: channel)
            peer.lastSync = sync
            peer.needSync = false
        }
        // What we hold and have not told the peer yet (as JavaScript peers announce each block they get).
        let runs = peer.held ?? (status.contiguousLength > 0 ? [0..<status.contiguousLength] : [])
        for run in runs where !peer.announced.contains(run) {
            for gap in peer.announced.gaps(in: run) {
                send(.range(RangeMessage(start: gap.lowerBound, length: gap.upperBound - gap.lowerBound)), on: channel)
                peer.announced.insert(gap)
            }
        }
    }

    func send(_ message: HypercoreMessage, on channel: Protomux.Channel) {
        if let frame = mux.send(message, on: channel) { pendingFrames.append(frame) }
    }

    // MARK: Requesting

    private func nextId() -> UInt64 {
        defer { nextRequestId += 1 }
        return nextRequestId
    }

    private func request(from peer: Peer, on channel: Protomux.Channel, status: Feed.ReplicationStatus) async throws {
        let deadline = ContinuousClock.now + options.requestTimeout
        // A new signed length first (spec D.5: only when the peer offers it and has seen our length).
        if peer.remoteCanUpgrade, peer.remoteLength > status.length, peer.lengthAcked == status.length,
           peer.remoteFork == status.fork, !peer.upgradeInflight {
            let id = nextId()
            let upgrade = ProofRequest.Upgrade(start: status.length, length: peer.remoteLength - status.length)
            send(.request(RequestMessage(id: id, ProofRequest(fork: peer.remoteFork, upgrade: upgrade))), on: channel)
            peer.addInflight(id, Peer.Inflight(block: nil, upgrade: true, deadline: deadline))
            peer.upgradeInflight = true
        }
        // Then blocks below our length that the peer announced, within the pipeline window.
        let wanted: [Range<UInt64>]
        switch peer.mode {
        case .full: wanted = [0..<status.length]
        case .sparse: wanted = peer.feed.wants.ranges.map { $0.clamped(to: 0..<status.length) }.filter { !$0.isEmpty }
        }
        var available: [Range<UInt64>] = []
        for range in wanted { available += peer.remoteHas.intersection(range) }
        let capacity = options.maxInflightRequests - totalInflight
        var found = 0
        var claimedElsewhere = false
        if capacity > 0, !available.isEmpty {
            let claimed = await peer.feed.claimMissingBlocks(in: available, limit: capacity)
            found = claimed.blocks.count
            claimedElsewhere = claimed.claimedElsewhere
            for block in claimed.blocks {
                let id = nextId()
                let request = ProofRequest(fork: peer.remoteFork, block: .init(index: block.index, nodes: block.nodes))
                send(.request(RequestMessage(id: id, request)), on: channel)
                peer.addInflight(id, Peer.Inflight(block: block.index, upgrade: false, deadline: deadline,
                                                   anchoredLater: block.anchoredByEarlierClaim ? block.nodes : nil))
            }
        }
        // Blocks another session has asked for are not ours to request, but the feed is not complete until
        // they arrive (or that request is abandoned and this session asks).
        peer.nothingToRequest = found == 0 && !claimedElsewhere && (capacity > 0 || available.isEmpty)
        peer.waitsForCapacity = capacity <= 0 && !available.isEmpty
        // Ask what the peer has where it announced nothing (spec D.5: whole 2,097,152-block segments).
        let segment: UInt64 = 1 << 21
        for range in wanted {
            let end = Swift.min(range.upperBound, peer.remoteLength)
            var start = range.lowerBound
            while start < end {
                let index = start / segment
                let segmentRange = (index * segment)..<Swift.min((index + 1) * segment, end)
                if !peer.remoteHas.contains(segmentRange.clamped(to: start..<end)), peer.wantedSegments.insert(index).inserted {
                    send(.want(WantMessage(start: index * segment, length: segment)), on: channel)
                    peer.awaitingWantAnswer = true
                }
                start = (index + 1) * segment
            }
        }
    }

    // MARK: Completion

    /// True when we hold everything the peer offered for `peer`'s feed (as far as this session knows).
    func isLocallyComplete(_ peer: Peer) -> Bool {
        guard peer.synced || peer.closed else { return false }
        if !peer.inflight.isEmpty || !peer.proofs.isEmpty || (peer.awaitingWantAnswer && !peer.closed) { return false }
        let status = peer.lastStatus
        let upgradeOffered = peer.remoteCanUpgrade && peer.remoteLength > status.length && peer.remoteFork == status.fork
        if upgradeOffered && !peer.closed { return false }
        return peer.nothingToRequest || peer.closed
    }

    /// True when the peer holds everything we offer (it said so with `range`s), or does not download blocks but
    /// knows our length (a sparse peer upgrades to it before fetching on demand; closing earlier would leave it
    /// without the length).
    private func isRemotelyComplete(_ peer: Peer, status: Feed.ReplicationStatus) -> Bool {
        if !peer.remoteDownloading { return peer.remoteLength >= status.length || peer.remoteFork != status.fork }
        guard peer.remoteLength >= status.length, let held = peer.held else { return false }
        return held.allSatisfy { peer.remoteHas.contains($0) }
    }
}

