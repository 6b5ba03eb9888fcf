import Synchronization

/// An in-memory store. Safe to share between threads.
public final class MemoryStorage: RandomAccessStorage {
    private let state = Mutex<(bytes: [UInt8], closed: Bool)>(([], false))

    /// An empty store.
    public init() {}

    public func read(into buffer: UnsafeMutableRawBufferPointer, at offset: UInt64) throws -> Int {
        try state.withLock { (s: inout (bytes: [UInt8], closed: Bool)) throws -> Int in
            if s.closed { throw StorageError(.closed, "memory storage is closed") }
            guard offset < UInt64(s.bytes.count) else { return 0 }
            let n = min(buffer.count, s.bytes.count - Int(offset))
            s.bytes.withUnsafeBytes { src in
                buffer.baseAddress!.copyMemory(from: src.baseAddress! + Int(offset), byteCount: n)
            }
            return n
        }
    }

    public func write(_ bytes: UnsafeRawBufferPointer, at offset: UInt64) throws {
        try state.withLock { (s: inout (bytes: [UInt8], closed: Bool)) throws in
            if s.closed { throw StorageError(.closed, "memory storage is closed") }
            let end = Int(offset) + bytes.count
            if end > s.bytes.count { s.bytes.append(contentsOf: repeatElement(0, count: end - s.bytes.count)) }
            guard bytes.count > 0 else { return }
            s.bytes.withUnsafeMutableBytes { dst in
                (dst.baseAddress! + Int(offset)).copyMemory(from: bytes.baseAddress!, byteCount: bytes.count)
            }
        }
    }

    public func write(chunks: [[UInt8]], at offset: UInt64) throws {
        try state.withLock { (s: inout (bytes: [UInt8], closed: Bool)) throws in
            if s.closed { throw StorageError(.closed, "memory storage is closed") }
            let total = chunks.reduce(0) { $0 + $1.count }
            let end = Int(offset) + total
            if end > s.bytes.count { s.bytes.append(contentsOf: repeatElement(0, count: end - s.bytes.count)) }
            s.bytes.withUnsafeMutableBytes { dst in
                var position = Int(offset)
                for chunk in chunks where !chunk.isEmpty {
                    chunk.withUnsafeBytes { (dst.baseAddress! + position).copyMemory(from: $0.baseAddress!, byteCount: $0.count) }
                    position += chunk.count
                }
            }
        }
    }

    public func truncate(to size: UInt64) throws {
        try state.withLock { (s: inout (bytes: [UInt8], closed: Bool)) throws in
            if s.closed { throw StorageError(.closed, "memory storage is closed") }
            let n = Int(size)
            if n < s.bytes.count { s.bytes.removeSubrange(n...) } else {
                s.bytes.append(contentsOf: repeatElement(0, count: n - s.bytes.count))
            }
        }
    }

    public func size() throws -> UInt64 {
        state.withLock { UInt64($0.bytes.count) }
    }

    public func sync() throws {}

    /// Marks the store closed. Its bytes stay with the ``MemoryDirectory`` that made it, so reopening sees them.
    public func close() throws {}

    /// A copy of the bytes (for tests).
    public var bytes: [UInt8] { state.withLock { $0.bytes } }
}

/// A set of named in-memory stores: a feed "directory" that lives as long as this object.
/// Opening the same name twice returns the same store, so a feed can be closed and reopened.
public final class MemoryDirectory: StorageDirectory {
    private let files = Mutex<[String: MemoryStorage]>([:])

    /// An empty directory.
    public init() {}

    public func open(_ name: String) throws -> any RandomAccessStorage {
        files.withLock { files in
            if let existing = files[name] { return existing }
            let storage = MemoryStorage()
            files[name] = storage
            return storage
        }
    }

    public func exists(_ name: String) -> Bool {
        files.withLock { ($0[name].map { (try? $0.size()) ?? 0 } ?? 0) > 0 }
    }

    public var isPersistent: Bool { false }

    /// The store called `name`, if it was opened (for tests that corrupt bytes).
    public func storage(_ name: String) -> MemoryStorage? {
        files.withLock { $0[name] }
    }
}
