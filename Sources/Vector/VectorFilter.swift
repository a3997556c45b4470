/// The set of internal ids a search may return (an organization's records, say), as a bitmap.
/// It knows how many ids it admits, so a search can choose an exact scan when few qualify.
public struct VectorFilter: Sendable {
    private var words: [UInt64]
    public private(set) var count = 0

    public init(capacity: Int) {
        words = [UInt64](repeating: 0, count: (capacity + 63) / 64)
    }

    public init<S: Sequence<UInt32>>(admitting ids: S, capacity: Int) {
        self.init(capacity: capacity)
        for id in ids { insert(id) }
    }

    public mutating func insert(_ id: UInt32) {
        let word = Int(id) / 64, bit = UInt64(1) << (UInt64(id) % 64)
        if word >= words.count { words.append(contentsOf: repeatElement(0, count: word - words.count + 1)) }
        if words[word] & bit == 0 {
            words[word] |= bit
            count += 1
        }
    }

    public mutating func remove(_ id: UInt32) {
        let word = Int(id) / 64, bit = UInt64(1) << (UInt64(id) % 64)
        if word < words.count && words[word] & bit != 0 {
            words[word] &= ~bit
            count -= 1
        }
    }

    /// Admits what `other` admits too.
    public mutating func formUnion(_ other: VectorFilter) {
        if other.words.count > words.count { words.append(contentsOf: repeatElement(0, count: other.words.count - words.count)) }
        count = 0
        for index in words.indices {
            if index < other.words.count { words[index] |= other.words[index] }
            count += words[index].nonzeroBitCount
        }
    }

    @inline(__always)
    public func contains(_ id: UInt32) -> Bool {
        let word = Int(id) / 64
        return word < words.count && words[word] & (UInt64(1) << (UInt64(id) % 64)) != 0
    }

    /// Every admitted id, ascending.
    public var ids: [UInt32] {
        var result: [UInt32] = []
        result.reserveCapacity(count)
        for (index, word) in words.enumerated() where word != 0 {
            var bits = word
            while bits != 0 {
                result.append(UInt32(index * 64 + bits.trailingZeroBitCount))
                bits &= bits - 1
            }
        }
        return result
    }
}

/// SplitMix64: small, fast, and deterministic for a seed, so an index built twice from the same
/// inserts has the same levels and links.
public struct SplitMix64: RandomNumberGenerator, Sendable {
    private(set) var state: UInt64
    public init(seed: UInt64) { state = seed }

    public mutating func next() -> UInt64 {
        state &+= 0x9E37_79B9_7F4A_7C15
        var z = state
        z = (z ^ (z >> 30)) &* 0xBF58_476D_1CE4_E5B9
        z = (z ^ (z >> 27)) &* 0x94D0_49BB_1331_11EB
        return z ^ (z >> 31)
    }
}
