import Testing
@testable import Hypercore

@Suite struct EncodingTests {
    @Test(arguments: zip(
        [UInt64(0), 0xFC, 0xFD, 1000, 0xFFFF, 0x10000, 0x1_0000_0000],
        [[UInt8(0)], [0xFC], [0xFD, 0xFD, 0x00], [0xFD, 0xE8, 0x03], [0xFD, 0xFF, 0xFF],
         [0xFE, 0x00, 0x00, 0x01, 0x00], [0xFF, 0, 0, 0, 0, 1, 0, 0, 0]]
    ))
    func uintRoundTrip(value: UInt64, bytes: [UInt8]) throws {
        var encoder = CompactEncoder()
        encoder.uint(value)
        #expect(encoder.bytes == bytes)
        #expect(try CompactDecoder.decode(bytes) { try $0.uint() } == value)
    }

    @Test func nonMinimalUintIsAccepted() throws {
        #expect(try CompactDecoder.decode([0xFD, 0x05, 0x00]) { try $0.uint() } == 5)
    }

    @Test func truncatedInputThrows() {
        #expect(throws: HypercoreError.self) { try CompactDecoder.decode([0xFE, 0x01]) { try $0.uint() } }
        #expect(throws: HypercoreError.self) { try CompactDecoder.decode([0x05, 1, 2]) { try $0.buffer() } }
        #expect(throws: HypercoreError.self) { try CompactDecoder.decode([0xFE, 0xFF, 0xFF, 0xFF, 0xFF]) { try $0.nodes() } }
    }

    @Test func crc32() {
        #expect(CRC32.checksum(Array("123456789".utf8)) == 0xCBF4_3926)
        #expect(CRC32.checksum([]) == 0)
        let long = (0..<1000).map { UInt8(truncatingIfNeeded: $0 &* 31) }
        // Slicing-by-8 agrees with a byte-at-a-time reference.
        var c: UInt32 = 0xFFFF_FFFF
        for b in long {
            c ^= UInt32(b)
            for _ in 0..<8 { c = c & 1 != 0 ? 0xEDB8_8320 ^ (c >> 1) : c >> 1 }
        }
        #expect(CRC32.checksum(long) == ~c)
    }
}
