#if canImport(Glibc)
import Glibc
#elseif canImport(Musl)
import Musl
#endif
import Synchronization

/// A file accessed with `pread`/`pwrite`/`pwritev`/`ftruncate`/`fdatasync`.
public final class FileStorage: RandomAccessStorage {
    private let fd: Int32
    private let path: String
    private let closed = Atomic<Bool>(false)

    /// Opens (creating if missing) the file at `path`.
    /// - Parameter readOnly: opens without write access.
    public init(path: String, readOnly: Bool = false) throws {
        self.path = path
        fd = try System.open(path, flags: (readOnly ? O_RDONLY : O_RDWR | O_CREAT) | O_CLOEXEC)
    }

    deinit {
        if !closed.load(ordering: .acquiring) { Glibc.close(fd) }
    }

    private func checkOpen() throws {
        if closed.load(ordering: .relaxed) { throw StorageError(.closed, "\(path) is closed") }
    }

    public func read(into buffer: UnsafeMutableRawBufferPointer, at offset: UInt64) throws -> Int {
        try checkOpen()
        var total = 0
        while total < buffer.count {
            let n = try System.call("pread \(path)") {
                pread(fd, buffer.baseAddress! + total, buffer.count - total, off_t(offset) + off_t(total))
            }
            if n == 0 { break }
            total += n
        }
        return total
    }

    public func write(_ bytes: UnsafeRawBufferPointer, at offset: UInt64) throws {
        try checkOpen()
        var total = 0
        while total < bytes.count {
            total += try System.call("pwrite \(path)") {
                pwrite(fd, bytes.baseAddress! + total, bytes.count - total, off_t(offset) + off_t(total))
            }
        }
    }

    public func write(chunks: [[UInt8]], at offset: UInt64) throws {
        try checkOpen()
        var position = off_t(offset)
        var start = 0
        let maxVectors = 1024  // IOV_MAX on Linux
        while start < chunks.count {
            let end = min(start + maxVectors, chunks.count)
            try Self.withIOVecs(chunks[start..<end]) { (iov: UnsafeBufferPointer<iovec>, total: Int) throws in
                var written = 0
                while written < total {
                    if written == 0 {
                        written += try System.call("pwritev \(path)") {
                            pwritev(fd, iov.baseAddress!, Int32(iov.count), position)
                        }
                    } else {
                        // A short vectored write (rare): finish the remainder chunk by chunk.
                        var skip = written
                        for v in iov {
                            let len = v.iov_len
                            if skip >= len { skip -= len; continue }
                            let raw = UnsafeRawBufferPointer(start: v.iov_base! + skip, count: len - skip)
                            try write(raw, at: UInt64(position) + UInt64(written))
                            written += len - skip
                            skip = 0
                        }
                    }
                }
                position += off_t(total)
            }
            start = end
        }
    }

    private static func withIOVecs<R>(
        _ chunks: ArraySlice<[UInt8]>,
        _ body: (UnsafeBufferPointer<iovec>, Int) throws -> R
    ) throws -> R {
        // The arrays stay alive for the duration of the call: `chunks` is borrowed by the caller.
        var iovecs = [iovec]()
        iovecs.reserveCapacity(chunks.count)
        var total = 0
        for chunk in chunks where !chunk.isEmpty {
            chunk.withUnsafeBytes { b in
                iovecs.append(iovec(iov_base: UnsafeMutableRawPointer(mutating: b.baseAddress!), iov_len: b.count))
            }
            total += chunk.count
        }
        if iovecs.isEmpty {
            return try body(UnsafeBufferPointer(start: nil, count: 0), 0)
        }
        return try withExtendedLifetime(chunks) { () throws -> R in
            try iovecs.withUnsafeBufferPointer { (p: UnsafeBufferPointer<iovec>) throws -> R in try body(p, total) }
        }
    }

    public func truncate(to size: UInt64) throws {
        try checkOpen()
        _ = try System.call("ftruncate \(path)") { ftruncate(fd, off_t(size)) }
    }

    public func size() throws -> UInt64 {
        try checkOpen()
        var st = stat()
        _ = try System.call("fstat \(path)") { fstat(fd, &st) }
        return UInt64(st.st_size)
    }

    public func sync() throws {
        try checkOpen()
        _ = try System.call("fdatasync \(path)") { fdatasync(fd) }
    }

    public func close() throws {
        if closed.exchange(true, ordering: .acquiringAndReleasing) { return }
        _ = try System.call("close \(path)") { Glibc.close(fd) }
    }

    /// Takes an exclusive advisory lock (`flock`), failing at once with ``StorageError/Code/locked``
    /// when another process holds it.
    public func lockExclusive() throws {
        try checkOpen()
        _ = try System.call("flock \(path)") { flock(fd, LOCK_EX | LOCK_NB) }
    }
}

/// A directory on disk holding a feed's files.
public struct FileDirectory: StorageDirectory {
    /// The directory path.
    public let path: String

    /// A directory at `path`, created with its parents if missing.
    public init(path: String) throws {
        self.path = path
        try System.makeDirectory(path)
    }

    public func open(_ name: String) throws -> any RandomAccessStorage {
        try FileStorage(path: path + "/" + name)
    }

    public func exists(_ name: String) -> Bool {
        var st = stat()
        return stat(path + "/" + name, &st) == 0 && st.st_size > 0
    }

    public var isPersistent: Bool { true }
}
