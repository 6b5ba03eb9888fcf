/// The hypercore-10 `oplog` file (spec C.2.4): two 4 KiB header slots, then CRC-framed entries.
///
/// Each record is `u32le(crc32) ‖ u32le(len << 2 | partial << 1 | headerBit) ‖ payload`. Entries carry the
/// selector bit of the header they follow, so a flushed header invalidates older entries even before the
/// file is truncated.
struct Oplog {
    static let slotSize: UInt64 = 4096
    static let entriesStart: UInt64 = 8192
    static let maxRecordLength = 1 << 28

    let file: any RandomAccessStorage
    /// The header bits stored in slots 0 and 1 (an invalid slot counts as 0).
    private(set) var bits: (UInt8, UInt8) = (0, 0)
    /// The bit entries must carry: the active header slot.
    private(set) var selector: UInt8 = 0
    /// Where the next record goes.
    private(set) var end: UInt64 = Oplog.entriesStart

    /// Bytes of entries since the last header flush.
    var entryBytes: UInt64 { end - Oplog.entriesStart }

    /// The result of opening: the active header and the entries to replay after it.
    struct Opened {
        var header: OplogHeader?
        var entries: [OplogEntry]
    }

    /// Opens the oplog, recovering the last complete state.
    ///
    /// Replays entries while their CRC checks and their header bit matches; drops a trailing partial batch and
    /// truncates anything after the last good record.
    static func open(_ file: any RandomAccessStorage) throws -> (Oplog, Opened) {
        var log = Oplog(file: file)
        let size = try file.size()
        if size == 0 {
            return (log, Opened(header: nil, entries: []))
        }
        let slot0 = try decodeSlot(file, 0)
        let slot1 = try decodeSlot(file, 1)
        let header: OplogHeader
        switch (slot0, slot1) {
        case (nil, nil):
            throw HypercoreError(.corrupt, "oplog: neither header slot is valid")
        case (let a?, nil):
            log.bits = (a.bit, 0)
            log.selector = 0
            header = a.header
        case (nil, let b?):
            log.bits = (0, b.bit)
            log.selector = 1
            header = b.header
        case (let a?, let b?):
            log.bits = (a.bit, b.bit)
            log.selector = (a.bit + b.bit) & 1
            header = log.selector == 0 ? a.header : b.header
        }

        // Replay entries.
        var entries = [OplogEntry]()
        var pending = [OplogEntry]()
        var offset = entriesStart
        var lastGood = entriesStart
        var prefix = [UInt8](repeating: 0, count: 8)
        while offset + 8 <= size {
            let n = try prefix.withUnsafeMutableBytes { try file.read(into: $0, at: offset) }
            guard n == 8 else { break }
            let crc = UInt32(prefix[0]) | UInt32(prefix[1]) << 8 | UInt32(prefix[2]) << 16 | UInt32(prefix[3]) << 24
            let word = UInt32(prefix[4]) | UInt32(prefix[5]) << 8 | UInt32(prefix[6]) << 16 | UInt32(prefix[7]) << 24
            let length = Int(word >> 2)
            guard length <= maxRecordLength, offset + 8 + UInt64(length) <= size else { break }
            guard UInt8(word & 1) == log.selector else { break }
            let payload = try file.read(count: length, at: offset + 8)
            guard payload.count == length else { break }
            var check = CRC32.checksum(Array(prefix[4..<8]))
            check = payload.withUnsafeBytes { CRC32.checksum($0, crc: check) }
            guard check == crc else { break }
            guard let entry = try? CompactDecoder.decode(payload, { (d: inout CompactDecoder) throws(HypercoreError) in try OplogEntry.decode(&d) }) else { break }
            offset += 8 + UInt64(length)
            pending.append(entry)
            if word & 2 == 0 {
                entries.append(contentsOf: pending)
                pending.removeAll()
                lastGood = offset
            }
        }
        if lastGood < size {
            try file.truncate(to: lastGood)
        }
        log.end = lastGood
        return (log, Opened(header: header, entries: entries))
    }

