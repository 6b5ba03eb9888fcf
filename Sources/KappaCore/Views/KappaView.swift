public import Hypercore

/// One entry delivered to a view: the feed it comes from, its sequence number there, and its decoded value.
public struct KappaEntry<Value: Sendable>: Sendable {
    /// The key of the feed holding the entry.
    public var feed: PublicKey
    /// The entry's sequence number in that feed.
    public var seq: UInt64
    /// The decoded value.
    public var value: Value
    /// The block the value was decoded from, when the core delivers the entry (empty for an entry made by hand):
    /// views that store entries keep these bytes instead of encoding the value again.
    package var block: [UInt8] = []

    /// Creates an entry.
    public init(feed: PublicKey, seq: UInt64, value: Value) {
        self.feed = feed
        self.seq = seq
        self.value = value
    }

    /// An entry the core delivers, with its block.
    @inline(__always)
    package init(feed: PublicKey, seq: UInt64, value: Value, block: [UInt8]) {
        self.feed = feed
        self.seq = seq
        self.value = value
        self.block = block
    }
}

/// A materialized view: derived state built from every entry of every feed.
///
/// The core calls ``map(_:_:)`` with batches of at most ``maxBatch`` entries. Within a feed entries arrive in
/// sequence order, each once; a batch may mix feeds. A view that keeps its data in the ``ViewTransaction`` it
/// is given gets **exactly-once** indexing: the batch's writes and the view's checkpoint commit together.
/// A view that keeps its data elsewhere provides ``stateStorage`` and gets at-least-once indexing.
///
/// ```swift
/// struct SumView: KappaView {
///     let store = ViewStore()
///     func map(_ entries: [KappaEntry<Int>], _ transaction: ViewTransaction) throws {
///         let sum: Int = try transaction.get("sum") ?? 0
///         try transaction.put("sum", sum + entries.reduce(0) { $0 + $1.value })
///     }
///     var value: Int { get throws { try store.get("sum") ?? 0 } }
/// }
/// ```
public protocol KappaView<Value>: Sendable {
    /// The value type of the database the view is used with.
    associatedtype Value: Sendable

    /// The largest batch passed to ``map(_:_:)``. Default 1,000.
    ///
    /// A batch holds what is available when it is read, up to this many entries and about 8 MiB of blocks (it stops
    /// after the block that reaches 8 MiB, so large blocks make small batches): while a view catches up it maps
    /// full batches (fewer commits: a commit and the view's own per-batch work are paid once per batch); once it
    /// follows live appends, each batch holds what arrived since the last one. Lower it for a view whose `map`
    /// holds a lot per entry in memory.
    var maxBatch: Int { get }

    /// The view's data in the core's store, for queries. The core attaches it in ``Kappa/use(_:version:_:)``.
    /// Default: a fresh, unattached store (for views that keep their data elsewhere).
    var store: ViewStore { get }

    /// Indexes a batch. Writes made through `transaction` commit atomically with the view's progress; if this
    /// throws, nothing of the batch is committed and the view stops (see `Kappa.resume(_:)`).
    nonisolated(nonsending) func map(_ entries: [KappaEntry<Value>], _ transaction: ViewTransaction) async throws

    /// Called after a batch was mapped and its progress committed. Default: nothing.
    nonisolated(nonsending) func indexed(_ entries: [KappaEntry<Value>]) async

    /// Progress storage for a view that keeps its data outside the core's store (at-least-once indexing).
    /// Default `nil`: progress lives in the core's store with the view's data (exactly-once).
    var stateStorage: (any ViewStateStorage)? { get }

    /// Creates the view's tables (`CREATE TABLE IF NOT EXISTS {view}_…`), in a transaction, each time the view is
    /// attached (after its tables were dropped, on a version bump). Default: nothing.
    func prepare(_ sql: ViewSQL) throws
}

extension KappaView {
    /// Batches of at most 1,000 entries.
    public var maxBatch: Int { 1_000 }
    /// A fresh, unattached store: for views that keep their data elsewhere.
    public var store: ViewStore { ViewStore() }
    /// Does nothing.
    public nonisolated(nonsending) func indexed(_ entries: [KappaEntry<Value>]) async {}
    /// `nil`: progress lives in the core's store, committed with the view's data (exactly-once).
    public var stateStorage: (any ViewStateStorage)? { nil }
    /// Does nothing.
    public func prepare(_ sql: ViewSQL) throws {}
}

/// Progress storage for views that keep their own data (the original kappa-core's fetch/store/clear state).
public protocol ViewStateStorage: Sendable {
    /// The stored progress, or `nil` when none was stored.
    func fetchState() async throws -> [UInt8]?
    /// Stores progress after a batch was mapped.
    func storeState(_ state: [UInt8]) async throws
    /// Wipes the view's data and progress (on a version change).
    func clearState() async throws
}
