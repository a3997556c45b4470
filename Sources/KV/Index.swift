import CLMDB

/// A secondary index of a table: index key → primary key, written in the same write
/// transaction as the row it indexes (see `IndexedTable`). A unique index refuses a second row
/// with the same index key (`KVError.uniqueViolation`); a non-unique one keeps them all, sorted.
public struct IndexDefinition<Row>: Sendable {
    let name: String
    let isUnique: Bool
    let keys: @Sendable (Row) throws(CodecError) -> [[UInt8]]

    /// At most one row per index key; `extract` returns `nil` for a row not in the index.
    public static func unique<IndexKey: Codec>(
        _ name: String, _ key: IndexKey.Type, _ extract: @escaping @Sendable (Row) -> IndexKey.Value?
    ) -> Self {
        Self(name: name, isUnique: true) { (row) throws(CodecError) in
            guard let value = extract(row) else { return [] }
            return [try IndexKey.encode(value)]
        }
    }

    /// Any number of rows per index key, and any number of index keys per row.
    public static func multiple<IndexKey: Codec>(
        _ name: String, _ key: IndexKey.Type, _ extract: @escaping @Sendable (Row) -> [IndexKey.Value]
    ) -> Self {
        Self(name: name, isUnique: false) { (row) throws(CodecError) in
            var keys: [[UInt8]] = []
            for value in extract(row) {
                let bytes = try IndexKey.encode(value)
                if !keys.contains(bytes) { keys.append(bytes) }
            }
            return keys
        }
    }
}

/// An opened index: the LMDB database behind an `IndexDefinition`.
struct OpenIndex<Row>: Sendable {
    let definition: IndexDefinition<Row>
    let dbi: MDB_dbi
    let databaseName: String
}

/// A typed handle to query one index of an `IndexedTable`.
public struct IndexHandle<IndexKey: Codec, Key: Codec>: Sendable {
    let dbi: MDB_dbi
    let name: String
    let isUnique: Bool
}

/// A table and its secondary indexes. Rows written through it keep every index exact in the
/// same transaction; `Environment.check()` proves that they are.
public struct IndexedTable<Key: Codec, Value: Codec>: Sendable {
    public let table: Table<Key, Value>
    let indexes: [OpenIndex<Value.Value>]

    /// The handle for querying the index called `name`.
    public func index<IndexKey: Codec>(_ name: String, _ key: IndexKey.Type) -> IndexHandle<IndexKey, Key> {
        guard let index = indexes.first(where: { $0.definition.name == name }) else {
            preconditionFailure("table \(table.name) has no index \(name)")
        }
        return IndexHandle(dbi: index.dbi, name: index.databaseName, isUnique: index.definition.isUnique)
    }

    func indexKeys(_ index: OpenIndex<Value.Value>, of row: Value.Value) throws(KVError) -> [[UInt8]] {
        do throws(CodecError) { return try index.definition.keys(row) } catch {
            throw .encode(table: index.databaseName, reason: error.reason)
        }
    }
}

extension Environment {
    /// Opens (creating if needed) a table and its indexes. Call at start-up.
    public func indexedTable<K: Codec, V: Codec>(
        _ name: String, key: K.Type, value: V.Type, indexes definitions: [IndexDefinition<V.Value>]
    ) throws(KVError) -> IndexedTable<K, V> {
        let table = Table<K, V>(name: name, dbi: try dbi(named: name, flags: 0))
        var indexes: [OpenIndex<V.Value>] = []
        for definition in definitions {
            let databaseName = "\(name)#\(definition.name)"
            let flags = definition.isUnique ? 0 : UInt32(MDB_DUPSORT)
            indexes.append(OpenIndex(definition: definition, dbi: try dbi(named: databaseName, flags: flags), databaseName: databaseName))
        }
        let indexed = IndexedTable(table: table, indexes: indexes)
        register(name, indexed.catalogEntry)
        return indexed
    }
}

