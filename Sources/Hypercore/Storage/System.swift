#if canImport(Glibc)
import Glibc
#elseif canImport(Musl)
import Musl
#elseif canImport(Darwin)
import Darwin
#endif

/// Every system call of the storage layer goes through here: retries `EINTR`, throws ``StorageError`` with `errno`.
enum System {
    @inline(__always)
    static func call<T: BinaryInteger>(
        _ what: @autoclosure () -> String,
        _ body: () -> T
    ) throws -> T {
        while true {
            let result = body()
            if result >= 0 { return result }
            let code = errno
            if code == EINTR { continue }
            let kind: StorageError.Code = code == ENOENT ? .notFound : (code == EWOULDBLOCK ? .locked : .io)
            throw StorageError(kind, "\(what()): \(String(cString: strerror(code)))", errno: code)
        }
    }

    static func open(_ path: String, flags: Int32, mode: mode_t = 0o644) throws -> Int32 {
        #if canImport(Glibc)
        try call("open \(path)") { Glibc.open(path, flags, mode) }
        #elseif canImport(Musl)
        try call("open \(path)") { Musl.open(path, flags, mode) }
        #else
        try call("open \(path)") { Darwin.open(path, flags, mode) }
        #endif
    }

    /// Closes a descriptor (no retry on `EINTR`: the descriptor is gone either way on Linux and Darwin).
    @discardableResult
    static func closeDescriptor(_ fd: Int32) -> Int32 {
        close(fd)
    }

    /// The soft limit on open descriptors (`RLIMIT_NOFILE`), or `nil` when unlimited or unknown.
    static func openFileLimit() -> Int? {
        var limit = rlimit()
        #if canImport(Glibc)
        guard getrlimit(__rlimit_resource_t(RLIMIT_NOFILE.rawValue), &limit) == 0 else { return nil }
        #else
        guard getrlimit(RLIMIT_NOFILE, &limit) == 0 else { return nil }
        #endif
        // RLIM_INFINITY is all ones; anything beyond Int32.max counts as unlimited.
        if limit.rlim_cur > rlim_t(Int32.max) { return nil }
        return Int(limit.rlim_cur)
    }

    static func makeDirectory(_ path: String) throws {
        // Creates each missing component (mkdir -p).
        var current = path.hasPrefix("/") ? "" : "."
        for component in path.split(separator: "/") {
            current += "/" + component
            if mkdir(current, 0o755) != 0 && errno != EEXIST {
                let code = errno
                throw StorageError(.io, "mkdir \(current): \(String(cString: strerror(code)))", errno: code)
            }
        }
    }
}
