import CLMDB
import Synchronization

/// The read operations shared by read and write transactions.
///
/// Values LMDB returns point into the map and are valid only until the transaction ends;
/// every method here decodes them into owned values before it returns.
public protocol ReadableTransaction: ~Copyable {
    var txn: OpaquePointer { get }
}

/// A read-only snapshot of the environment, alive only inside `Environment.read(_:)`.
public struct ReadTransaction: ~Copyable, ReadableTransaction {
    public let txn: OpaquePointer
}

/// A write transaction, alive only inside a closure passed to `Environment.write(_:)`.
/// It can read its own writes. Its caller (the group-commit writer) commits or aborts it.
public struct WriteTransaction: ~Copyable, ReadableTransaction {
    public let txn: OpaquePointer
    /// Set for the transaction of a write request; `nil` for internal views of a raw handle.
    let hooks: TransactionHooks?

    init(txn: OpaquePointer, hooks: TransactionHooks? = nil) {
        self.txn = txn
        self.hooks = hooks
    }

    /// Runs `action` on the writer thread once the batch holding this write has committed
    /// durably, before any caller of the batch is resumed. Keeps in-memory state (a search
    /// index, say) in step with what was committed.
    public func afterCommit(_ action: @escaping () -> Void) {
        hooks!.committed.append(action)
    }

    /// Runs `action` on the writer thread if this write's changes are rolled back: its body
    /// threw, or the whole batch was aborted (to grow the map and run again, or because the
    /// commit failed). Actions run newest first, and across requests in reverse order.
    public func onRollback(_ action: @escaping () -> Void) {
        hooks!.rolledBack.append(action)
    }
}

/// The actions one write request registered on its transaction's outcome. Used only on the
/// writer thread.
final class TransactionHooks {
    var committed: [() -> Void] = []
    var rolledBack: [() -> Void] = []

    func runCommitted() {
        for action in committed { action() }
    }

    func runRolledBack() {
        for action in rolledBack.reversed() { action() }
        rolledBack.removeAll()
        committed.removeAll()
    }
}

extension ReadableTransaction where Self: ~Copyable {
    /// The value stored under `key`, or `nil`.
    /// - Complexity: O(log n)
    @available(*, noasync)
    public func get<K, V>(_ table: Table<K, V>, _ key: K.Value) throws(KVError) -> V.Value? {
        let keyBytes = try table.encodeKey(key)
        if try table.isExpired(txn, keyBytes) { return nil }
        return try keyBytes.withMDBVal { (keyVal: inout MDB_val) throws(KVError) -> V.Value? in
            var data = MDB_val()
            let status = mdb_get(txn, table.dbi, &keyVal, &data)
            if status == MDB_NOTFOUND { return nil }
            try KVError.check(status, "mdb_get(\(table.name))")
            return try table.decodeValue(data)
        }
    }

    /// Whether `key` is present.
    @available(*, noasync)
    public func exists<K, V>(_ table: Table<K, V>, _ key: K.Value) throws(KVError) -> Bool {
        let keyBytes = try table.encodeKey(key)
        if try table.isExpired(txn, keyBytes) { return false }
        return try rawGet(table.dbi, table.name, keyBytes) != nil
    }

    /// The number of rows in `table`.
    /// - Complexity: O(1)
    @available(*, noasync)
    public func count<K, V>(_ table: Table<K, V>) throws(KVError) -> Int {
        var stat = MDB_stat()
        try KVError.check(mdb_stat(txn, table.dbi, &stat), "mdb_stat(\(table.name))")
        return stat.ms_entries
    }
}

extension WriteTransaction {
    /// Stores `value` under `key`, replacing any previous value.
    @available(*, noasync)
    public func put<K, V>(_ table: Table<K, V>, _ key: K.Value, _ value: V.Value) throws(KVError) {
        try putRow(table, key, value)
        if let expiry = table.expiry { try expiry.set(txn, table.name, try table.encodeKey(key), nil) }
    }

    /// Stores the row only, leaving any expiry bookkeeping to the caller.
    @available(*, noasync)
    func putRow<K, V>(_ table: Table<K, V>, _ key: K.Value, _ value: V.Value) throws(KVError) {
        let valueBytes = try table.encodeValue(value)
        try table.withEncodedKey(key) { (keyVal: inout MDB_val) throws(KVError) in
            try valueBytes.withMDBVal { (data: inout MDB_val) throws(KVError) in
                try KVError.check(mdb_put(txn, table.dbi, &keyVal, &data, 0), "mdb_put(\(table.name))")
            }
        }
    }

    /// Removes `key`; returns whether it was present.
    @available(*, noasync)
    @discardableResult
    public func delete<K, V>(_ table: Table<K, V>, _ key: K.Value) throws(KVError) -> Bool {
        if let expiry = table.expiry { try expiry.set(txn, table.name, try table.encodeKey(key), nil) }
        return try table.withEncodedKey(key) { (keyVal: inout MDB_val) throws(KVError) -> Bool in
            let status = mdb_del(txn, table.dbi, &keyVal, nil)
            if status == MDB_NOTFOUND { return false }
            try KVError.check(status, "mdb_del(\(table.name))")
            return true
        }
    }
}

extension Environment {
    /// Runs `body` in a read-only snapshot. Readers never block the writer or each other.
    /// `body` is synchronous, so the transaction cannot outlive an `await`.
    ///
    /// When another process (the portal serving, while a command reads its data) grew the map
    /// since this one mapped it, the larger map is adopted and the read starts again.
    public func read<R>(_ body: (borrowing ReadTransaction) throws -> R) throws -> R {
        do {
            return try readOnce(body)
        } catch KVError.lmdb(_, MDB_MAP_RESIZED) {
            try adoptGrownMap()
            return try readOnce(body)
        }
    }

    private func readOnce<R>(_ body: (borrowing ReadTransaction) throws -> R) throws -> R {
        try mapLock.withShared {
            try ensureOpen()
            var txn: OpaquePointer?
            try KVError.check(mdb_txn_begin(handle, nil, UInt32(MDB_RDONLY), &txn), "mdb_txn_begin(read)")
            defer { mdb_txn_abort(txn) }
            return try body(ReadTransaction(txn: txn!))
        }
    }
}

extension Environment {
    /// Runs `body` in a write transaction and returns once the transaction is durably committed.
    ///
    /// Concurrent calls are grouped into one commit (see `GroupCommitWriter`). If `body` throws,
    /// its changes are rolled back and the error is rethrown; other writes in the same batch are
    /// unaffected. `body` may run more than once (when the map has to grow), so it must not have
    /// effects outside the transaction.
    public func write<R: Sendable>(_ body: @escaping @Sendable (borrowing WriteTransaction) throws -> R) async throws -> R {
        try await withCheckedThrowingContinuation { (continuation: CheckedContinuation<R, any Error>) in
            let request = GroupCommitWriter.Request(
                run: { txn in
                    do {
                        let value = try body(txn)
                        return .init(error: nil, resume: { continuation.resume(returning: value) })
                    } catch {
                        return .init(error: error, resume: { continuation.resume(throwing: error) })
                    }
                },
                fail: { error in continuation.resume(throwing: error) }
            )
            writer.enqueue(request, environment: self)
        }
    }

    /// Counters of the group-commit writer.
    public var writerStatistics: WriterStatistics { writer.statistics.withLock { $0 } }
}
