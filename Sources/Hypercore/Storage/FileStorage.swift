#if canImport(Glibc)
import Glibc
#elseif canImport(Musl)
import Musl
#elseif canImport(Darwin)
import Darwin
#endif
import Synchronization

/// Positional I/O on one open descriptor: the system calls every file backend shares.
struct DescriptorIO {
    let fd: Int32
    let path: String

    func read(into buffer: UnsafeMutableRawBufferPointer, at offset: UInt64) throws -> Int {
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

    func write(_ bytes: UnsafeRawBufferPointer, at offset: UInt64) throws {
        var total = 0
        while total < bytes.count {
            total += try System.call("pwrite \(path)") {
                pwrite(fd, bytes.baseAddress! + total, bytes.count - total, off_t(offset) + off_t(total))
            }
        }
    }

    func write(chunks: [[UInt8]], at offset: UInt64) throws {
        var position = offset
        var start = 0
        let maxVectors = 1024  // IOV_MAX on Linux
        while start < chunks.count {
            let end = min(start + maxVectors, chunks.count)
            let slice = chunks[start..<end]
            let total = slice.reduce(0) { $0 + $1.count }
            var iovecs = [iovec]()
            iovecs.reserveCapacity(slice.count)
            // The arrays outlive the call: `chunks` is borrowed for its whole duration.
            for chunk in slice where !chunk.isEmpty {
                chunk.withUnsafeBytes { b in
                    iovecs.append(iovec(iov_base: UnsafeMutableRawPointer(mutating: b.baseAddress!), iov_len: b.count))
                }
            }
            if !iovecs.isEmpty {
                let written = try withExtendedLifetime(chunks) {
                    try iovecs.withUnsafeBufferPointer { iov in
                        try System.call("pwritev \(path)") { pwritev(fd, iov.baseAddress!, Int32(iov.count), off_t(position)) }
                    }
                }
                if written < total {
                    // A short vectored write (rare): finish the remainder chunk by chunk.
                    var skip = written
                    var at = position + UInt64(written)
                    for chunk in slice {
                        if skip >= chunk.count {
                            skip -= chunk.count
                            continue
                        }
                        try chunk.withUnsafeBytes { b in
                            try write(UnsafeRawBufferPointer(rebasing: b[skip...]), at: at)
                        }
                        at += UInt64(chunk.count - skip)
                        skip = 0
                    }
                }
            }
            position += UInt64(total)
            start = end
        }
    }

    func truncate(to size: UInt64) throws {
        _ = try System.call("ftruncate \(path)") { ftruncate(fd, off_t(size)) }
    }

    func size() throws -> UInt64 {
        var st = stat()
        _ = try System.call("fstat \(path)") { fstat(fd, &st) }
        return UInt64(st.st_size)
    }

    func sync() throws {
        #if canImport(Darwin)
        _ = try System.call("fsync \(path)") { fsync(fd) }
        #else
        _ = try System.call("fdatasync \(path)") { fdatasync(fd) }
        #endif
    }
}

/// A file accessed with `pread`/`pwrite`/`pwritev`/`ftruncate`/`fdatasync`, open for its whole life.
public final class FileStorage: RandomAccessStorage {
    private let io: DescriptorIO
    private let closed = Atomic<Bool>(false)

    /// Opens (creating if missing) the file at `path`.
    /// - Parameters:
    ///   - path: the file's path.
    ///   - readOnly: opens without write access.
    public init(path: String, readOnly: Bool = false) throws {
        let fd = try System.open(path, flags: (readOnly ? O_RDONLY : O_RDWR | O_CREAT) | O_CLOEXEC)
        io = DescriptorIO(fd: fd, path: path)
    }

    deinit {
        if !closed.load(ordering: .acquiring) { FileLock.closeDescriptor(io.fd) }
    }

    private func checked() throws -> DescriptorIO {
        if closed.load(ordering: .relaxed) { throw StorageError(.closed, "\(io.path) is closed") }
        return io
    }

