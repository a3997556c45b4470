import CLMDB
import FoundationEssentials

/// Which way a scan walks the keys.
public enum ScanDirection: UInt8, Sendable {
    case forward = 1
    case reverse = 2
}

/// Where a paged scan stopped: the last key it returned and the direction, encoded opaquely
/// (base64url) for clients. A token only moves the start of the scan; the range or prefix is
/// always the caller's, so a forged token cannot reach other keys.
public struct ContinuationToken: Sendable, Equatable, CustomStringConvertible {
    let direction: ScanDirection
    let lastKey: [UInt8]

    public var description: String {
        Data([1, direction.rawValue] + lastKey).base64EncodedString()
            .replacing("+", with: "-").replacing("/", with: "_").replacing("=", with: "")
    }

    /// Parses a token from a client; `nil` when it is not one this store issued.
    public init?(_ text: String) {
        guard text.count <= 4096 else { return nil }
        var base64 = text.replacing("-", with: "+").replacing("_", with: "/")
        base64 += String(repeating: "=", count: (4 - base64.count % 4) % 4)
        guard let data = Data(base64Encoded: base64), data.count >= 2, data[data.startIndex] == 1,
              let direction = ScanDirection(rawValue: data[data.startIndex + 1])
        else { return nil }
        self.direction = direction
        self.lastKey = Array(data.dropFirst(2))
    }

    init(direction: ScanDirection, lastKey: [UInt8]) {
        self.direction = direction
        self.lastKey = lastKey
    }
}

/// One page of a scan and the token for the next, `nil` after the last page.
public struct Page<Key, Value> {
    public let items: [(key: Key, value: Value)]
    public let next: ContinuationToken?
}

/// Bounds of a scan on encoded keys: `lower` inclusive, `upper` exclusive, either open.
struct KeyBounds {
    var lower: [UInt8]?
    var upper: [UInt8]?

    /// Every key that starts with `prefix`.
    init(prefix: [UInt8]) {
        lower = prefix.isEmpty ? nil : prefix
        upper = Self.successor(ofPrefix: prefix)
    }

    init(lower: [UInt8]?, upper: [UInt8]?) {
        self.lower = lower
        self.upper = upper
    }

    /// The smallest byte string greater than every string starting with `prefix`; `nil` when none
    /// exists (an empty or all-0xFF prefix).
    static func successor(ofPrefix prefix: [UInt8]) -> [UInt8]? {
        var bytes = prefix
        while let last = bytes.last {
            if last < 0xFF {
                bytes[bytes.count - 1] = last + 1
                return bytes
            }
            bytes.removeLast()
        }
        return nil
    }

    /// Narrows the bounds to the keys after `token.lastKey` in the token's direction.
    mutating func resume(after token: ContinuationToken) {
        switch token.direction {
        case .forward:
            // lower = max(lower, the smallest key after lastKey)
            let next = token.lastKey + [0]
            if lower.map({ $0.lexicographicallyPrecedes(next) }) ?? true { lower = next }
        case .reverse:
            // upper = min(upper, lastKey); upper is exclusive, so lastKey itself is skipped
            if upper.map({ token.lastKey.lexicographicallyPrecedes($0) }) ?? true { upper = token.lastKey }
        }
    }
}

extension ReadableTransaction where Self: ~Copyable {
    /// The row with the greatest key, or `nil` when the table is empty.
    /// - Complexity: O(log n)
    @available(*, noasync)
    public func last<K, V>(_ table: Table<K, V>) throws(KVError) -> (key: K.Value, value: V.Value)? {
        var result: (key: K.Value, value: V.Value)?
        try walk(table.dbi, table.name, KeyBounds(lower: nil, upper: nil), .reverse) { (key, value) throws(KVError) in
            result = (try table.decodeKey(key), try table.decodeValue(value))
            return false
        }
        return result
    }

    /// The greatest key, or `nil` when the table is empty; its value is not decoded.
    /// - Complexity: O(log n)
    @available(*, noasync)
    public func lastKey<K, V>(_ table: Table<K, V>) throws(KVError) -> K.Value? {
        var result: K.Value?
        try walk(table.dbi, table.name, KeyBounds(lower: nil, upper: nil), .reverse) { (key, _) throws(KVError) in
            result = try table.decodeKey(key)
            return false
        }
        return result
    }

    /// The smallest key, or `nil` when the table is empty; its value is not decoded.
    /// - Complexity: O(log n)
    @available(*, noasync)
    public func firstKey<K, V>(_ table: Table<K, V>) throws(KVError) -> K.Value? {
        var result: K.Value?
        try walk(table.dbi, table.name, KeyBounds(lower: nil, upper: nil), .forward) { (key, _) throws(KVError) in
            result = try table.decodeKey(key)
            return false
        }
        return result
    }

    /// The row with the smallest key, or `nil` when the table is empty.
    /// - Complexity: O(log n)
    @available(*, noasync)
    public func first<K, V>(_ table: Table<K, V>) throws(KVError) -> (key: K.Value, value: V.Value)? {
        var result: (key: K.Value, value: V.Value)?
        try walk(table.dbi, table.name, KeyBounds(lower: nil, upper: nil), .forward) { (key, value) throws(KVError) in
            result = (try table.decodeKey(key), try table.decodeValue(value))
            return false
        }
        return result
    }

