#if canImport(Glibc)
import Glibc
#elseif canImport(Musl)
import Musl
#elseif canImport(Darwin)
import Darwin
#endif
import Synchronization

/// An advisory lock on a whole file, held by this process until ``release()`` (or deinit).
///
/// Other processes are kept out with a POSIX record lock (`fcntl(F_SETLK)` over the whole file). Unlike an
/// `flock` lock, a record lock belongs to the process, not to an open file description, so a child process
/// being spawned — which holds a copy of every descriptor between its `fork` and its `exec`, `O_CLOEXEC` or
/// not — never holds it: a lock released here is free at once, whatever the process is spawning. Record locks
/// also conflict with the open-file-description locks (`F_OFD_SETLK`) that JavaScript hypercore takes on its
/// `oplog` on Linux, so the two implementations keep each other out of one feed.
///
/// Within the process, a record lock cannot tell two holders apart, and closing *any* descriptor of the file
/// drops it; so the process's holders are kept in a table keyed by device and inode, which refuses a second
/// exclusive holder (or an exclusive beside shared ones) before a descriptor is opened, and keeps the one
/// descriptor that holds the lock open until the last holder releases it.
public final class FileLock: Sendable {
    /// Whether other holders may share the lock.
    public enum Mode: Sendable, Equatable {
        /// Any number of shared holders, no exclusive one.
        case shared
        /// One holder only.
        case exclusive
    }

    /// A file's identity: its device and inode.
    private struct FileID: Hashable {
        var device: UInt64
        var inode: UInt64

        init(_ st: stat) {
            device = UInt64(truncatingIfNeeded: st.st_dev)
            inode = UInt64(truncatingIfNeeded: st.st_ino)
        }
    }

    /// The locks this process holds, one entry per file.
    private struct Holding {
        var mode: Mode
        var holders: Int
        /// The descriptors open on the file for the lock: closed together, only when the last holder releases
        /// (closing any of them earlier would drop the process's record lock).
        var descriptors: [Int32]
    }

    private static let held = Mutex<[FileID: Holding]>([:])

    /// The locked file's path.
    public let path: String
    /// How it is held.
    public let mode: Mode
    private let id: FileID
    private let released = Atomic<Bool>(false)

    private init(path: String, mode: Mode, id: FileID) {
        self.path = path
        self.mode = mode
        self.id = id
    }

    deinit { release() }

    /// Takes the lock on the file at `path` (created if missing), failing at once when it is taken.
    /// - Parameters:
    ///   - path: the file to lock.
    ///   - mode: shared or exclusive.
    /// - Throws: ``StorageError/Code/locked`` when another process, or another holder in this process, has
    ///   the lock in a conflicting mode; ``StorageError`` when the file cannot be opened.
    public static func acquire(_ path: String, _ mode: Mode) throws -> FileLock {
        try held.withLock { held in
            var st = stat()
            if stat(path, &st) == 0 {
                let id = FileID(st)
                if let holding = held[id] { return try join(holding, &held, id: id, path: path, mode: mode, descriptor: nil) }
            }
            let fd = try System.open(path, flags: O_RDWR | O_CREAT | O_CLOEXEC)
            guard fstat(fd, &st) == 0 else {
                let code = errno
                System.closeDescriptor(fd)
                throw StorageError(.io, "fstat \(path)", errno: code)
            }
            let id = FileID(st)
            // Replaced between the stat and the open by a file this process already holds: join it (the new
            // descriptor stays open with the holding, as closing it would drop the lock).
            if let holding = held[id] { return try join(holding, &held, id: id, path: path, mode: mode, descriptor: fd) }
            var request = flock()
            request.l_type = Int16(mode == .exclusive ? F_WRLCK : F_RDLCK)
            request.l_whence = Int16(SEEK_SET)
            request.l_start = 0
            request.l_len = 0  // to the end of the file, however long it grows
            if fcntl(fd, F_SETLK, &request) != 0 {
                let code = errno
                // No holder in this process: closing the descriptor gives up nothing.
                System.closeDescriptor(fd)
                if code == EACCES || code == EAGAIN {
                    throw StorageError(.locked, "\(path) is locked by another process", errno: code)
                }
                throw StorageError(.io, "fcntl(F_SETLK) \(path)", errno: code)
            }
            held[id] = Holding(mode: mode, holders: 1, descriptors: [fd])
            return FileLock(path: path, mode: mode, id: id)
        }
    }

    /// Joins this process's holding of a file, when both are shared.
    private static func join(_ holding: Holding, _ held: inout [FileID: Holding], id: FileID, path: String,
                             mode: Mode, descriptor: Int32?) throws -> FileLock {
        var holding = holding
        if let descriptor { holding.descriptors.append(descriptor) }
        guard mode == .shared && holding.mode == .shared else {
            held[id] = holding
            throw StorageError(.locked, "\(path) is locked by another user in this process")
        }
        holding.holders += 1
        held[id] = holding
        return FileLock(path: path, mode: mode, id: id)
    }

    /// Closes `fd`, unless it is open on a file this process holds a lock on: closing any descriptor of such a
    /// file would drop the lock, so it is kept with the lock's own descriptor and closed when the last holder
    /// releases. Every file descriptor of the storage layer is closed through here, so a feed's data files may be
    /// closed in any order relative to its lock (a deinit, a failed open).
    @discardableResult
    static func closeDescriptor(_ fd: Int32) -> Int32 {
        held.withLock { held in
            if held.isEmpty { return System.closeDescriptor(fd) }
            var st = stat()
            guard fstat(fd, &st) == 0, var holding = held[FileID(st)] else { return System.closeDescriptor(fd) }
            holding.descriptors.append(fd)
            held[FileID(st)] = holding
            return 0
        }
    }

    /// Gives up this hold; the file is unlocked once every holder in the process has released it. Idempotent.
    public func release() {
        if released.exchange(true, ordering: .acquiringAndReleasing) { return }
        Self.held.withLock { held in
            guard var holding = held[id] else { return }
            holding.holders -= 1
            if holding.holders > 0 {
                held[id] = holding
                return
            }
            held[id] = nil
            for fd in holding.descriptors { System.closeDescriptor(fd) }
        }
    }
}
