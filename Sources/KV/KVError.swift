import CLMDB

/// Every failure the KV layer reports. LMDB return codes become `KVError` in one place,
/// `KVError.check(_:_:)`; callers never see a raw status.
public enum KVError: Error, Equatable, CustomStringConvertible {
    /// An LMDB call failed. `operation` names the call, `code` is LMDB's or errno's value.
    case lmdb(operation: String, code: Int32)
    /// The map reached `Options.maximumMapSize` and cannot grow further.
    case storageFull(mapSize: Int)
    /// A stored value or key could not be decoded as the table's codec expects.
    case decode(table: String, reason: String)
    /// A value or key could not be encoded by the table's codec.
    case encode(table: String, reason: String)
    /// A unique index already holds this key for another row.
    case uniqueViolation(index: String)
    /// The data directory was written by a newer schema than this binary knows.
    case schemaTooNew(found: Int, supported: Int)
    /// gzip data could not be compressed or decompressed.
    case compression(String)
    /// A continuation token that this store did not issue for this scan.
    case invalidContinuation
    /// The environment was closed; no new transaction can start.
    case closed
    /// The file at a path is not what the operation expects (backup, restore, data directory).
    case invalidFile(path: String, reason: String)

    public var description: String {
        switch self {
        case let .lmdb(operation, code):
            "\(operation) failed: \(String(cString: mdb_strerror(code))) (\(code))"
        case let .storageFull(mapSize):
            "storage is full: the map reached its ceiling of \(mapSize) bytes"
        case let .decode(table, reason):
            "cannot decode a record of table '\(table)': \(reason)"
        case let .encode(table, reason):
            "cannot encode a record for table '\(table)': \(reason)"
        case let .uniqueViolation(index):
            "unique index '\(index)' already holds this key"
        case let .schemaTooNew(found, supported):
            "the data directory has schema version \(found), newer than this binary's \(supported); use a newer portal"
        case let .compression(reason):
            "gzip: \(reason)"
        case .invalidContinuation:
            "the continuation token is not valid for this listing"
        case .closed:
            "the storage environment is closed"
        case let .invalidFile(path, reason):
            "\(path): \(reason)"
        }
    }

    /// Whether LMDB ran out of map space (the writer grows the map and retries).
    var isMapFull: Bool {
        if case let .lmdb(_, code) = self { return code == MDB_MAP_FULL }
        return false
    }

    /// Turns an LMDB status into a thrown error; `MDB_SUCCESS` returns normally.
    @inline(__always)
    static func check(_ status: Int32, _ operation: @autoclosure () -> String) throws(KVError) {
        guard status == MDB_SUCCESS else { throw .lmdb(operation: operation(), code: status) }
    }
}
