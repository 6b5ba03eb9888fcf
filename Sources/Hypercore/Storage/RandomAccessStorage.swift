/// A random-access byte store: one file of a feed (`oplog`, `tree`, `bitfield`, `data`).
///
/// Implementations are `Sendable` and safe to call from several threads at once (positional I/O).
public protocol RandomAccessStorage: Sendable {
    /// Reads up to `buffer.count` bytes at `offset`; returns how many were read (fewer at the end of the store).
    func read(into buffer: UnsafeMutableRawBufferPointer, at offset: UInt64) throws -> Int
    /// Writes `bytes` at `offset`, growing the store as needed (a gap reads as zeros).
    func write(_ bytes: UnsafeRawBufferPointer, at offset: UInt64) throws
    /// Writes the chunks back to back starting at `offset` (one vectored write where the backend can).
    func write(chunks: [[UInt8]], at offset: UInt64) throws
    /// Sets the size, discarding or zero-filling.
    func truncate(to size: UInt64) throws
    /// The current size in bytes.
    func size() throws -> UInt64
    /// Makes everything written so far durable (`fdatasync`).
    func sync() throws
    /// Releases the store. Further use throws ``StorageError/Code/closed``.
    func close() throws
}

extension RandomAccessStorage {
    public func write(chunks: [[UInt8]], at offset: UInt64) throws {
        var position = offset
        for chunk in chunks {
            try chunk.withUnsafeBytes { (b: UnsafeRawBufferPointer) in try write(b, at: position) }
            position += UInt64(chunk.count)
        }
    }

    /// Reads exactly `count` bytes at `offset`, or fewer at the end of the store.
    public func read(count: Int, at offset: UInt64) throws -> [UInt8] {
        try [UInt8](unsafeUninitializedCapacity: count) { buffer, initialised in
            initialised = 0
            initialised = try read(into: UnsafeMutableRawBufferPointer(buffer), at: offset)
        }
    }

    /// Writes the bytes of `bytes` at `offset`.
    public func write(_ bytes: [UInt8], at offset: UInt64) throws {
        try bytes.withUnsafeBytes { (b: UnsafeRawBufferPointer) in try write(b, at: offset) }
    }
}

/// Opens the named files of one feed: a directory on disk, or a set of in-memory stores.
public protocol StorageDirectory: Sendable {
    /// Opens (creating if missing) the store called `name`.
    func open(_ name: String) throws -> any RandomAccessStorage
    /// True when the store called `name` exists and is not empty.
    func exists(_ name: String) -> Bool
    /// Whether `sync` reaches stable storage (false for memory).
    var isPersistent: Bool { get }
    /// Where the files are, for error messages: a path, or `memory`.
    var location: String { get }
    /// Takes whatever locks keep a second user out while a feed is open here (none when none are needed).
    /// The feed releases them when it closes.
    /// - Throws: ``StorageError/Code/locked`` when the directory is in use elsewhere.
    func lockForUse() throws -> [FileLock]
}

extension StorageDirectory {
    public var location: String { "memory" }
    public func lockForUse() throws -> [FileLock] { [] }
}
