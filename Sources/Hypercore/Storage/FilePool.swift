#if canImport(Glibc)
import Glibc
#elseif canImport(Musl)
import Musl
#elseif canImport(Darwin)
import Darwin
#endif
import Synchronization

/// Bounds how many files are open at once: files opened through one pool share at most `capacity`
/// descriptors, closing the least recently used idle one to open another.
///
/// A descriptor in use by a call is never closed under it; when every descriptor is in use, a call opens
/// one more for its duration (so the bound can be passed by the number of concurrent calls, never by the
/// number of files). Writes reach the file through any descriptor, and `fdatasync` on a reopened descriptor
/// flushes them, so closing an idle descriptor loses nothing.
public final class FilePool: Sendable {
    private struct Slot {
        var fd: Int32
        var pins: Int
        var lastUse: UInt64
    }

    private struct State {
        var slots: [String: Slot] = [:]
        var clock: UInt64 = 0
        /// The bound in force: ``FilePool/capacity``, lowered when the process runs out of descriptors.
        var limit: Int
        var lock: FileLock?
    }

    /// The most descriptors kept open, as asked for.
    public let capacity: Int
    private let state: Mutex<State>

    /// A pool of at most `capacity` (at least 4) open descriptors.
    /// - Parameters:
    ///   - capacity: the bound; `nil` for ``defaultCapacity()``.
    ///   - lock: the lock of the directory these files live in (a database's `LOCK`). The pool holds it as long
    ///     as it lives — that is, as long as any file opened through it — or until ``releaseLock()``, so nothing
    ///     can write the files without it.
    public init(capacity: Int? = nil, lock: FileLock? = nil) {
        let capacity = max(4, capacity ?? Self.defaultCapacity())
        self.capacity = capacity
        state = Mutex(State(limit: capacity, lock: lock))
    }

    deinit {
        state.withLock { s in
            for slot in s.slots.values { _ = FileLock.closeDescriptor(slot.fd) }
            s.slots.removeAll()
            s.lock?.release()
            s.lock = nil
        }
    }

    /// Half the process's soft limit on open files (`RLIMIT_NOFILE`), between 16 and 4,096: the other half is
    /// left to everything else the process opens (sockets, SQLite, other pools).
    public static func defaultCapacity() -> Int {
        guard let soft = System.openFileLimit() else { return 256 }
        return min(4096, max(16, soft / 2))
    }

    /// Releases the directory lock given at creation (when the owner closes); idempotent.
    public func releaseLock() {
        let lock = state.withLock { s -> FileLock? in
            defer { s.lock = nil }
            return s.lock
        }
        lock?.release()
    }

    /// How many descriptors are open now.
    public var openCount: Int { state.withLock { $0.slots.count } }

    func withDescriptor<R>(_ path: String, _ body: (DescriptorIO) throws -> R) throws -> R {
        let fd = try acquire(path)
        defer { release(path, fd) }
        return try body(DescriptorIO(fd: fd, path: path))
    }

    private func acquire(_ path: String) throws -> Int32 {
        let (existing, toClose): (Int32?, Int32?) = state.withLock { s in
            s.clock += 1
            if var slot = s.slots[path] {
                slot.pins += 1
                slot.lastUse = s.clock
                s.slots[path] = slot
                return (slot.fd, nil)
            }
            guard s.slots.count >= s.limit else { return (nil, nil) }
            return (nil, Self.evictIdle(&s))
        }
        if let toClose { _ = FileLock.closeDescriptor(toClose) }
        if let existing { return existing }
        let fd = try openDegrading(path)
        let (use, duplicate): (Int32, Int32?) = state.withLock { s in
            if var slot = s.slots[path] {
                // Another thread opened it meanwhile: use theirs.
                slot.pins += 1
                s.slots[path] = slot
                return (slot.fd, fd)
            }
            s.clock += 1
            s.slots[path] = Slot(fd: fd, pins: 1, lastUse: s.clock)
            return (fd, nil)
        }
        if let duplicate { _ = FileLock.closeDescriptor(duplicate) }
        return use
    }

