import Testing
@testable import Hypercore

/// Spec B vectors (flat-tree test.js).
@Suite struct FlatTreeTests {
    @Test func indexes() {
        #expect(FlatTree.index(depth: 0, offset: 0) == 0)
        #expect(FlatTree.index(depth: 0, offset: 1) == 2)
        #expect(FlatTree.index(depth: 0, offset: 2) == 4)
        #expect(FlatTree.index(depth: 1, offset: 0) == 1)
        #expect(FlatTree.index(depth: 1, offset: 1) == 5)
        #expect(FlatTree.index(depth: 2, offset: 0) == 3)
    }

    @Test func relatives() {
        #expect(FlatTree.parent(0) == 1)
        #expect(FlatTree.parent(2) == 1)
        #expect(FlatTree.parent(1) == 3)
        #expect(FlatTree.children(1).map { [$0.left, $0.right] } == [0, 2])
        #expect(FlatTree.children(3).map { [$0.left, $0.right] } == [1, 5])
        #expect(FlatTree.children(9).map { [$0.left, $0.right] } == [8, 10])
        #expect(FlatTree.children(4) == nil)
        #expect(FlatTree.sibling(0) == 2)
        #expect(FlatTree.sibling(1) == 5)
    }

    @Test func roots() {
        #expect(FlatTree.fullRoots(0) == [])
        #expect(FlatTree.fullRoots(2) == [0])
        #expect(FlatTree.fullRoots(8) == [3])
        #expect(FlatTree.fullRoots(16) == [7])
        #expect(FlatTree.fullRoots(18) == [7, 16])
        #expect(FlatTree.fullRoots(20) == [7, 17])
        #expect(FlatTree.futureRoots(12) == [7, 11])
        #expect(FlatTree.futureRoots(28) == [15, 23, 27])
    }

    @Test func depthsAndOffsets() {
        #expect((0...4).map { FlatTree.depth($0) } == [0, 1, 0, 2, 0])
        #expect((0...4).map { FlatTree.offset($0) } == [0, 0, 1, 0, 2])
    }

    @Test func spansAndCounts() {
        #expect(FlatTree.leftSpan(23) == 16 && FlatTree.rightSpan(23) == 30)
        #expect(FlatTree.leftSpan(27) == 24 && FlatTree.rightSpan(27) == 30)
        #expect(FlatTree.count(23) == 15)
        #expect(FlatTree.count(27) == 7)
        #expect(FlatTree.countLeaves(23) == 8)
        #expect(FlatTree.countLeaves(27) == 4)
    }

    @Test(arguments: [UInt64(1), 2, 3, 7, 10, 1000, 1007, 65535])
    func rootsCoverTheTree(length: UInt64) {
        let roots = FlatTree.fullRoots(2 * length)
        #expect(roots.reduce(0) { $0 + FlatTree.countLeaves($1) } == length)
        #expect(roots.count == length.nonzeroBitCount)
    }
}
