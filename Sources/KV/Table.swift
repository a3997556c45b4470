import CLMDB
import FoundationEssentials

/// A typed handle on one LMDB named database. The codecs fix how keys and values are stored;
/// open tables with `Environment.table(_:key:value:)` at start-up.
public struct Table<Key: Codec, Value: Codec>: Sendable {
    public let name: String
    let dbi: MDB_dbi
    /// Set for tables opened with `expiringTable`: their rows may carry an expiry.
    var expiry: ExpiryTables? = nil

    /// Whether the row under `keyBytes` has expired by now (always `false` for other tables).
    @available(*, noasync)
    func isExpired(_ txn: OpaquePointer, _ keyBytes: [UInt8]) throws(KVError) -> Bool {
        guard let expiry, let time = try expiry.expiry(txn, name, keyBytes) else { return false }
        return time <= ExpiryTables.milliseconds(Date())
    }

    @available(*, noasync)
    func isExpired(_ txn: OpaquePointer, _ key: MDB_val) throws(KVError) -> Bool {
        guard expiry != nil else { return false }
        return try isExpired(txn, Array(UnsafeRawBufferPointer(start: key.mv_data, count: key.mv_size)))
    }

    /// The same rows read through another value codec, such as `RawBytes` for a check that
    /// must see bytes that no longer decode. Not registered with the environment again.
    public func viewing<Other: Codec>(as _: Other.Type) -> Table<Key, Other> {
        Table<Key, Other>(name: name, dbi: dbi, expiry: expiry)
    }

    func encodeKey(_ key: Key.Value) throws(KVError) -> [UInt8] {
        do throws(CodecError) { return try Key.encode(key) } catch { throw .encode(table: name, reason: "key: \(error.reason)") }
    }

    func withEncodedKey<R>(_ key: Key.Value, _ body: (inout MDB_val) throws(KVError) -> R) throws(KVError) -> R {
        try encodeKey(key).withMDBVal(body)
    }

    func encodeValue(_ value: Value.Value) throws(KVError) -> [UInt8] {
        do throws(CodecError) { return try Value.encode(value) } catch { throw .encode(table: name, reason: error.reason) }
    }

    func decodeKey(_ val: MDB_val) throws(KVError) -> Key.Value {
        do throws(CodecError) {
            return try Key.decode(UnsafeRawBufferPointer(start: val.mv_data, count: val.mv_size))
        } catch {
            throw .decode(table: name, reason: "key: \(error.reason)")
        }
    }

    func decodeValue(_ val: MDB_val) throws(KVError) -> Value.Value {
        do throws(CodecError) {
            return try Value.decode(UnsafeRawBufferPointer(start: val.mv_data, count: val.mv_size))
        } catch {
            throw .decode(table: name, reason: error.reason)
        }
    }
}

extension Array where Element == UInt8 {
    /// Lends the bytes to LMDB as an `MDB_val` for the duration of `body`.
    /// (`Array.withUnsafeBytes` rethrows untyped errors, so the typed error travels in a `Result`.)
    func withMDBVal<R, E: Error>(_ body: (inout MDB_val) throws(E) -> R) throws(E) -> R {
        let result: Result<R, E> = withUnsafeBytes { raw in
            var val = MDB_val(mv_size: raw.count, mv_data: UnsafeMutableRawPointer(mutating: raw.baseAddress))
            do throws(E) {
                return .success(try body(&val))
            } catch {
                return .failure(error)
            }
        }
        return try result.get()
    }
}