    /// Visits the rows whose encoded key starts with `prefix` (all rows for an empty prefix), in
    /// key order or its reverse, until `body` returns `false`.
    /// - Complexity: O(log n + rows visited)
    @available(*, noasync)
    public func forEach<K, V>(
        _ table: Table<K, V>, prefix: [UInt8] = [], direction: ScanDirection = .forward,
        _ body: (K.Value, V.Value) throws(KVError) -> Bool
    ) throws(KVError) {
        try walk(table.dbi, table.name, KeyBounds(prefix: prefix), direction) { (key, value) throws(KVError) in
            if try table.isExpired(txn, key) { return true }
            return try body(try table.decodeKey(key), try table.decodeValue(value))
        }
    }

    /// Visits the rows with `from <= key < to` (either bound open when `nil`).
    /// - Complexity: O(log n + rows visited)
    @available(*, noasync)
    public func forEach<K, V>(
        _ table: Table<K, V>, from lower: K.Value?, to upper: K.Value?, direction: ScanDirection = .forward,
        _ body: (K.Value, V.Value) throws(KVError) -> Bool
    ) throws(KVError) {
        let bounds = KeyBounds(lower: try lower.map(table.encodeKey), upper: try upper.map(table.encodeKey))
        try walk(table.dbi, table.name, bounds, direction) { (key, value) throws(KVError) in
            if try table.isExpired(txn, key) { return true }
            return try body(try table.decodeKey(key), try table.decodeValue(value))
        }
    }

    /// Up to `limit` rows starting with `prefix`, after `continuation`, and the token for the next page.
    /// - Complexity: O(log n + limit)
    @available(*, noasync)
    public func page<K, V>(
        _ table: Table<K, V>, prefix: [UInt8] = [], direction: ScanDirection = .forward,
        limit: Int, after continuation: ContinuationToken? = nil
    ) throws(KVError) -> Page<K.Value, V.Value> {
        precondition(limit > 0, "a page holds at least one row")
        var bounds = KeyBounds(prefix: prefix)
        if let continuation {
            guard continuation.direction == direction else { throw .invalidContinuation }
            bounds.resume(after: continuation)
        }
        var items: [(key: K.Value, value: V.Value)] = []
        var lastKey: [UInt8] = []
        var more = false
        try walk(table.dbi, table.name, bounds, direction) { (key, value) throws(KVError) in
            if try table.isExpired(txn, key) { return true }
            guard items.count < limit else {
                more = true
                return false
            }
            items.append((try table.decodeKey(key), try table.decodeValue(value)))
            lastKey = Array(UnsafeRawBufferPointer(start: key.mv_data, count: key.mv_size))
            return true
        }
        return Page(items: items, next: more ? ContinuationToken(direction: direction, lastKey: lastKey) : nil)
    }

    /// The cursor loop every scan uses. `body` sees LMDB's own key and value memory, valid only
    /// during the call; it returns `false` to stop.
    @available(*, noasync)
    func walk(
        _ dbi: MDB_dbi, _ name: String, _ bounds: KeyBounds, _ direction: ScanDirection,
        _ body: (MDB_val, MDB_val) throws(KVError) -> Bool
    ) throws(KVError) {
        var cursor: OpaquePointer?
        try KVError.check(mdb_cursor_open(txn, dbi, &cursor), "mdb_cursor_open(\(name))")
        defer { mdb_cursor_close(cursor) }
        var key = MDB_val(), value = MDB_val()

        func compare(_ val: MDB_val, _ bytes: [UInt8]) -> Int {
            let stored = UnsafeRawBufferPointer(start: val.mv_data, count: val.mv_size)
            for (a, b) in zip(stored, bytes) where a != b { return a < b ? -1 : 1 }
            return stored.count == bytes.count ? 0 : (stored.count < bytes.count ? -1 : 1)
        }
        func position(_ op: MDB_cursor_op, at bytes: [UInt8]?) throws(KVError) -> Bool {
            let status: Int32
            if let bytes {
                status = try bytes.withMDBVal { (probe: inout MDB_val) throws(KVError) -> Int32 in
                    key = probe
                    return mdb_cursor_get(cursor, &key, &value, op)
                }
            } else {
                status = mdb_cursor_get(cursor, &key, &value, op)
            }
            if status == MDB_NOTFOUND { return false }
            try KVError.check(status, "mdb_cursor_get(\(name))")
            return true
        }

        var found: Bool
        switch direction {
        case .forward:
            if let lower = bounds.lower {
                found = try position(MDB_SET_RANGE, at: lower)
            } else {
                found = try position(MDB_FIRST, at: nil)
            }
        case .reverse:
            if let upper = bounds.upper {
                // The first key >= upper, then one step back; or the last key if none is >= upper.
                found = try position(MDB_SET_RANGE, at: upper)
                found = try found ? position(MDB_PREV, at: nil) : position(MDB_LAST, at: nil)
            } else {
                found = try position(MDB_LAST, at: nil)
            }
        }
        while found {
            switch direction {
            case .forward:
                if let upper = bounds.upper, compare(key, upper) >= 0 { return }
            case .reverse:
                if let lower = bounds.lower, compare(key, lower) < 0 { return }
            }
            guard try body(key, value) else { return }
            found = try position(direction == .forward ? MDB_NEXT : MDB_PREV, at: nil)
        }
    }
}