extension WriteTransaction {
    /// Stores the row and brings every index up to date; throws `KVError.uniqueViolation` (and
    /// changes nothing) when a unique index already holds one of its keys for another row.
    @available(*, noasync)
    public func put<K, V>(_ indexed: IndexedTable<K, V>, _ key: K.Value, _ value: V.Value) throws(KVError) {
        let keyBytes = try indexed.table.encodeKey(key)
        let old = try get(indexed.table, key)
        for index in indexed.indexes {
            let oldKeys = try old.map { (row) throws(KVError) in try indexed.indexKeys(index, of: row) } ?? []
            let newKeys = try indexed.indexKeys(index, of: value)
            for indexKey in newKeys where !oldKeys.contains(indexKey) && index.definition.isUnique {
                if let owner = try rawGet(index.dbi, index.databaseName, indexKey), owner != keyBytes {
                    throw .uniqueViolation(index: index.databaseName)
                }
            }
            for indexKey in oldKeys where !newKeys.contains(indexKey) {
                try rawDelete(index.dbi, index.databaseName, indexKey, value: index.definition.isUnique ? nil : keyBytes)
            }
            for indexKey in newKeys where !oldKeys.contains(indexKey) {
                try rawPut(index.dbi, index.databaseName, indexKey, keyBytes, flags: index.definition.isUnique ? 0 : UInt32(MDB_NODUPDATA))
            }
        }
        try put(indexed.table, key, value)
    }

    /// Removes the row and its index entries; returns whether it was present.
    @available(*, noasync)
    @discardableResult
    public func delete<K, V>(_ indexed: IndexedTable<K, V>, _ key: K.Value) throws(KVError) -> Bool {
        try indexed.deleteEncoded(txn, try indexed.table.encodeKey(key))
    }

    /// Empties the index and fills it again from the table's rows.
    @available(*, noasync)
    public func rebuildIndexes<K, V>(_ indexed: IndexedTable<K, V>) throws(KVError) {
        for index in indexed.indexes {
            try KVError.check(mdb_drop(txn, index.dbi, 0), "mdb_drop(\(index.databaseName))")
        }
        var rows: [([UInt8], V.Value)] = []
        try walk(indexed.table.dbi, indexed.table.name, KeyBounds(lower: nil, upper: nil), .forward) { (key, value) throws(KVError) in
            rows.append((Array(UnsafeRawBufferPointer(start: key.mv_data, count: key.mv_size)), try indexed.table.decodeValue(value)))
            return true
        }
        for (keyBytes, row) in rows {
            for index in indexed.indexes {
                for indexKey in try indexed.indexKeys(index, of: row) {
                    if index.definition.isUnique, let owner = try rawGet(index.dbi, index.databaseName, indexKey), owner != keyBytes {
                        throw .uniqueViolation(index: index.databaseName)
                    }
                    try rawPut(index.dbi, index.databaseName, indexKey, keyBytes, flags: index.definition.isUnique ? 0 : UInt32(MDB_NODUPDATA))
                }
            }
        }
    }

    func rawPut(_ dbi: MDB_dbi, _ name: String, _ key: [UInt8], _ value: [UInt8], flags: UInt32) throws(KVError) {
        try key.withMDBVal { (keyVal: inout MDB_val) throws(KVError) in
            try value.withMDBVal { (data: inout MDB_val) throws(KVError) in
                let status = mdb_put(txn, dbi, &keyVal, &data, flags)
                if status == MDB_KEYEXIST && flags & UInt32(MDB_NODUPDATA) != 0 { return }
                try KVError.check(status, "mdb_put(\(name))")
            }
        }
    }

