import HypercoreProtocol
import Dispatch

#if canImport(Glibc)
import Glibc
#elseif canImport(Musl)
import Musl
#elseif canImport(Darwin)
import Darwin
#endif

/// Plain POSIX TCP on 127.0.0.1 for tests: listen on a free port, accept, connect. The descriptors it returns
/// are blocking sockets, ready for ``FileDescriptorStream``.
///
/// Blocking calls (`accept`, `connect`) run on a dispatch queue, never on the Swift cooperative pool.
public enum LoopbackTCP {
    /// A listening socket on 127.0.0.1.
    public final class Listener: Sendable {
        /// The port the kernel picked.
        public let port: UInt16
        private let fd: Int32

        /// Listens on 127.0.0.1 with a port the kernel picks (port 0).
        /// - Throws: ``SystemCallError``.
        public init() throws {
            let fd = try SystemCall.retrying("socket") { socket(AF_INET, Int32(LoopbackTCP.streamType), 0) }
            do {
                var one: Int32 = 1
                try SystemCall.retrying("setsockopt") {
                    setsockopt(fd, SOL_SOCKET, SO_REUSEADDR, &one, socklen_t(MemoryLayout<Int32>.size))
                }
                var address = LoopbackTCP.address(port: 0)
                try SystemCall.retrying("bind") {
                    withUnsafePointer(to: &address) {
                        $0.withMemoryRebound(to: sockaddr.self, capacity: 1) {
                            bind(fd, $0, socklen_t(MemoryLayout<sockaddr_in>.size))
                        }
                    }
                }
                try SystemCall.retrying("listen") { listen(fd, 16) }
                var bound = sockaddr_in()
                var length = socklen_t(MemoryLayout<sockaddr_in>.size)
                try SystemCall.retrying("getsockname") {
                    withUnsafeMutablePointer(to: &bound) {
                        $0.withMemoryRebound(to: sockaddr.self, capacity: 1) { getsockname(fd, $0, &length) }
                    }
                }
                self.port = UInt16(bigEndian: bound.sin_port)
                self.fd = fd
            } catch {
                _ = LoopbackTCP.closeDescriptor(fd)
                throw error
            }
        }

        /// Accepts one connection, waiting at most `timeout`.
        /// - Returns: the connected socket (the caller owns it).
        /// - Throws: ``SystemCallError`` (`ETIMEDOUT` when nobody connected in time).
        public func accept(timeout: Duration = .seconds(30)) async throws -> Int32 {
            let fd = self.fd
            let millis = Int32(clamping: timeout.components.seconds * 1000 + timeout.components.attoseconds / 1_000_000_000_000_000)
            return try await LoopbackTCP.blocking {
                var entry = pollfd(fd: fd, events: Int16(POLLIN), revents: 0)
                let ready = try SystemCall.retrying("poll") { poll(&entry, 1, millis) }
                guard ready > 0 else { throw SystemCallError(call: "accept", errno: ETIMEDOUT) }
                #if canImport(Glibc)
                return try SystemCall.retrying("accept") { Glibc.accept(fd, nil, nil) }
                #elseif canImport(Musl)
                return try SystemCall.retrying("accept") { Musl.accept(fd, nil, nil) }
                #else
                return try SystemCall.retrying("accept") { Darwin.accept(fd, nil, nil) }
                #endif
            }
        }

        deinit {
            _ = LoopbackTCP.closeDescriptor(fd)
        }
    }

    /// Connects to 127.0.0.1:`port`.
    /// - Returns: the connected socket (the caller owns it).
    /// - Throws: ``SystemCallError``.
    public static func connect(port: UInt16) async throws -> Int32 {
        try await blocking {
            let fd = try SystemCall.retrying("socket") { socket(AF_INET, Int32(streamType), 0) }
            var address = address(port: port)
            do {
                try SystemCall.retrying("connect") {
                    withUnsafePointer(to: &address) {
                        $0.withMemoryRebound(to: sockaddr.self, capacity: 1) {
                            #if canImport(Glibc)
                            Glibc.connect(fd, $0, socklen_t(MemoryLayout<sockaddr_in>.size))
                            #elseif canImport(Musl)
                            Musl.connect(fd, $0, socklen_t(MemoryLayout<sockaddr_in>.size))
                            #else
                            Darwin.connect(fd, $0, socklen_t(MemoryLayout<sockaddr_in>.size))
                            #endif
                        }
                    }
                }
            } catch {
                _ = closeDescriptor(fd)
                throw error
            }
            return fd
        }
    }

    #if canImport(Glibc)
    private static let streamType = SOCK_STREAM.rawValue
    #else
    private static let streamType = SOCK_STREAM
    #endif

    private static func address(port: UInt16) -> sockaddr_in {
        var address = sockaddr_in()
        address.sin_family = sa_family_t(AF_INET)
        address.sin_port = port.bigEndian
        address.sin_addr.s_addr = UInt32(0x7f00_0001).bigEndian
        return address
    }

    private static func closeDescriptor(_ fd: Int32) -> Int32 {
        #if canImport(Glibc)
        Glibc.close(fd)
        #elseif canImport(Musl)
        Musl.close(fd)
        #else
        Darwin.close(fd)
        #endif
    }

    private static let queue = DispatchQueue(label: "kappa.LoopbackTCP", attributes: .concurrent)

    private static func blocking<T: Sendable>(_ body: @escaping @Sendable () throws -> T) async throws -> T {
        try await withCheckedThrowingContinuation { continuation in
            queue.async { continuation.resume(with: Result { try body() }) }
        }
    }
}
