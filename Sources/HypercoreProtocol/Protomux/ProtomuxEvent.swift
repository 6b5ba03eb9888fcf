/// What the remote side did, as ``Protomux/receive(_:)`` reports it.
package enum ProtomuxEvent: Sendable, Equatable {
    /// The remote opened a channel that no local channel is waiting for. The owner answers with
    /// ``Protomux/open(protocol:aliases:id:handshake:unique:)`` for the same protocol and id (which pairs the two
    /// and delivers any messages buffered meanwhile) or with ``Protomux/reject(_:)``.
    case remoteOpened(Protomux.RemoteOpen)
    /// A local channel is paired with the remote's: messages flow both ways. Carries the remote's handshake.
    case opened(Protomux.Channel, remoteHandshake: [UInt8])
    /// A message on a paired channel. The payload is a slice of the received frame (no copy): keeping it keeps
    /// the whole frame (up to a batch) alive, so decode it and let it go.
    case message(Protomux.Channel, type: UInt64, payload: ArraySlice<UInt8>)
    /// The remote closed a paired channel; the local channel is closed too.
    case closed(Protomux.Channel)
    /// The remote rejected a channel opened locally; the local channel is closed.
    case rejected(Protomux.Channel)
}

extension Protomux {
    /// A handle to a local channel: its local id and a generation, so a handle kept after its channel closed
    /// never reaches the channel that later reuses the id.
    package struct Channel: Sendable, Hashable, CustomStringConvertible {
        /// The index of the channel in the local table: its local id minus one. Owners can index arrays by it.
        package let index: Int
        /// How many times the slot was allocated before this channel.
        package let generation: UInt32

        /// The channel id this side sends in frames (local ids start at 1).
        package var localId: UInt64 { UInt64(index) + 1 }

        package var description: String { "channel \(localId)" }
    }

    /// A remote channel open that waits for the owner's answer (``ProtomuxEvent/remoteOpened(_:)``).
    package struct RemoteOpen: Sendable, Hashable {
        /// The remote's id for the channel.
        package let remoteId: UInt64
        /// The protocol name the remote opened (may be an alias, such as `hypercore`).
        package let `protocol`: String
        /// The channel id within the protocol (a discovery key for hypercore).
        package let id: [UInt8]
        /// The remote's handshake bytes.
        package let handshake: [UInt8]

        /// Creates the description of a remote open.
        package init(remoteId: UInt64, protocol protocolName: String, id: [UInt8], handshake: [UInt8]) {
            self.remoteId = remoteId
            self.protocol = protocolName
            self.id = id
            self.handshake = handshake
        }
    }

    /// What ``Protomux/open(protocol:aliases:id:handshake:unique:)`` produced.
    package struct OpenResult: Sendable {
        /// The new local channel.
        package var channel: Channel
        /// The open frame to send, or `nil` while corked (the open is in the batch).
        package var frame: [UInt8]?
        /// When the open paired with a remote open that was waiting: ``ProtomuxEvent/opened(_:remoteHandshake:)``,
        /// then the messages buffered for it, then ``ProtomuxEvent/closed(_:)`` if the remote closed it meanwhile.
        /// Empty otherwise (the pairing arrives later through ``Protomux/receive(_:)``).
        package var events: [ProtomuxEvent]
    }

    /// The bounds a ``Protomux`` enforces on what the remote can make it hold.
    package struct Limits: Sendable {
        /// Bytes of messages buffered for remote channels not paired yet (each message counts its payload plus
        /// ``bufferedMessageOverhead``, as protomux counts). Beyond it: ``ReplicationError/Code/bufferOverflow``.
        package var maxBuffered: Int
        /// The largest batch frame built while corked (protomux's 8 MiB).
        package var maxBatch: Int
        /// Bytes held for remote opens not answered yet (protocol, id and handshake plus
        /// ``pendingOpenOverhead`` each). Beyond it: ``ReplicationError/Code/bufferOverflow``.
        package var maxPendingOpenBytes: Int
        /// The most remote channel ids the table grows to. Beyond it: ``ReplicationError/Code/protocolViolation``.
        package var maxRemoteChannels: Int

        /// The accounting overhead of one buffered message (protomux's `byteSize`).
        package static let bufferedMessageOverhead = 512
        /// The accounting overhead of one pending remote open.
        package static let pendingOpenOverhead = 128

        /// Creates limits; the defaults are protomux's (32 KiB buffered, 8 MiB batches) plus bounds protomux
        /// lacks (4 MiB of pending opens, 65,536 remote channel ids).
        package init(
            maxBuffered: Int = 32 * 1024, maxBatch: Int = 8 * 1024 * 1024,
            maxPendingOpenBytes: Int = 4 * 1024 * 1024, maxRemoteChannels: Int = 1 << 16
        ) {
            self.maxBuffered = maxBuffered
            self.maxBatch = maxBatch
            self.maxPendingOpenBytes = maxPendingOpenBytes
            self.maxRemoteChannels = maxRemoteChannels
        }
    }
}