    func rawDelete(_ dbi: MDB_dbi, _ name: String, _ key: [UInt8], value: [UInt8]?) throws(KVError) {
        try key.withMDBVal { (keyVal: inout MDB_val) throws(KVError) in
            let status: Int32
            if let value {
                status = try value.withMDBVal { (data: inout MDB_val) throws(KVError) -> Int32 in mdb_del(txn, dbi, &keyVal, &data) }
            } else {
                status = mdb_del(txn, dbi, &keyVal, nil)
            }
            if status != MDB_NOTFOUND { try KVError.check(status, "mdb_del(\(name))") }
        }
    }
}

extension ReadableTransaction where Self: ~Copyable {
    /// The row whose unique index key is `indexKey`, or `nil`.
    /// - Complexity: O(log n)
    @available(*, noasync)
    public func get<IK, K, V>(_ indexed: IndexedTable<K, V>, _ index: IndexHandle<IK, K>, _ indexKey: IK.Value) throws(KVError) -> (key: K.Value, value: V.Value)? {
        precondition(index.isUnique, "\(index.name) is not unique; use primaryKeys(_:_:)")
        let encoded: [UInt8]
        do throws(CodecError) { encoded = try IK.encode(indexKey) } catch { throw .encode(table: index.name, reason: error.reason) }
        guard let owner = try rawGet(index.dbi, index.name, encoded) else { return nil }
        let key = try owner.withMDBVal { (val: inout MDB_val) throws(KVError) in try indexed.table.decodeKey(val) }
        guard let value = try get(indexed.table, key) else {
            throw .decode(table: index.name, reason: "index entry points to a missing row")
        }
        return (key, value)
    }

    /// The primary keys of every row indexed under `indexKey`, in key order.
    /// - Complexity: O(log n + matches)
    @available(*, noasync)
    public func primaryKeys<IK, K>(_ index: IndexHandle<IK, K>, _ indexKey: IK.Value) throws(KVError) -> [K.Value] {
        let encoded: [UInt8]
        do throws(CodecError) { encoded = try IK.encode(indexKey) } catch { throw .encode(table: index.name, reason: error.reason) }
        var keys: [K.Value] = []
        var cursor: OpaquePointer?
        try KVError.check(mdb_cursor_open(txn, index.dbi, &cursor), "mdb_cursor_open(\(index.name))")
        defer { mdb_cursor_close(cursor) }
        try encoded.withMDBVal { (probe: inout MDB_val) throws(KVError) in
            var value = MDB_val()
            var status = mdb_cursor_get(cursor, &probe, &value, MDB_SET_KEY)
            while status == MDB_SUCCESS {
                do throws(CodecError) {
                    keys.append(try K.decode(UnsafeRawBufferPointer(start: value.mv_data, count: value.mv_size)))
                } catch {
                    throw .decode(table: index.name, reason: error.reason)
                }
                status = mdb_cursor_get(cursor, &probe, &value, index.isUnique ? MDB_NEXT_NODUP : MDB_NEXT_DUP)
                if index.isUnique { break }
            }
            if status != MDB_NOTFOUND && status != MDB_SUCCESS { try KVError.check(status, "mdb_cursor_get(\(index.name))") }
        }
        return keys
    }

    /// The raw value stored under `key`, copied out of the map.
    @available(*, noasync)
    func rawGet(_ dbi: MDB_dbi, _ name: String, _ key: [UInt8]) throws(KVError) -> [UInt8]? {
        try key.withMDBVal { (keyVal: inout MDB_val) throws(KVError) -> [UInt8]? in
            var data = MDB_val()
            let status = mdb_get(txn, dbi, &keyVal, &data)
            if status == MDB_NOTFOUND { return nil }
            try KVError.check(status, "mdb_get(\(name))")
            return Array(UnsafeRawBufferPointer(start: data.mv_data, count: data.mv_size))
        }
    }

