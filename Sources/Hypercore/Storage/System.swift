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
        try call("open \(path)") { Glibc.open(path, flags, mode) }
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
