import CLMDB

/// What the environment knows about each opened table, so that whole-store operations
/// (`check`, the expiry sweep) can work on tables whose Swift types they do not know.
struct CatalogEntry: Sendable {
    /// Decodes every row (and proves every index of the table matches it); returns the row count.
    let verify: @Sendable (OpaquePointer, inout [String]) throws(KVError) -> Int
    /// Deletes one row by its encoded key, index entries included.
    let deleteEncoded: @Sendable (OpaquePointer, [UInt8]) throws(KVError) -> Void
    /// The names of the LMDB databases this entry covers (the table and its index tables).
    let databases: [String]
}

extension Table {
    /// The catalog entry of a plain table: every key and value must decode.
    var catalogEntry: CatalogEntry {
        let table = self
        return CatalogEntry(
            verify: { (txn, problems) throws(KVError) in
                var rows = 0
                try ReadTransaction(txn: txn).walk(table.dbi, table.name, KeyBounds(lower: nil, upper: nil), .forward) { (key, value) throws(KVError) in
                    rows += 1
                    do throws(KVError) {
                        _ = try table.decodeKey(key)
                        _ = try table.decodeValue(value)
                    } catch {
                        problems.append("\(error)")
                    }
                    return true
                }
                return rows
            },
            deleteEncoded: { (txn, key) throws(KVError) in
                try key.withMDBVal { (val: inout MDB_val) throws(KVError) in
                    let status = mdb_del(txn, table.dbi, &val, nil)
                    if status != MDB_NOTFOUND { try KVError.check(status, "mdb_del(\(table.name))") }
                }
            },
            databases: [table.name]
        )
    }
}
