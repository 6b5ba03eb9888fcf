public import Logging

extension SecretStream: MessageTransport {}

extension ReplicationSession {
    /// A session over an open secret stream (see ``SecretStream/withSecretStream(over:isInitiator:identity:options:isolation:_:)``).
    public init(stream: SecretStream, options: Options = Options(), logger: Logger = Logger(label: "kappa.replication")) {
        self.init(transport: stream, options: options, logger: logger)
    }
}