    public func read(into buffer: UnsafeMutableRawBufferPointer, at offset: UInt64) throws -> Int {
        try checked().read(into: buffer, at: offset)
    }

    public func write(_ bytes: UnsafeRawBufferPointer, at offset: UInt64) throws {
        try checked().write(bytes, at: offset)
    }

    public func write(chunks: [[UInt8]], at offset: UInt64) throws {
        try checked().write(chunks: chunks, at: offset)
    }

    public func truncate(to size: UInt64) throws {
        try checked().truncate(to: size)
    }

    public func size() throws -> UInt64 {
        try checked().size()
    }

    public func sync() throws {
        try checked().sync()
    }

    public func close() throws {
        if closed.exchange(true, ordering: .acquiringAndReleasing) { return }
        _ = try System.call("close \(io.path)") { FileLock.closeDescriptor(io.fd) }
    }
}

/// A directory on disk holding a feed's files.
public struct FileDirectory: StorageDirectory {
    /// The directory path.
    public let path: String
    /// When set, files share this pool's bounded set of open descriptors.
    public let pool: FilePool?

    /// A directory at `path`, created with its parents if missing.
    /// - Parameters:
    ///   - path: the directory's path (not empty).
    ///   - pool: a pool bounding how many files are open at once (for databases of many feeds).
    /// - Throws: ``StorageError/Code/invalidPath`` for an empty path; ``StorageError`` when it cannot be created.
    public init(path: String, pool: FilePool? = nil) throws {
        guard !path.isEmpty else { throw StorageError(.invalidPath, "a directory path cannot be empty") }
        self.path = path
        self.pool = pool
        try System.makeDirectory(path)
    }

    public func open(_ name: String) throws -> any RandomAccessStorage {
        if let pool { return try PooledFile(path: path + "/" + name, pool: pool) }
        return try FileStorage(path: path + "/" + name)
    }

    public func exists(_ name: String) -> Bool {
        var st = stat()
        return stat(path + "/" + name, &st) == 0 && st.st_size > 0
    }

    public var isPersistent: Bool { true }

    public var location: String { path }

    /// True when `path` names an existing directory.
    public static func isDirectory(_ path: String) -> Bool {
        var st = stat()
        return stat(path, &st) == 0 && (st.st_mode & S_IFMT) == S_IFDIR
    }

    /// A feed opened here on its own holds its `oplog` exclusively, as JavaScript hypercore does, so two
    /// standalone opens (here or in JavaScript) cannot write one feed at once. A feed directory inside a KappaCore
    /// database (`<database>/feeds/<name>/`) is also guarded by the database's `LOCK`: such a feed takes it shared,
    /// so it cannot be opened while the database is (which holds it exclusively), and the database cannot open
    /// while such a feed is.
    /// Directories given a pool belong to an owner that holds the locks itself, and take none.
    public func lockForUse() throws -> [FileLock] {
        guard pool == nil else { return [] }
        var locks: [FileLock] = []
        let components = path.split(separator: "/", omittingEmptySubsequences: true)
        if components.count >= 2, components[components.count - 2] == "feeds" {
            let database = (path.hasPrefix("/") ? "/" : "") + components.dropLast(2).joined(separator: "/")
            let lockPath = (database.isEmpty ? "." : database) + "/LOCK"
            var st = stat()
            if stat(lockPath, &st) == 0 {
                do {
                    locks.append(try FileLock.acquire(lockPath, .shared))
                } catch let error as StorageError where error.code == .locked {
                    throw StorageError(.locked, "\(path) is a feed of the database at \(database), which is open",
                                       errno: error.errno)
                }
            }
        }
        do {
            locks.append(try FileLock.acquire(path + "/oplog", .exclusive))
        } catch let error as StorageError where error.code == .locked {
            for lock in locks { lock.release() }
            throw StorageError(.locked, "the feed at \(path) is open elsewhere: \(error.message)", errno: error.errno)
        } catch {
            for lock in locks { lock.release() }
            throw error
        }
        return locks
    }
}