    /// Whether the exact (key, value) pair is in a DUPSORT database.
    @available(*, noasync)
    func rawContains(_ dbi: MDB_dbi, _ name: String, _ key: [UInt8], _ value: [UInt8]) throws(KVError) -> Bool {
        var cursor: OpaquePointer?
        try KVError.check(mdb_cursor_open(txn, dbi, &cursor), "mdb_cursor_open(\(name))")
        defer { mdb_cursor_close(cursor) }
        return try key.withMDBVal { (keyVal: inout MDB_val) throws(KVError) -> Bool in
            try value.withMDBVal { (data: inout MDB_val) throws(KVError) -> Bool in
                let status = mdb_cursor_get(cursor, &keyVal, &data, MDB_GET_BOTH)
                if status == MDB_NOTFOUND { return false }
                try KVError.check(status, "mdb_cursor_get(\(name))")
                return true
            }
        }
    }

    /// The number of entries (key-value pairs, duplicates counted) in a database.
    @available(*, noasync)
    func rawCount(_ dbi: MDB_dbi, _ name: String) throws(KVError) -> Int {
        var stat = MDB_stat()
        try KVError.check(mdb_stat(txn, dbi, &stat), "mdb_stat(\(name))")
        return stat.ms_entries
    }
}

extension IndexedTable {
    /// Deletes a row by encoded key with its index entries; returns whether it was present.
    @available(*, noasync)
    func deleteEncoded(_ txn: OpaquePointer, _ keyBytes: [UInt8]) throws(KVError) -> Bool {
        let write = WriteTransaction(txn: txn)
        guard let stored = try write.rawGet(table.dbi, table.name, keyBytes) else { return false }
        let row = try stored.withMDBVal { (val: inout MDB_val) throws(KVError) in try table.decodeValue(val) }
        for index in indexes {
            for indexKey in try indexKeys(index, of: row) {
                try write.rawDelete(index.dbi, index.databaseName, indexKey, value: index.definition.isUnique ? nil : keyBytes)
            }
        }
        try write.rawDelete(table.dbi, table.name, keyBytes, value: nil)
        return true
    }

    /// Decodes every row and proves each index holds exactly the entries its rows imply.
    var catalogEntry: CatalogEntry {
        let indexed = self
        let plain = table.catalogEntry
        return CatalogEntry(
            verify: { (txn, problems) throws(KVError) in
                let reader = ReadTransaction(txn: txn)
                var expected = [Int](repeating: 0, count: indexed.indexes.count)
                var rows = 0
                try reader.walk(indexed.table.dbi, indexed.table.name, KeyBounds(lower: nil, upper: nil), .forward) { (key, value) throws(KVError) in
                    rows += 1
                    let keyBytes = Array(UnsafeRawBufferPointer(start: key.mv_data, count: key.mv_size))
                    let row: Value.Value
                    do throws(KVError) {
                        _ = try indexed.table.decodeKey(key)
                        row = try indexed.table.decodeValue(value)
                    } catch {
                        problems.append("\(error)")
                        return true
                    }
                    for (position, index) in indexed.indexes.enumerated() {
                        for indexKey in try indexed.indexKeys(index, of: row) {
                            expected[position] += 1
                            let present = index.definition.isUnique
                                ? try reader.rawGet(index.dbi, index.databaseName, indexKey) == keyBytes
                                : try reader.rawContains(index.dbi, index.databaseName, indexKey, keyBytes)
                            if !present { problems.append("index \(index.databaseName) lacks an entry for a row of \(indexed.table.name)") }
                        }
                    }
                    return true
                }
                for (position, index) in indexed.indexes.enumerated() {
                    let actual = try reader.rawCount(index.dbi, index.databaseName)
                    if actual != expected[position] {
                        problems.append("index \(index.databaseName) has \(actual) entries; its table implies \(expected[position])")
                    }
                }
                return rows
            },
            deleteEncoded: { (txn, key) throws(KVError) in _ = try indexed.deleteEncoded(txn, key) },
            databases: plain.databases + indexed.indexes.map(\.databaseName)
        )
    }
}