    private static func decodeSlot(_ file: any RandomAccessStorage, _ slot: UInt64) throws -> (header: OplogHeader, bit: UInt8)? {
        let bytes = try file.read(count: Int(slotSize), at: slot * slotSize)
        guard bytes.count >= 8 else { return nil }
        let crc = UInt32(bytes[0]) | UInt32(bytes[1]) << 8 | UInt32(bytes[2]) << 16 | UInt32(bytes[3]) << 24
        let word = UInt32(bytes[4]) | UInt32(bytes[5]) << 8 | UInt32(bytes[6]) << 16 | UInt32(bytes[7]) << 24
        let length = Int(word >> 2)
        guard length > 0, 8 + length <= bytes.count else { return nil }
        let check = bytes.withUnsafeBytes { CRC32.checksum(UnsafeRawBufferPointer(rebasing: $0[4..<(8 + length)])) }
        guard check == crc else { return nil }
        let payload = Array(bytes[8..<(8 + length)])
        guard let header = try? CompactDecoder.decode(payload, { (d: inout CompactDecoder) throws(HypercoreError) in try OplogHeader.decode(&d) }) else {
            return nil
        }
        return (header, UInt8(word & 1))
    }

    private static func frame(_ payload: [UInt8], bit: UInt8, partial: Bool, into out: inout [UInt8]) {
        let start = out.count
        out.append(contentsOf: repeatElement(0, count: 8))
        out.append(contentsOf: payload)
        seal(&out, recordStart: start, bit: bit, partial: partial)
    }

    /// Fills in the 8-byte prefix (CRC and length word) of the record starting at `recordStart`.
    private static func seal(_ out: inout [UInt8], recordStart start: Int, bit: UInt8, partial: Bool) {
        let length = out.count - start - 8
        let word = UInt32(length) << 2 | (partial ? 2 : 0) | UInt32(bit)
        out.withUnsafeMutableBytes { raw in
            raw.storeBytes(of: word.littleEndian, toByteOffset: start + 4, as: UInt32.self)
            let crc = CRC32.checksum(UnsafeRawBufferPointer(rebasing: raw[(start + 4)...]))
            raw.storeBytes(of: crc.littleEndian, toByteOffset: start, as: UInt32.self)
        }
    }

    /// Appends one atomic batch of entries (all but the last marked partial) with a single write.
    mutating func append(_ entries: [OplogEntry]) throws {
        var e = CompactEncoder(capacity: entries.reduce(0) { $0 + 96 + $1.treeNodes.count * 42 })
        for (i, entry) in entries.enumerated() {
            let start = e.bytes.count
            e.raw(repeatElement(0, count: 8))
            entry.encode(into: &e)
            Self.seal(&e.bytes, recordStart: start, bit: selector, partial: i < entries.count - 1)
        }
        try file.write(e.bytes, at: end)
        end += UInt64(e.bytes.count)
    }

    /// Writes `header` into the inactive slot, flipping the selector, then drops all entries.
    /// - Parameter sync: sync the file after writing the header and again after truncating.
    mutating func flush(_ header: OplogHeader, sync: Bool) throws {
        let slot: UInt64 = bits.0 == bits.1 ? 1 : 0
        let bit = ((slot == 0 ? bits.0 : bits.1) + 1) & 1
        var out = [UInt8]()
        let payload = header.encode()
        guard payload.count + 8 <= Int(Self.slotSize) else {
            throw HypercoreError(.unsupported, "oplog header of \(payload.count) bytes exceeds a 4 KiB slot")
        }
        Self.frame(payload, bit: bit, partial: false, into: &out)
        try file.write(out, at: slot * Self.slotSize)
        if sync { try file.sync() }
        if slot == 0 { bits.0 = bit } else { bits.1 = bit }
        selector = (bits.0 + bits.1) & 1
        try file.truncate(to: Self.entriesStart)
        end = Self.entriesStart
    }
}
