extension Feed {
    /// What ``verify(progress:)`` found.
    public struct Verification: Sendable {
        /// One thing that does not verify.
        public struct Problem: Sendable, CustomStringConvertible {
            /// The block it concerns, if it is a block (its bytes or its leaf).
            public var block: UInt64?
            /// The tree node it concerns, if it is a parent node.
            public var node: UInt64?
            /// What is wrong, naming the feed and the file.
            public var message: String

            public var description: String { message }
        }

        /// Blocks whose bytes were hashed and compared with their leaves.
        public var blocksChecked: UInt64 = 0
        /// Parent nodes recomputed from their children.
        public var nodesChecked: UInt64 = 0
        /// What does not verify (at most ``Feed/maxVerificationProblems``; ``truncated`` says when there were more).
        public var problems: [Problem] = []
        /// True when more problems were found than listed.
        public var truncated = false

        /// True when nothing was wrong.
        public var isValid: Bool { problems.isEmpty }
    }

    /// The most problems one ``verify(progress:)`` lists.
    public static let maxVerificationProblems = 1_000

    /// Checks everything stored against the signed tree: every held block is read and hashed and compared with
    /// its leaf, and every stored parent node whose children are stored is recomputed from them (so a damaged
    /// leaf or parent in `tree` shows even where the block is not held). The roots were checked against the
    /// signature when the feed opened.
    ///
    /// It reads the whole feed; it yields between chunks, so other work on the feed goes on meanwhile.
    ///
    /// - Parameter progress: called after each chunk with the blocks checked so far and the feed's length.
    /// - Returns: what was checked and every problem found, each naming the feed, the file and the block or node.
    /// - Throws: ``HypercoreError`` `.closed`, and I/O errors of the files.
    public func verify(progress: (@Sendable (UInt64, UInt64) -> Void)? = nil) async throws -> Verification {
        try checkOpen()
        var result = Verification()
        func report(_ problem: Verification.Problem) {
            if result.problems.count < Self.maxVerificationProblems {
                result.problems.append(problem)
            } else {
                result.truncated = true
            }
        }
        let chunk: UInt64 = 4_096
        var start: UInt64 = 0
        while start < tree.length {
            try checkOpen()
            let end = Swift.min(start + chunk, tree.length)
            for index in start..<end where bitfield.get(index) {
                do {
                    let range = try tree.byteRange(block: index)
                    let bytes = try files.data.read(count: Int(range.size), at: range.offset)
                    if bytes.count != Int(range.size) {
                        report(.init(block: index, message: "feed \(key) block \(index): \(location)/data holds \(bytes.count) of its \(range.size) bytes at \(range.offset)"))
                    } else if Hashing.leaf(bytes) != range.hash {
                        report(.init(block: index, message: "feed \(key) block \(index): the bytes at \(range.offset) of \(location)/data do not match its leaf hash in \(location)/tree"))
                    }
                } catch let error as HypercoreError where error.code == .corrupt || error.code == .malformed {
                    report(.init(block: index, message: "feed \(key) block \(index): \(location)/tree: \(error.message)"))
                }
                result.blocksChecked += 1
            }
            // Parents whose flat-tree index falls in this chunk's span of nodes.
            var node = 2 * start + 1
            while node < 2 * end {
                if let (left, right) = FlatTree.children(node), let parent = try tree.nodes.get(node),
                   let l = try tree.nodes.get(left), let r = try tree.nodes.get(right) {
                    result.nodesChecked += 1
                    if parent.hash != Hashing.parent(left: l, right: r) || parent.size != l.size &+ r.size {
                        report(.init(node: node, message: "feed \(key): tree node \(node) in \(location)/tree does not match its children \(left) and \(right)"))
                    }
                }
                node += 2
            }
            progress?(end, tree.length)
            start = end
            await Task.yield()
        }
        return result
    }
}
