#if canImport(Glibc)
import Glibc
#elseif canImport(Musl)
import Musl
#elseif canImport(Darwin)
import Darwin
#endif

/// A system call that failed: its name and `errno`.
public struct SystemCallError: Error, Sendable, Hashable, CustomStringConvertible {
    /// The call, e.g. `"read"`.
    public var call: String
    /// The `errno` it set.
    public var errno: Int32

    /// Creates an error for `call` with `errno`.
    public init(call: String, errno: Int32) {
        self.call = call
        self.errno = errno
    }

    /// The call, the system's message for `errno`, and the number.
    public var description: String {
        "\(call) failed: \(String(cString: strerror(errno))) (errno \(errno))"
    }
}

/// Every system call of the transports goes through here: retries `EINTR`, throws ``SystemCallError``.
package enum SystemCall {
    /// Calls `body` until it does not fail with `EINTR`; returns its non-negative result.
    /// - Throws: ``SystemCallError`` with `errno` when it returns a negative value.
    @discardableResult
    package static func retrying<T: FixedWidthInteger & SignedInteger>(
        _ call: @autoclosure () -> String, _ body: () -> T
    ) throws(SystemCallError) -> T {
        while true {
            let result = body()
            if result >= 0 { return result }
            let code = errno
            if code == EINTR { continue }
            throw SystemCallError(call: call(), errno: code)
        }
    }

    /// Waits until `fd` is ready for `events` (`POLLIN` or `POLLOUT`), for descriptors in non-blocking mode.
    package static func wait(_ fd: Int32, for events: Int16) throws(SystemCallError) {
        var entry = pollfd(fd: fd, events: events, revents: 0)
        try retrying("poll") { poll(&entry, 1, -1) }
    }

    /// True when `fd` is a socket.
    package static func isSocket(_ fd: Int32) -> Bool {
        var info = stat()
        guard fstat(fd, &info) == 0 else { return false }
        return (info.st_mode & S_IFMT) == S_IFSOCK
    }
}
