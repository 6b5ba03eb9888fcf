/// The hypercore-10 `bitfield` file (spec C.2.3): one bit per block, u32 little-endian words,
/// 4 KiB pages. Held in memory; only dirty pages are written back.
struct Bitfield {
    static let pageBytes = 4096
    static let wordsPerPage = pageBytes / 4
    static let bitsPerPage = UInt64(pageBytes * 8)

    private(set) var words: [UInt32] = []
    private var dirtyPages = Set<Int>()

    /// Loads the whole file.
    init(file: any RandomAccessStorage) throws {
        let size = try file.size()
        let bytes = try file.read(count: Int(size), at: 0)
        words = [UInt32](repeating: 0, count: (bytes.count + 3) / 4)
        bytes.withUnsafeBytes { raw in
            for i in 0..<(bytes.count / 4) {
                words[i] = UInt32(littleEndian: raw.loadUnaligned(fromByteOffset: i * 4, as: UInt32.self))
            }
            for i in (bytes.count / 4 * 4)..<bytes.count {
                words[i / 4] |= UInt32(raw[i]) << (8 * UInt32(i % 4))
            }
        }
    }

    init() {}

    func get(_ index: UInt64) -> Bool {
        let w = Int(index >> 5)
        guard w < words.count else { return false }
        return words[w] & (1 << UInt32(index & 31)) != 0
    }

    /// Word `index` of the bitfield (bit `j` is block `32·index + j`); 0 beyond what is stored.
    func word(at index: Int) -> UInt32 {
        index < words.count ? words[index] : 0
    }

    private mutating func ensure(word: Int) {
        if word >= words.count {
            let pages = word / Self.wordsPerPage + 1
            words.append(contentsOf: repeatElement(0, count: pages * Self.wordsPerPage - words.count))
        }
    }

    mutating func set(_ index: UInt64, _ value: Bool) {
        let w = Int(index >> 5)
        ensure(word: w)
        let mask: UInt32 = 1 << UInt32(index & 31)
        let old = words[w]
        words[w] = value ? old | mask : old & ~mask
        if words[w] != old { dirtyPages.insert(w / Self.wordsPerPage) }
    }

    /// Sets or clears `[start, start + length)`.
    mutating func set(start: UInt64, length: UInt64, _ value: Bool) {
        guard length > 0 else { return }
        var i = start
        let end = start + length
        ensure(word: Int((end - 1) >> 5))
        while i < end {
            if i & 31 == 0 && end - i >= 32 {
                let w = Int(i >> 5)
                let new: UInt32 = value ? .max : 0
                if words[w] != new {
                    words[w] = new
                    dirtyPages.insert(w / Self.wordsPerPage)
                }
                i += 32
            } else {
                set(i, value)
                i += 1
            }
        }
    }

    /// The first index at or after `from` whose bit is `value`, or `nil` (for `true`) / the end (for `false`).
    func firstIndex(of value: Bool, from: UInt64) -> UInt64? {
        var w = Int(from >> 5)
        guard w < words.count else { return value ? nil : from }
        var word = value ? words[w] : ~words[w]
        word &= UInt32.max << UInt32(from & 31)
        while true {
            if word != 0 { return UInt64(w) << 5 + UInt64(word.trailingZeroBitCount) }
            w += 1
            if w >= words.count { return value ? nil : UInt64(w) << 5 }
            word = value ? words[w] : ~words[w]
        }
    }

    /// Writes the dirty pages.
    mutating func flush(to file: any RandomAccessStorage) throws {
        for page in dirtyPages.sorted() {
            let start = page * Self.wordsPerPage
            var bytes = [UInt8](repeating: 0, count: Self.pageBytes)
            bytes.withUnsafeMutableBytes { raw in
                for i in 0..<Self.wordsPerPage where start + i < words.count {
                    raw.storeBytes(of: words[start + i].littleEndian, toByteOffset: i * 4, as: UInt32.self)
                }
            }
            try file.write(bytes, at: UInt64(page * Self.pageBytes))
        }
        dirtyPages.removeAll()
    }
}
