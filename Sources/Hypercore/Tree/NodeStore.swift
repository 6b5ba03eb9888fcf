/// The hypercore-10 `tree` file (spec C.2.2) behind a page cache: node `i` at byte `40·i` as
/// `u64le(size) ‖ hash(32)`; 40 zero bytes mean "missing".
///
/// Pages load on first use and stay until evicted when clean; dirty pages are written on ``flush(to:)``.
struct NodeStore {
    static let nodeBytes = 40
    static let nodesPerPage = 256
    static let pageBytes = nodeBytes * nodesPerPage

    private final class Page {
        var bytes: [UInt8]
        var dirty = false
        /// One past the highest node slot written in this page (for trimming writes).
        var used: Int
        init(bytes: [UInt8], used: Int) {
            self.bytes = bytes
            self.used = used
        }
    }

    private let file: any RandomAccessStorage
    /// Shared with other feeds: clean pages are dropped when all of them together pass its limit.
    private let budget: CacheBudget?
    private var pages: [Page?] = []
    private var dirty = Set<Int>()
    private var loadedCount = 0
    /// Clean pages beyond this many are dropped (about 40 MiB).
    var maxCleanPages = 4096

    init(file: any RandomAccessStorage, budget: CacheBudget? = nil) {
        self.file = file
        self.budget = budget
    }

    private mutating func page(_ p: Int, create: Bool) throws -> Page? {
        if p < pages.count, let page = pages[p] { return page }
        let offset = UInt64(p * Self.pageBytes)
        var bytes = try file.read(count: Self.pageBytes, at: offset)
        let used = bytes.count / Self.nodeBytes
        if bytes.count < Self.pageBytes {
            if bytes.isEmpty && !create { return nil }
            bytes.append(contentsOf: repeatElement(0, count: Self.pageBytes - bytes.count))
        }
        if p >= pages.count { pages.append(contentsOf: repeatElement(nil, count: p + 1 - pages.count)) }
        if loadedCount >= maxCleanPages + dirty.count || budget?.isOver == true { evictClean() }
        let page = Page(bytes: bytes, used: used)
        pages[p] = page
        loadedCount += 1
        budget?.add(Self.pageBytes)
        return page
    }

    private mutating func evictClean() {
        var dropped = 0
        for i in pages.indices where pages[i] != nil && !dirty.contains(i) {
            pages[i] = nil
            loadedCount -= 1
            dropped += 1
        }
        budget?.add(-dropped * Self.pageBytes)
    }

    /// True when this store holds pages not yet written and such pages of all stores sharing the budget take half
    /// of it (clean pages, which any store drops when it loads past the budget, do not count here).
    var isOverBudgetWithDirtyPages: Bool {
        !dirty.isEmpty && budget?.dirtyIsOver == true
    }

    /// Drops this store's clean pages when the shared budget is exceeded.
    mutating func dropCleanPagesIfOverBudget() {
        if budget?.isOver == true { evictClean() }
    }

    /// Drops every page (the feed is closing; dirty pages were flushed) and gives their bytes back to the budget.
    mutating func releaseAll() {
        budget?.add(-loadedCount * Self.pageBytes)
        budget?.addDirty(-dirty.count * Self.pageBytes)
        pages.removeAll()
        dirty.removeAll()
        loadedCount = 0
    }

    /// The node at `index`, or `nil` when it is not stored.
    mutating func get(_ index: UInt64) throws -> TreeNode? {
        let p = Int(index / UInt64(Self.nodesPerPage))
        guard let page = try page(p, create: false) else { return nil }
        let slot = Int(index % UInt64(Self.nodesPerPage)) * Self.nodeBytes
        return page.bytes.withUnsafeBytes { Self.node(index, at: slot, in: $0) }
    }

    /// The node at `index`, or `nil` when it is not stored, without loading its page: from a loaded page, else
    /// read alone. Opening a feed reads only its roots; loading their pages cost about 30 KB per feed.
    mutating func peek(_ index: UInt64) throws -> TreeNode? {
        let p = Int(index / UInt64(Self.nodesPerPage))
        if p < pages.count, pages[p] != nil { return try get(index) }
        let bytes = try file.read(count: Self.nodeBytes, at: index * UInt64(Self.nodeBytes))
        guard bytes.count == Self.nodeBytes else { return nil }
        return bytes.withUnsafeBytes { Self.node(index, at: 0, in: $0) }
    }

    /// Node `index` from its 40 bytes at `slot` of `raw`; `nil` for zero bytes (missing).
    private static func node(_ index: UInt64, at slot: Int, in raw: UnsafeRawBufferPointer) -> TreeNode? {
        let size = UInt64(littleEndian: raw.loadUnaligned(fromByteOffset: slot, as: UInt64.self))
        let hash = Bytes32(unsafeBytes: raw.baseAddress! + slot + 8)
        if size == 0 && hash == .zero { return nil }
        return TreeNode(index: index, size: size, hash: hash)
    }

    /// Stores `node` (in the cache; written on flush).
    mutating func put(_ node: TreeNode) throws {
        let p = Int(node.index / UInt64(Self.nodesPerPage))
        guard let page = try page(p, create: true) else { return }
        let n = Int(node.index % UInt64(Self.nodesPerPage))
        page.bytes.withUnsafeMutableBytes { raw in
            raw.storeBytes(of: node.size.littleEndian, toByteOffset: n * Self.nodeBytes, as: UInt64.self)
            node.hash.withUnsafeBytes { h in
                (raw.baseAddress! + n * Self.nodeBytes + 8).copyMemory(from: h.baseAddress!, byteCount: 32)
            }
        }
        page.used = max(page.used, n + 1)
        if !page.dirty {
            page.dirty = true
            if dirty.insert(p).inserted { budget?.addDirty(Self.pageBytes) }
        }
    }

    /// Writes dirty pages (each trimmed to its last used slot).
    mutating func flush(to file: any RandomAccessStorage) throws {
        for p in dirty.sorted() {
            guard let page = pages[p] else { continue }
            try page.bytes.withUnsafeBytes { raw in
                try file.write(UnsafeRawBufferPointer(rebasing: raw[0..<(page.used * Self.nodeBytes)]),
                               at: UInt64(p * Self.pageBytes))
            }
            page.dirty = false
        }
        budget?.addDirty(-dirty.count * Self.pageBytes)
        dirty.removeAll()
    }
}
