import CLMDB
public import FoundationEssentials

/// The two tables that let rows expire: `_expiry` orders (time, table, key) so the sweep finds
/// due rows with one range scan; `_expiry_by_key` maps (table, key) to its time so a rewrite or
/// delete can drop the old entry.
struct ExpiryTables: Sendable {
    let byTime: MDB_dbi
    let byKey: MDB_dbi
    static let byTimeName = "_expiry"
    static let byKeyName = "_expiry_by_key"

    static func timeKey(_ time: UInt64, _ table: String, _ key: [UInt8]) -> [UInt8] {
        var bytes: [UInt8] = []
        UInt64.encodeComponent(time, into: &bytes)
        String.encodeComponent(table, into: &bytes)
        return bytes + key
    }

    static func ownerKey(_ table: String, _ key: [UInt8]) -> [UInt8] {
        var bytes: [UInt8] = []
        String.encodeComponent(table, into: &bytes)
        return bytes + key
    }

    static func milliseconds(_ date: Date) -> UInt64 {
        UInt64(max(0, (date.timeIntervalSince1970 * 1000).rounded(.up)))
    }

    /// The expiry time recorded for a row, if any.
    @available(*, noasync)
    func expiry(_ txn: OpaquePointer, _ table: String, _ key: [UInt8]) throws(KVError) -> UInt64? {
        guard let bytes = try ReadTransaction(txn: txn).rawGet(byKey, Self.byKeyName, Self.ownerKey(table, key)) else { return nil }
        return try bytes.withMDBVal { (val: inout MDB_val) throws(KVError) in
            do throws(CodecError) { return try UInt64Key.decode(UnsafeRawBufferPointer(start: val.mv_data, count: val.mv_size)) } catch {
                throw .decode(table: Self.byKeyName, reason: error.reason)
            }
        }
    }

    /// Records (or with `nil`, clears) the time a row expires.
    @available(*, noasync)
    func set(_ txn: OpaquePointer, _ table: String, _ key: [UInt8], _ date: Date?) throws(KVError) {
        let writer = WriteTransaction(txn: txn)
        let owner = Self.ownerKey(table, key)
        if let old = try expiry(txn, table, key) {
            try writer.rawDelete(byTime, Self.byTimeName, Self.timeKey(old, table, key), value: nil)
            try writer.rawDelete(byKey, Self.byKeyName, owner, value: nil)
        }
        guard let date else { return }
        let time = Self.milliseconds(date)
        try writer.rawPut(byTime, Self.byTimeName, Self.timeKey(time, table, key), [], flags: 0)
        try writer.rawPut(byKey, Self.byKeyName, owner, UInt64Key.encode(time), flags: 0)
    }
}

extension Environment {
    /// Opens a table whose rows may carry an expiry (`put(_:_:_:expiresAt:)`). Expired rows read
    /// as absent at once, and `sweepExpired()` deletes them.
    public func expiringTable<K: Codec, V: Codec>(_ name: String, key: K.Type, value: V.Type) throws(KVError) -> Table<K, V> {
        let expiry = ExpiryTables(
            byTime: try dbi(named: ExpiryTables.byTimeName, flags: 0),
            byKey: try dbi(named: ExpiryTables.byKeyName, flags: 0)
        )
        let table = Table<K, V>(name: name, dbi: try dbi(named: name, flags: 0), expiry: expiry)
        register(name, table.catalogEntry)
        return table
    }

    /// Deletes rows whose expiry is at or before `now`, at most `batchSize` per write transaction
    /// so that other writers are never held up for long. Returns how many were deleted.
    @discardableResult
    public func sweepExpired(now: Date = Date(), batchSize: Int = 256) async throws -> Int {
        var total = 0
        while true {
            let entries = catalog
            let deleted = try await write { txn in
                try Self.sweepBatch(txn, entries: entries, now: now, limit: batchSize)
            }
            total += deleted
            if deleted < batchSize { return total }
        }
    }

    @available(*, noasync)
    static func sweepBatch(_ txn: borrowing WriteTransaction, entries: [String: CatalogEntry], now: Date, limit: Int) throws -> Int {
        var byTime: MDB_dbi = 0, byKey: MDB_dbi = 0
        // The tables exist once any expiring table was opened; without them nothing can expire.
        guard mdb_dbi_open(txn.txn, ExpiryTables.byTimeName, 0, &byTime) == MDB_SUCCESS,
              mdb_dbi_open(txn.txn, ExpiryTables.byKeyName, 0, &byKey) == MDB_SUCCESS
        else { return 0 }
        let expiry = ExpiryTables(byTime: byTime, byKey: byKey)
        var due: [(time: UInt64, table: String, key: [UInt8])] = []
        let upper = UInt64Key.encode(ExpiryTables.milliseconds(now) + 1)
        try txn.walk(byTime, ExpiryTables.byTimeName, KeyBounds(lower: nil, upper: upper), .forward) { (key, _) throws(KVError) in
            var rest = UnsafeRawBufferPointer(start: key.mv_data, count: key.mv_size)[...]
            do throws(CodecError) {
                let time = try UInt64.decodeComponent(from: &rest)
                let table = try String.decodeComponent(from: &rest)
                due.append((time, table, Array(rest)))
            } catch {
                throw .decode(table: ExpiryTables.byTimeName, reason: error.reason)
            }
            return due.count < limit
        }
        for entry in due {
            guard let table = entries[entry.table] else {
                throw KVError.decode(table: ExpiryTables.byTimeName, reason: "expiring rows of table \(entry.table), which is not open")
            }
            try table.deleteEncoded(txn.txn, entry.key)
            try expiry.set(txn.txn, entry.table, entry.key, nil)
        }
        return due.count
    }
}

extension WriteTransaction {
    /// Stores a row of an expiring table that reads as absent from `expiresAt` on.
    @available(*, noasync)
    public func put<K, V>(_ table: Table<K, V>, _ key: K.Value, _ value: V.Value, expiresAt: Date) throws(KVError) {
        guard let expiry = table.expiry else { preconditionFailure("table \(table.name) was not opened with expiringTable") }
        try putRow(table, key, value)
        try expiry.set(txn, table.name, try table.encodeKey(key), expiresAt)
    }
}
