import Synchronization

/// What wakes a replication session: messages from the peer, local feed changes, wants, timer ticks.
enum SessionEvent: Sendable {
    /// A message from the peer (one protomux frame).
    case message([UInt8])
    /// The peer's messages ended: `nil` at a clean end, or the error.
    case ended((any Error)?)
    /// A local feed changed (appended, downloaded) or gained wants; the value is its key.
    case feedChanged(FeedID)
    /// Time passed (request timeouts are checked).
    case tick
}

/// A feed's identity inside a session: its discovery key.
typealias FeedID = [UInt8]

/// The session's queue of events: producers push without waiting (except the message reader, which waits
/// while too many message bytes are queued); the session takes everything queued at once, so a burst of
/// messages is handled as one batch (one feed call for many blocks, one transport write for many answers).
final class SessionInbox: Sendable {
    private struct State {
        var events: [SessionEvent] = []
        var queuedBytes = 0
        var closed = false
        var consumer: CheckedContinuation<[SessionEvent], Never>?
        var producer: CheckedContinuation<Void, Never>?
    }

    private let state = Mutex(State())
    /// Message bytes queued before the reader waits.
    let maxQueuedBytes: Int

    init(maxQueuedBytes: Int) {
        self.maxQueuedBytes = maxQueuedBytes
    }

    /// Queues `event`; wakes the session.
    func push(_ event: SessionEvent) {
        let wake: (CheckedContinuation<[SessionEvent], Never>, [SessionEvent])? = state.withLock { s in
            guard !s.closed else { return nil }
            if case .message(let bytes) = event { s.queuedBytes += bytes.count }
            s.events.append(event)
            guard let consumer = s.consumer else { return nil }
            s.consumer = nil
            let events = s.events
            s.events = []
            s.queuedBytes = 0
            return (consumer, events)
        }
        if let (consumer, events) = wake { consumer.resume(returning: events) }
    }

    /// Waits until the queue has room for more message bytes (the reader's back-pressure).
    func waitForRoom() async {
        await withCheckedContinuation { (continuation: CheckedContinuation<Void, Never>) in
            let resumeNow = state.withLock { s in
                if s.closed || s.queuedBytes < maxQueuedBytes { return true }
                s.producer = continuation
                return false
            }
            if resumeNow { continuation.resume() }
        }
    }

    /// Takes every queued event, waiting for one when the queue is empty. Returns `[]` once closed or when the
    /// task is cancelled.
    func next() async -> [SessionEvent] {
        await withTaskCancellationHandler {
            await withCheckedContinuation { (continuation: CheckedContinuation<[SessionEvent], Never>) in
                enum Action { case resume([SessionEvent], CheckedContinuation<Void, Never>?), wait }
                let action: Action = state.withLock { s in
                    if !s.events.isEmpty || s.closed || Task.isCancelled {
                        let events = s.events
                        s.events = []
                        s.queuedBytes = 0
                        let producer = s.producer
                        s.producer = nil
                        return .resume(events, producer)
                    }
                    s.consumer = continuation
                    return .wait
                }
                if case .resume(let events, let producer) = action {
                    producer?.resume()
                    continuation.resume(returning: events)
                }
            }
        } onCancel: {
            close()
        }
    }

    /// Ends the queue: waiters wake, later pushes are dropped.
    func close() {
        let (consumer, producer) = state.withLock { s in
            s.closed = true
            defer { s.consumer = nil; s.producer = nil }
            return (s.consumer, s.producer)
        }
        consumer?.resume(returning: [])
        producer?.resume()
    }
}
