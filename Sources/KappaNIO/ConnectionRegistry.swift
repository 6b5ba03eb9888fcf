import NIOCore
import Synchronization

/// The connections a listener accepted and that are still open.
///
/// An accepted connection waits in the listener's buffer until ``TCPServer/serve(_:)`` takes it; one still
/// waiting when the server stops was never handed to a handler and would stay open. The registry closes every
/// such connection when the server's scope ends, so no socket outlives it.
final class ConnectionRegistry: Sendable {
    private struct State {
        var open: [ObjectIdentifier: any Channel] = [:]
        var closing = false
    }

    private let state = Mutex(State())

    /// Tracks `channel` until it closes. Called from the child channel initializer. Returns `false`, and
    /// tracks nothing, once ``closeAll()`` began: the caller fails the channel's initializer, which closes it.
    func register(_ channel: any Channel) -> Bool {
        let id = ObjectIdentifier(channel)
        let admitted = state.withLock { state in
            if state.closing { return false }
            state.open[id] = channel
            return true
        }
        guard admitted else { return false }
        channel.closeFuture.whenComplete { [self] _ in
            _ = state.withLock { $0.open.removeValue(forKey: id) }
        }
        return true
    }

    /// The number of connections still open.
    var count: Int { state.withLock { $0.open.count } }

    /// Closes every connection still open and waits until each has closed.
    func closeAll() async {
        let channels = state.withLock { state in
            state.closing = true
            return Array(state.open.values)
        }
        for channel in channels {
            channel.close(promise: nil)
        }
        for channel in channels {
            // `closeFuture` never fails (NIO's contract); there is nothing to handle either way.
            try? await channel.closeFuture.get()
        }
    }
}
