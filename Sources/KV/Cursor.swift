public import CLMDB

extension ReadableTransaction where Self: ~Copyable {
    /// The row with the greatest key, or `nil` when the table is empty.
    /// - Complexity: O(log n)
    @available(*, noasync)
    public func last<K, V>(_ table: Table<K, V>) throws(KVError) -> (key: K.Value, value: V.Value)? {
        try firstOrLast(table, op: MDB_LAST)
    }

    /// The row with the smallest key, or `nil` when the table is empty.
    /// - Complexity: O(log n)
    @available(*, noasync)
    public func first<K, V>(_ table: Table<K, V>) throws(KVError) -> (key: K.Value, value: V.Value)? {
        try firstOrLast(table, op: MDB_FIRST)
    }

    private func firstOrLast<K, V>(_ table: Table<K, V>, op: MDB_cursor_op) throws(KVError) -> (key: K.Value, value: V.Value)? {
        var cursor: OpaquePointer?
        try KVError.check(mdb_cursor_open(txn, table.dbi, &cursor), "mdb_cursor_open(\(table.name))")
        defer { mdb_cursor_close(cursor) }
        var key = MDB_val(), data = MDB_val()
        let status = mdb_cursor_get(cursor, &key, &data, op)
        if status == MDB_NOTFOUND { return nil }
        try KVError.check(status, "mdb_cursor_get(\(table.name))")
        return (try table.decodeKey(key), try table.decodeValue(data))
    }
}