    /// Evicts the least recently used idle descriptor; returns it to be closed outside the lock.
    private static func evictIdle(_ s: inout State) -> Int32? {
        var victim: (path: String, slot: Slot)?
        for (p, slot) in s.slots where slot.pins == 0 {
            if victim == nil || slot.lastUse < victim!.slot.lastUse { victim = (p, slot) }
        }
        guard let victim else { return nil }
        s.slots[victim.path] = nil
        return victim.slot.fd
    }

    /// Opens `path`; when the process is out of descriptors (`EMFILE`, `ENFILE`), closes idle ones of this pool,
    /// lowers the pool's bound to what fits, and tries again. Fails only when no idle descriptor is left.
    private func openDegrading(_ path: String) throws -> Int32 {
        while true {
            do {
                return try System.open(path, flags: O_RDWR | O_CREAT | O_CLOEXEC)
            } catch let error as StorageError where error.errno == EMFILE || error.errno == ENFILE {
                let victim = state.withLock { s -> Int32? in
                    s.limit = max(1, min(s.limit, s.slots.count - 1))
                    return Self.evictIdle(&s)
                }
                guard let victim else { throw error }
                _ = FileLock.closeDescriptor(victim)
            }
        }
    }

    private func release(_ path: String, _ fd: Int32) {
        let toClose: Int32? = state.withLock { s in
            guard var slot = s.slots[path], slot.fd == fd else { return nil }
            slot.pins -= 1
            s.slots[path] = slot
            // Over capacity (every slot was pinned when this one opened): give it back now.
            if slot.pins == 0 && s.slots.count > s.limit {
                s.slots[path] = nil
                return fd
            }
            return nil
        }
        if let toClose { _ = FileLock.closeDescriptor(toClose) }
    }

    /// Closes `path`'s descriptor if it is idle (a file being closed for good).
    func forget(_ path: String) {
        let toClose: Int32? = state.withLock { s in
            guard let slot = s.slots[path], slot.pins == 0 else { return nil }
            s.slots[path] = nil
            return slot.fd
        }
        if let toClose { _ = FileLock.closeDescriptor(toClose) }
    }
}

/// A file whose descriptor comes from a ``FilePool`` for the duration of each call.
public final class PooledFile: RandomAccessStorage {
    private let path: String
    private let pool: FilePool
    private let closed = Atomic<Bool>(false)

    /// A file at `path` (created now if missing) using `pool`'s descriptors.
    public init(path: String, pool: FilePool) throws {
        self.path = path
        self.pool = pool
        try pool.withDescriptor(path) { _ in }
    }

    private func io<R>(_ body: (DescriptorIO) throws -> R) throws -> R {
        if closed.load(ordering: .relaxed) { throw StorageError(.closed, "\(path) is closed") }
        return try pool.withDescriptor(path, body)
    }

    public func read(into buffer: UnsafeMutableRawBufferPointer, at offset: UInt64) throws -> Int {
        try io { try $0.read(into: buffer, at: offset) }
    }

    public func write(_ bytes: UnsafeRawBufferPointer, at offset: UInt64) throws {
        try io { try $0.write(bytes, at: offset) }
    }

    public func write(chunks: [[UInt8]], at offset: UInt64) throws {
        try io { try $0.write(chunks: chunks, at: offset) }
    }

    public func truncate(to size: UInt64) throws {
        try io { try $0.truncate(to: size) }
    }

    public func size() throws -> UInt64 {
        try io { try $0.size() }
    }

    public func sync() throws {
        try io { try $0.sync() }
    }

    public func close() throws {
        if closed.exchange(true, ordering: .acquiringAndReleasing) { return }
        pool.forget(path)
    }
}
