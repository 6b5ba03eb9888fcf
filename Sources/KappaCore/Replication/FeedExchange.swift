import CSodium
import Hypercore
import HypercoreProtocol

/// The `kappa/feeds` channel: how two databases that share a key learn each other's feeds on one replication
/// connection, beside the feeds' own `hypercore/alpha` channels. Written down here so that another
/// implementation can speak it (DESIGN.md, "Replication (next layer) — the feed-list exchange").
///
/// **Channel.** A protomux channel with protocol `kappa/feeds` and id `B2b256(msg = "kappa/feeds"; key = sharedKey)`
/// (32 bytes). Peers with different shared keys open channels with different ids, so neither pairs: each side's
/// open is rejected and no message of the exchange is ever sent.
///
/// **Open handshake.** `uint version` (1) ‖ `fixed32 capability`, where
/// `capability = B2b256(msg = NS(initiator|responder) ‖ sharedKey; key = handshakeHash)`,
/// `NS = namespace("kappa/feeds", [0, 1])` (0 for the Noise initiator, 1 for the responder; `namespace` as in
/// hypercore's `caps.js`: `B2b256(B2b256(name) ‖ byte(id))`), built like hypercore's replication capability
/// (spec A.5). A receiver checks the capability of the *other* role; a mismatch ends the session
/// (`ReplicationError.invalidCapability`) before anything is sent. A later version may append fields; a
/// receiver ignores bytes it does not know.
///
/// **Messages** (compact encoding; unknown types are ignored):
/// - type 0, `have`: `uint n`, then `n` × (`fixed32 key`, `uint length`): feeds the sender offers and the
///   contiguous length it holds of each. Each side sends its whole offer (at least one `have`, empty for a
///   database without feeds) right after the channel pairs, split into messages of at most the receiver's
///   per-message limit. Every `key` must be a valid Ed25519 point.
///   In a live session a side sends another `have` whenever its database gains feeds (a new writer, a feed
///   learned from a third peer), listing only feeds not offered before on this connection and not offered by
///   the peer.
/// - type 1, `want`: `uint n`, then `n` × `fixed32 key`: feeds the sender lacks and asks for, only among those
///   offered to it. Before sending a `want` for a key, and for every offered key it already holds, the
///   receiver of a `have` opens the feed's `hypercore/alpha` channel on the same connection (full
///   replication); the offering side opens its channel when it receives the `want` (or the other's `have`).
/// - type 2, `done`: `uint haves`: the sender holds every offered feed up to its offered length, for the first
///   `haves` `have` messages it received. (Counting them keeps a `done` sent between two `have`s of one offer
///   from ending the exchange early.)
///
/// **Ending.** Without live mode a side closes the channel once it has sent a `done` covering every `have` it
/// received and received a `done` covering every `have` it sent; the session ends when that channel and all
/// feed channels are closed. A peer closing the channel before that ends the session with
/// `ReplicationError.connectionClosed`.
///
/// **Bounds.** A `have` or `want` of more than ``KappaOptions/maxFeedsPerMessage`` keys, more distinct
/// offered keys than ``KappaOptions/maxFeedsFromPeer``, an invalid key, a `want` for a key not offered or a `done`
/// counting more `have`s than were sent end the session with an error; nothing of the offending message is added.
actor FeedExchange: SessionChannelHandler {
    /// What the exchange needs from its database.
    struct Database: Sendable {
        /// The feeds to offer.
        var feeds: @Sendable () async throws -> [Feed]
        /// The local feed with this key, if the database has it.
        var feed: @Sendable (PublicKey) async -> Feed?
        /// Adds a remote feed read-only.
        var addRemote: @Sendable (PublicKey) async throws -> Feed
        /// Bumped when the database gains a feed (a new writer, a feed learned from any peer).
        var membership: ChangeSignal
    }

    enum MessageType: UInt64 {
        case have = 0, want = 1, done = 2
    }

    static let name = "kappa/feeds"
    static let version: UInt64 = 1
    private static let namespace = Hashing.namespace("kappa/feeds", count: 2)

    nonisolated var protocolName: String { Self.name }
    nonisolated let channelID: [UInt8]
    private let sharedKey: Bytes32
    private let live: Bool
    private let mode: ReplicationMode
    private let maxFeedsPerMessage: Int
    private let maxFeedsFromPeer: Int
    private let database: Database

    /// The feeds we offered, by key.
    private var offered: [PublicKey: Feed] = [:]
    private var havesSent = 0
    /// The lengths the peer offered, by key.
    private var remoteOffers: [PublicKey: UInt64] = [:]
    /// Feeds replicated in the session because the peer offered them.
    private var replicating: [PublicKey: Feed] = [:]
    private var havesReceived = 0
    /// The `haves` count of the last `done` sent and received.
    private var doneSent: Int?
    private var doneReceived: Int?
    private var closed = false
    /// Feeds learned from the peer (added to the database).
    private(set) var learned: [PublicKey] = []
    /// The database's ``Database/membership`` version when its feeds were last offered.
    private var offeredMembership: UInt64 = 0
    /// The observer that wakes the session when the database gains a feed (live sessions).
    private var membershipObserver: Int?
    /// Told about each feed learned from the peer.
    private var onLearned: (@Sendable (PublicKey) -> Void)?

    init(
        sharedKey: Bytes32, live: Bool, mode: ReplicationMode = .full, maxFeedsPerMessage: Int, maxFeedsFromPeer: Int,
        database: Database
    ) {
        self.sharedKey = sharedKey
        self.channelID = Self.channelID(sharedKey: sharedKey)
        self.live = live
        self.mode = mode
        self.maxFeedsPerMessage = max(1, maxFeedsPerMessage)
        self.maxFeedsFromPeer = max(0, maxFeedsFromPeer)
        self.database = database
    }

    /// Calls `body` for each feed learned from the peer from now on.
    func setOnLearned(_ body: @escaping @Sendable (PublicKey) -> Void) {
        onLearned = body
    }

    /// Stops watching the database (when the session has ended).
    func finish() {
        if let membershipObserver { database.membership.removeObserver(membershipObserver) }
        membershipObserver = nil
        closed = true
    }

    /// `B2b256(msg = "kappa/feeds"; key = sharedKey)`.
    static func channelID(sharedKey: Bytes32) -> [UInt8] {
        Hashing.blake2b256(Array(name.utf8), key: sharedKey.bytes).bytes
    }

    /// `B2b256(msg = NS(initiator|responder) ‖ sharedKey; key = handshakeHash)`.
    static func capability(isInitiator: Bool, sharedKey: Bytes32, handshakeHash: [UInt8]) -> Bytes32 {
        var message = namespace[isInitiator ? 0 : 1].bytes
        message.append(contentsOf: sharedKey.bytes)
        return Hashing.blake2b256(message, key: handshakeHash)
    }

    // MARK: SessionChannelHandler

    func openHandshake(_ connection: SessionConnection) -> [UInt8] {
        var e = CompactEncoder(capacity: 34)
        e.uint(Self.version)
        e.fixed32(Self.capability(isInitiator: connection.isInitiator, sharedKey: sharedKey,
                                  handshakeHash: connection.handshakeHash))
        return e.bytes
    }

    func opened(remoteHandshake: [UInt8], _ connection: SessionConnection) async throws -> [SessionChannelAction] {
        let capability: Bytes32
        do {
            capability = try CompactDecoder.decode(remoteHandshake) { (d: inout CompactDecoder) throws(HypercoreError) -> Bytes32 in
                guard try d.uint() >= 1 else { throw HypercoreError(.malformed, "version 0") }
                return try d.fixed32()
            }
        } catch {
            throw ReplicationError(.malformedMessage, "the peer's kappa/feeds handshake does not decode", cause: error)
        }
        let expected = Self.capability(isInitiator: !connection.isInitiator, sharedKey: sharedKey,
                                       handshakeHash: connection.handshakeHash)
        guard capability == expected else {
            throw ReplicationError(.invalidCapability, "the peer cannot prove it knows the database's shared key")
        }
        // Proven: offer every local feed, and in a live session every feed the database gains later.
        if live, membershipObserver == nil, !closed {
            let wake = connection.wake
            membershipObserver = database.membership.observe { wake() }
        }
        return try await offerNewFeeds(always: true)
    }

    /// Offers the database's feeds not offered yet (and not offered by the peer, which has them) in `have`
    /// messages; with `always`, sends one (empty) `have` even when there is nothing to offer.
    private func offerNewFeeds(always: Bool) async throws -> [SessionChannelAction] {
        offeredMembership = database.membership.version
        var offers: [(Feed, UInt64)] = []
        for feed in try await database.feeds() where offered[feed.key] == nil && remoteOffers[feed.key] == nil {
            offered[feed.key] = feed
            offers.append((feed, await feed.contiguousLength))
        }
        guard always || !offers.isEmpty else { return [] }
        var actions: [SessionChannelAction] = []
        var start = 0
        repeat {
            let chunk = offers[start..<min(offers.count, start + maxFeedsPerMessage)]
            var e = CompactEncoder(capacity: 1 + chunk.count * 42)
            e.uint(chunk.count)
            for (feed, length) in chunk {
                e.fixed32(feed.key)
                e.uint(length)
            }
            actions.append(.send(type: MessageType.have.rawValue, payload: e.bytes))
            havesSent += 1
            start += chunk.count
        } while start < offers.count
        return actions
    }

    func received(type: UInt64, payload: [UInt8]) async throws -> [SessionChannelAction] {
        switch MessageType(rawValue: type) {
        case .have: return try await receiveHave(payload)
        case .want: return try receiveWant(payload)
        case .done:
            let haves = try decode(payload, "done") { (d: inout CompactDecoder) throws(HypercoreError) -> UInt64 in try d.uint() }
            guard haves <= UInt64(havesSent) else {
                throw ReplicationError(.protocolViolation, "the peer's done counts \(haves) have messages; \(havesSent) were sent")
            }
            doneReceived = Int(haves)
            return []
        case nil:
            return []
        }
    }

    func pass() async throws -> [SessionChannelAction] {
        guard !closed, havesReceived > 0 else { return [] }
        var actions: [SessionChannelAction] = []
        if live, database.membership.version != offeredMembership {
            actions += try await offerNewFeeds(always: false)
        }
        if doneSent != havesReceived, try await holdsEverythingOffered() {
            var e = CompactEncoder(capacity: 4)
            e.uint(havesReceived)
            actions.append(.send(type: MessageType.done.rawValue, payload: e.bytes))
            doneSent = havesReceived
        }
        if !live, doneSent == havesReceived, doneReceived == havesSent {
            closed = true
            actions.append(.close)
        }
        return actions
    }

    func closed(rejected: Bool) throws {
        if rejected {
            throw ReplicationError(.channelRejected,
                                   "the peer does not replicate this database (it does not know the shared key)")
        }
        let complete = doneSent == havesReceived && doneReceived == havesSent && havesReceived > 0
        closed = true
        if !live, !complete {
            throw ReplicationError(.connectionClosed, "the peer ended the feed exchange before both sides were done")
        }
    }

    // MARK: Messages

    private func receiveHave(_ payload: [UInt8]) async throws -> [SessionChannelAction] {
        try checkCount(payload, "have")
        let offers = try decode(payload, "have") { (d: inout CompactDecoder) throws(HypercoreError) -> [(PublicKey, UInt64)] in
            let n = try d.count()
            var out: [(PublicKey, UInt64)] = []
            out.reserveCapacity(n)
            for _ in 0..<n { out.append((try d.fixed32(), try d.uint())) }
            return out
        }
        var fresh = Set<PublicKey>()
        for (key, _) in offers {
            guard Self.isValidKey(key) else {
                throw ReplicationError(.malformedMessage, "the peer offered an invalid feed key \(key)")
            }
            if remoteOffers[key] == nil { fresh.insert(key) }
        }
        guard remoteOffers.count + fresh.count <= maxFeedsFromPeer else {
            throw KappaError(.tooManyFeeds,
                             "the peer offered more than \(maxFeedsFromPeer) feeds (KappaOptions.maxFeedsFromPeer)")
        }
        havesReceived += 1
        var wants: [PublicKey] = []
        var adds: [SessionChannelAction] = []
        for (key, length) in offers {
            remoteOffers[key] = max(length, remoteOffers[key] ?? 0)
            guard replicating[key] == nil else { continue }
            let feed: Feed
            if let local = await database.feed(key) {
                feed = local
            } else {
                do {
                    feed = try await database.addRemote(key)
                } catch let error as KappaError where error.code == .feedUnavailable {
                    continue  // known here but damaged: not asked for (reported on `Kappa.errors` when it opened)
                }
                wants.append(key)
                learned.append(key)
            }
            replicating[key] = feed
            adds.append(.add(feed, mode))
        }
        guard !wants.isEmpty else { return adds }
        if let onLearned { for key in wants { onLearned(key) } }
        var e = CompactEncoder(capacity: 1 + wants.count * 32)
        e.uint(wants.count)
        for key in wants { e.fixed32(key) }
        // The want goes first, so the peer knows the feed before our channel for it opens.
        return [.send(type: MessageType.want.rawValue, payload: e.bytes)] + adds
    }

    private func receiveWant(_ payload: [UInt8]) throws -> [SessionChannelAction] {
        try checkCount(payload, "want")
        let keys = try decode(payload, "want") { (d: inout CompactDecoder) throws(HypercoreError) -> [PublicKey] in
            let n = try d.count()
            var out: [PublicKey] = []
            out.reserveCapacity(n)
            for _ in 0..<n { out.append(try d.fixed32()) }
            return out
        }
        var actions: [SessionChannelAction] = []
        for key in keys {
            guard let feed = offered[key] else {
                throw ReplicationError(.protocolViolation, "the peer asked for feed \(key), which was not offered to it")
            }
            actions.append(.add(feed, mode))
        }
        return actions
    }

    /// True when every feed the peer offered is held up to the offered length (in a sparse session: known up to
    /// it, its blocks are fetched on demand).
    private func holdsEverythingOffered() async throws -> Bool {
        for (key, length) in remoteOffers {
            guard let feed = replicating[key] else { continue }
            let held = mode == .sparse ? await feed.length : await feed.contiguousLength
            if held < length { return false }
        }
        return true
    }

    /// Refuses a `have` or `want` listing more keys than ``KappaOptions/maxFeedsPerMessage`` before decoding it.
    private func checkCount(_ payload: [UInt8], _ name: String) throws {
        let count = try decode(payload, name) { (d: inout CompactDecoder) throws(HypercoreError) -> UInt64 in try d.uint() }
        guard count <= UInt64(maxFeedsPerMessage) else {
            throw KappaError(.tooManyFeeds, "the peer's \(name) lists \(count) feeds, more than \(maxFeedsPerMessage) (KappaOptions.maxFeedsPerMessage)")
        }
    }

    private func decode<R>(
        _ payload: [UInt8], _ name: String, _ body: (inout CompactDecoder) throws(HypercoreError) -> R
    ) throws -> R {
        do {
            return try CompactDecoder.decode(payload, body)
        } catch {
            throw ReplicationError(.malformedMessage, "a kappa/feeds \(name) message does not decode", cause: error)
        }
    }

    /// True for a valid Ed25519 public key (on the curve, in the main subgroup, not of small order).
    static func isValidKey(_ key: PublicKey) -> Bool {
        key.withUnsafeBytes { bytes in
            guard let base = bytes.baseAddress, bytes.count == 32 else { return false }
            return crypto_core_ed25519_is_valid_point(base.assumingMemoryBound(to: UInt8.self)) == 1
        }
    }
}
