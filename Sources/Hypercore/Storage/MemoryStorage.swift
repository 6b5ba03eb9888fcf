import Synchronization

/// An in-memory store. Safe to share between threads.
///
/// The bytes live in chunks of 256 KiB, so a store that grows to gigabytes never moves what it holds (a single
/// array would be copied whole each time it doubled) and an append copies its bytes once.
public final class MemoryStorage: RandomAccessStorage {
    private struct Chunks {
        static let size = 1 << 18
        var chunks: [[UInt8]] = []
        var count = 0
        var closed = false

        /// Grows to `end` bytes, zero-filled.
        mutating func grow(to end: Int) {
            while count < end {
                if count % Self.size == 0 { startChunk(reserving: end - count) }
                let n = min(Self.size - count % Self.size, end - count)
                chunks[chunks.count - 1].append(contentsOf: repeatElement(0, count: n))
                count += n
            }
        }

        /// Adds an empty last chunk (the last one is full, or there is none); reserves a whole chunk unless it is
        /// the first and `needed` is less (small stores stay small).
        private mutating func startChunk(reserving needed: Int) {
            var chunk = [UInt8]()
            chunk.reserveCapacity(chunks.isEmpty && needed < Self.size ? 0 : Self.size)
            chunks.append(chunk)
        }

        /// Calls `body` with each chunk piece covering `[offset, offset + length)` (which must be stored), and
        /// the position of that piece within the range.
        mutating func forEachPiece(
            _ offset: Int, _ length: Int, _ body: (inout [UInt8], Range<Int>, Int) -> Void
        ) {
            var position = offset
            while position < offset + length {
                let index = position / Self.size
                let start = position % Self.size
                let n = min(Self.size - start, offset + length - position)
                body(&chunks[index], start..<(start + n), position - offset)
                position += n
            }
        }

        mutating func write(_ bytes: UnsafeRawBufferPointer, at offset: Int) {
            guard bytes.count > 0 else {
                grow(to: offset)
                return
            }
            let end = offset + bytes.count
            if offset > count { grow(to: offset) }
            // Bytes past the end are appended (no zero-fill first); the rest overwrite in place.
            let overwrite = min(end, count) - offset
            if overwrite > 0 {
                forEachPiece(offset, overwrite) { chunk, range, at in
                    chunk.withUnsafeMutableBytes { dst in
                        (dst.baseAddress! + range.lowerBound).copyMemory(from: bytes.baseAddress! + at, byteCount: range.count)
                    }
                }
            }
            var at = max(overwrite, 0)
            while at < bytes.count {
                if count % Self.size == 0 { startChunk(reserving: bytes.count - at) }
                let n = min(Self.size - count % Self.size, bytes.count - at)
                chunks[chunks.count - 1].append(contentsOf: UnsafeRawBufferPointer(rebasing: bytes[at..<(at + n)]))
                count += n
                at += n
            }
        }
    }

    private let state = Mutex(Chunks())

    /// An empty store.
    public init() {}

    public func read(into buffer: UnsafeMutableRawBufferPointer, at offset: UInt64) throws -> Int {
        try state.withLock { (s: inout Chunks) throws -> Int in
            if s.closed { throw StorageError(.closed, "memory storage is closed") }
            guard offset < UInt64(s.count) else { return 0 }
            let n = min(buffer.count, s.count - Int(offset))
            s.forEachPiece(Int(offset), n) { chunk, range, at in
                chunk.withUnsafeBytes { src in
                    (buffer.baseAddress! + at).copyMemory(from: src.baseAddress! + range.lowerBound, byteCount: range.count)
                }
            }
            return n
        }
    }

    public func write(_ bytes: UnsafeRawBufferPointer, at offset: UInt64) throws {
        try state.withLock { (s: inout Chunks) throws in
            if s.closed { throw StorageError(.closed, "memory storage is closed") }
            s.write(bytes, at: Int(offset))
        }
    }

    public func write(chunks: [[UInt8]], at offset: UInt64) throws {
        try state.withLock { (s: inout Chunks) throws in
            if s.closed { throw StorageError(.closed, "memory storage is closed") }
            var position = Int(offset)
            for chunk in chunks {
                chunk.withUnsafeBytes { s.write($0, at: position) }
                position += chunk.count
            }
        }
    }

    public func truncate(to size: UInt64) throws {
        try state.withLock { (s: inout Chunks) throws in
            if s.closed { throw StorageError(.closed, "memory storage is closed") }
            let n = Int(size)
            if n >= s.count {
                s.grow(to: n)
                return
            }
            let keep = (n + Chunks.size - 1) / Chunks.size
            s.chunks.removeSubrange(keep...)
            if n % Chunks.size != 0 { s.chunks[keep - 1].removeSubrange((n % Chunks.size)...) }
            s.count = n
        }
    }

    public func size() throws -> UInt64 {
        state.withLock { UInt64($0.count) }
    }

    public func sync() throws {}

    /// Marks the store closed. Its bytes stay with the ``MemoryDirectory`` that made it, so reopening sees them.
    public func close() throws {}

    /// A copy of the bytes (for tests).
    public var bytes: [UInt8] { state.withLock { $0.chunks.flatMap { $0 } } }
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
