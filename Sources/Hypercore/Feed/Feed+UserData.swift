extension Feed {
    // MARK: User data

    /// The user data stored under `key` (hypercore's `getUserData`), or `nil`.
    ///
    /// User data is a small per-feed key/value map kept in the oplog header, not replicated. Applications keep
    /// local facts about a feed there (a writer's name, for example).
    public func userData(_ key: String) -> [UInt8]? {
        userDataEntries.first { $0.key == key }?.value
    }

    /// Every user-data key and value, in the order the keys were first set.
    public var allUserData: [(key: String, value: [UInt8])] {
        userDataEntries
    }

    /// Stores `value` under `key`, or deletes the key when `value` is `nil` or empty (as hypercore 10's
    /// `setUserData`). The change is an oplog entry, durable like an append, and folded into the header at the
    /// next checkpoint; JavaScript hypercore 10 reads it either way.
    /// - Throws: ``HypercoreError/Code/closed``, ``HypercoreError/Code/invalidOperation`` for a header that would
    ///   outgrow its 4 KiB slot; ``StorageError``.
    public func setUserData(_ key: String, _ value: [UInt8]?) async throws {
        try checkOpen()
        var updated = userDataEntries
        Self.applyUserData(key, value, to: &updated)
        let size = updated.reduce(0) { $0 + $1.key.utf8.count + $1.value.count + 10 }
        guard size <= 2048 else {
            throw HypercoreError(.invalidOperation, "feed \(self.key): user data of \(size) bytes would outgrow the oplog header")
        }
        let entry = OplogEntry(userData: (key, value.flatMap { $0.isEmpty ? nil : $0 }), treeNodes: [], treeUpgrade: nil,
                               bitfield: nil)
        try oplog.append([entry])
        userDataEntries = updated
        try await finishWrite(notify: false)
    }
}
