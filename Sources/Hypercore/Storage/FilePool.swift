#if canImport(Glibc)
import Glibc
#elseif canImport(Musl)
import Musl
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
    }

    /// The most descriptors kept open.
    public let capacity: Int
    private let state = Mutex(State())

    /// A pool of at most `capacity` (at least 4) open descriptors.
    public init(capacity: Int) {
        self.capacity = max(4, capacity)
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
            guard s.slots.count >= capacity else { return (nil, nil) }
            // Evict the least recently used idle descriptor.
            var victim: (path: String, slot: Slot)?
            for (p, slot) in s.slots where slot.pins == 0 {
                if victim == nil || slot.lastUse < victim!.slot.lastUse { victim = (p, slot) }
            }
            guard let victim else { return (nil, nil) }
            s.slots[victim.path] = nil
            return (nil, victim.slot.fd)
        }
        if let toClose { Glibc.close(toClose) }
        if let existing { return existing }
        let fd = try System.open(path, flags: O_RDWR | O_CREAT | O_CLOEXEC)
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
        if let duplicate { Glibc.close(duplicate) }
        return use
    }

    private func release(_ path: String, _ fd: Int32) {
        let toClose: Int32? = state.withLock { s in
            guard var slot = s.slots[path], slot.fd == fd else { return nil }
            slot.pins -= 1
            s.slots[path] = slot
            // Over capacity (every slot was pinned when this one opened): give it back now.
            if slot.pins == 0 && s.slots.count > capacity {
                s.slots[path] = nil
                return fd
            }
            return nil
        }
        if let toClose { Glibc.close(toClose) }
    }

    /// Closes `path`'s descriptor if it is idle (a file being closed for good).
    func forget(_ path: String) {
        let toClose: Int32? = state.withLock { s in
            guard let slot = s.slots[path], slot.pins == 0 else { return nil }
            s.slots[path] = nil
            return slot.fd
        }
        if let toClose { Glibc.close(toClose) }
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
