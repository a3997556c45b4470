import Benchmark
import CLMDB
import CSQLite
import Foundation
import KV

/// Storage benchmarks, side by side in one run: the typed KV API, raw LMDB C calls on the same
/// data, and SQLite (WAL, synchronous=FULL) — point gets, 1,000-row range scans, durable single
/// writes, and group commit with 1, 8 and 64 concurrent writers. `scripts/bench-kv.sh` runs it
/// and prints the ratios.
let benchmarks: @Sendable () -> Void = {
    Benchmark.defaultConfiguration = .init(metrics: [.wallClock, .throughput], maxDuration: .seconds(3), maxIterations: 1_000_000)
    let rows: UInt64 = 100_000
    let fixture = StorageFixture(rows: rows)
    codecBenchmarks()

    // Point gets.
    Benchmark("get: KV typed") { benchmark in
        var generator = SplitMix(seed: 1)
        for _ in benchmark.scaledIterations {
            let key = generator.next() % rows
            blackHole(try fixture.reads.read { try $0.get(fixture.readTable, key) })
        }
    }
    Benchmark("get: LMDB raw") { benchmark in
        var generator = SplitMix(seed: 1)
        for _ in benchmark.scaledIterations {
            blackHole(fixture.rawGet(generator.next() % rows))
        }
    }
    Benchmark("get: SQLite") { benchmark in
        var generator = SplitMix(seed: 1)
        for _ in benchmark.scaledIterations {
            blackHole(fixture.sqlite.get(Int64(generator.next() % rows)))
        }
    }

    // 1,000-row range scans.
    Benchmark("scan 1000: KV typed", configuration: .init(maxIterations: 100_000)) { benchmark in
        var generator = SplitMix(seed: 2)
        for _ in benchmark.scaledIterations {
            let start = generator.next() % (rows - 1_000)
            var sum = 0
            try fixture.reads.read { txn in
                try txn.forEach(fixture.readTable, from: start, to: start + 1_000) { _, value in sum &+= value.count; return true }
            }
            blackHole(sum)
        }
    }
    Benchmark("scan 1000: LMDB raw", configuration: .init(maxIterations: 100_000)) { benchmark in
        var generator = SplitMix(seed: 2)
        for _ in benchmark.scaledIterations {
            blackHole(fixture.rawScan(from: generator.next() % (rows - 1_000), count: 1_000))
        }
    }
    Benchmark("scan 1000: SQLite", configuration: .init(maxIterations: 100_000)) { benchmark in
        var generator = SplitMix(seed: 2)
        for _ in benchmark.scaledIterations {
            blackHole(fixture.sqlite.scan(from: Int64(generator.next() % (rows - 1_000)), count: 1_000))
        }
    }

    // Durable single writes: one transaction, one fsync, per write.
    let durable = Benchmark.Configuration(maxDuration: .seconds(3), maxIterations: 3_000)
    Benchmark("durable write: KV typed, 1 writer", configuration: durable) { benchmark in
        for _ in benchmark.scaledIterations {
            let key = fixture.nextKey()
            try await fixture.writes.write { txn in try txn.put(fixture.writeTable, key, fixture.value) }
        }
    }
    Benchmark("durable write: LMDB raw", configuration: durable) { benchmark in
        for _ in benchmark.scaledIterations { fixture.rawDurablePut(fixture.nextKey()) }
    }
    Benchmark("durable write: SQLite WAL FULL", configuration: durable) { benchmark in
        for _ in benchmark.scaledIterations { fixture.sqlite.put(Int64(fixture.nextKey()), fixture.value) }
    }

    // Group commit: one iteration is `writers` concurrent durable writes; throughput below is
    // batches per second, so writes per second = throughput x writers.
    for writers in [8, 64] {
        Benchmark("group commit: KV typed, \(writers) writers (per \(writers) writes)",
                  configuration: .init(maxDuration: .seconds(3), maxIterations: 1_000)) { benchmark in
            for _ in benchmark.scaledIterations {
                try await withThrowingTaskGroup(of: Void.self) { group in
                    for _ in 0..<writers {
                        let key = fixture.nextKey()
                        group.addTask { try await fixture.writes.write { txn in try txn.put(fixture.writeTable, key, fixture.value) } }
                    }
                    try await group.waitForAll()
                }
            }
        }
    }
}

/// A small deterministic generator so every contender reads the same keys.
struct SplitMix {
    var state: UInt64
    init(seed: UInt64) { state = seed }
    mutating func next() -> UInt64 {
        state &+= 0x9E37_79B9_7F4A_7C15
        var z = state
        z = (z ^ (z >> 30)) &* 0xBF58_476D_1CE4_E5B9
        z = (z ^ (z >> 27)) &* 0x94D0_49BB_1331_11EB
        return z ^ (z >> 31)
    }
}

/// The same 100,000 rows (UInt64 key, 100-byte value) in a KV environment and in SQLite, plus
/// a durable KV environment, a raw LMDB handle on a durable environment, and a durable SQLite
/// database for writes. Everything lives in a temporary directory.
final class StorageFixture: @unchecked Sendable {
    let reads: KV.Environment
    let readTable: Table<UInt64Key, RawBytes>
    let writes: KV.Environment
    let writeTable: Table<UInt64Key, RawBytes>
    let sqlite: SQLiteTable
    let rawWriteEnvironment: OpaquePointer
    var rawWriteDBI: MDB_dbi = 0
    let value = [UInt8](repeating: 0x5A, count: 100)
    private let keyLock = NSLock()
    private var key: UInt64 = 1 << 40

    init(rows: UInt64) {
        let base = FileManager.default.temporaryDirectory.appendingPathComponent("portal-bench-\(UUID().uuidString)").path
        var fast = KV.Environment.Options()
        fast.syncOnCommit = false
        reads = try! KV.Environment(directory: base + "-reads", options: fast)
        readTable = try! reads.table("rows", key: UInt64Key.self, value: RawBytes.self)
        writes = try! KV.Environment(directory: base + "-writes")
        writeTable = try! writes.table("rows", key: UInt64Key.self, value: RawBytes.self)
        sqlite = SQLiteTable(path: base + "-sqlite.db")

        var env: OpaquePointer?
        mdb_env_create(&env)
        mdb_env_set_maxdbs(env, 4)
        mdb_env_set_mapsize(env, 1 << 30)
        mkdir(base + "-raw", 0o700)
        precondition(mdb_env_open(env, base + "-raw", UInt32(MDB_NOTLS), 0o600) == 0)
        rawWriteEnvironment = env!
        var txn: OpaquePointer?
        mdb_txn_begin(env, nil, 0, &txn)
        mdb_dbi_open(txn, "rows", UInt32(MDB_CREATE), &rawWriteDBI)
        mdb_txn_commit(txn)

        let semaphore = DispatchSemaphore(value: 0)
        let reads = self.reads, table = self.readTable, value = self.value
        Task {
            try! await reads.write { txn in
                for key in 0..<rows { try txn.put(table, key, value) }
            }
            semaphore.signal()
        }
        semaphore.wait()
        sqlite.fill(rows: Int64(rows), value: value)
    }

    func nextKey() -> UInt64 {
        keyLock.lock()
        defer { keyLock.unlock() }
        key += 1
        return key
    }

    /// What a hand-written LMDB caller does: a read transaction, mdb_get, copy out, abort.
    func rawGet(_ key: UInt64) -> Int {
        var txn: OpaquePointer?
        mdb_txn_begin(reads.rawHandleForBenchmarks, nil, UInt32(MDB_RDONLY), &txn)
        defer { mdb_txn_abort(txn) }
        var big = key.bigEndian
        var keyVal = MDB_val(mv_size: 8, mv_data: &big)
        var data = MDB_val()
        guard mdb_get(txn, readTable.dbiForBenchmarks, &keyVal, &data) == 0 else { return -1 }
        return Array(UnsafeRawBufferPointer(start: data.mv_data, count: data.mv_size)).count
    }

    func rawScan(from start: UInt64, count: Int) -> Int {
        var txn: OpaquePointer?
        mdb_txn_begin(reads.rawHandleForBenchmarks, nil, UInt32(MDB_RDONLY), &txn)
        defer { mdb_txn_abort(txn) }
        var cursor: OpaquePointer?
        mdb_cursor_open(txn, readTable.dbiForBenchmarks, &cursor)
        defer { mdb_cursor_close(cursor) }
        var big = start.bigEndian
        var keyVal = MDB_val(mv_size: 8, mv_data: &big)
        var data = MDB_val()
        var sum = 0
        var status = mdb_cursor_get(cursor, &keyVal, &data, MDB_SET_RANGE)
        var seen = 0
        while status == 0 && seen < count {
            sum &+= Array(UnsafeRawBufferPointer(start: data.mv_data, count: data.mv_size)).count
            seen += 1
            status = mdb_cursor_get(cursor, &keyVal, &data, MDB_NEXT)
        }
        return sum
    }

    func rawDurablePut(_ key: UInt64) {
        var txn: OpaquePointer?
        mdb_txn_begin(rawWriteEnvironment, nil, 0, &txn)
        var big = key.bigEndian
        var keyVal = MDB_val(mv_size: 8, mv_data: &big)
        value.withUnsafeBytes { bytes in
            var data = MDB_val(mv_size: bytes.count, mv_data: UnsafeMutableRawPointer(mutating: bytes.baseAddress))
            precondition(mdb_put(txn, rawWriteDBI, &keyVal, &data, 0) == 0)
        }
        precondition(mdb_txn_commit(txn) == 0)
    }
}

/// One SQLite table `rows(id INTEGER PRIMARY KEY, value BLOB)` in WAL mode with
/// synchronous=FULL (a commit is durable when it returns), with prepared statements.
final class SQLiteTable: @unchecked Sendable {
    let db: OpaquePointer
    let getStatement: OpaquePointer
    let scanStatement: OpaquePointer
    let putStatement: OpaquePointer
    let lock = NSLock()

    init(path: String) {
        var db: OpaquePointer?
        precondition(sqlite3_open(path, &db) == SQLITE_OK)
        self.db = db!
        for sql in ["PRAGMA journal_mode=WAL", "PRAGMA synchronous=FULL", "CREATE TABLE rows(id INTEGER PRIMARY KEY, value BLOB NOT NULL)"] {
            precondition(sqlite3_exec(db, sql, nil, nil, nil) == SQLITE_OK, String(cString: sqlite3_errmsg(db)))
        }
        func prepare(_ sql: String) -> OpaquePointer {
            var statement: OpaquePointer?
            precondition(sqlite3_prepare_v2(db, sql, -1, &statement, nil) == SQLITE_OK)
            return statement!
        }
        getStatement = prepare("SELECT value FROM rows WHERE id = ?")
        scanStatement = prepare("SELECT value FROM rows WHERE id >= ? ORDER BY id LIMIT ?")
        putStatement = prepare("INSERT OR REPLACE INTO rows(id, value) VALUES(?, ?)")
    }

    func fill(rows: Int64, value: [UInt8]) {
        sqlite3_exec(db, "BEGIN", nil, nil, nil)
        for id in 0..<rows { put(id, value, inTransaction: true) }
        sqlite3_exec(db, "COMMIT", nil, nil, nil)
    }

    func get(_ id: Int64) -> Int {
        lock.lock()
        defer { lock.unlock() }
        sqlite3_bind_int64(getStatement, 1, id)
        defer { sqlite3_reset(getStatement) }
        guard sqlite3_step(getStatement) == SQLITE_ROW else { return -1 }
        let count = Int(sqlite3_column_bytes(getStatement, 0))
        return Array(UnsafeRawBufferPointer(start: sqlite3_column_blob(getStatement, 0), count: count)).count
    }

    func scan(from id: Int64, count: Int) -> Int {
        lock.lock()
        defer { lock.unlock() }
        sqlite3_bind_int64(scanStatement, 1, id)
        sqlite3_bind_int64(scanStatement, 2, Int64(count))
        defer { sqlite3_reset(scanStatement) }
        var sum = 0
        while sqlite3_step(scanStatement) == SQLITE_ROW {
            let bytes = Int(sqlite3_column_bytes(scanStatement, 0))
            sum &+= Array(UnsafeRawBufferPointer(start: sqlite3_column_blob(scanStatement, 0), count: bytes)).count
        }
        return sum
    }

    func put(_ id: Int64, _ value: [UInt8], inTransaction: Bool = false) {
        lock.lock()
        defer { lock.unlock() }
        sqlite3_bind_int64(putStatement, 1, id)
        _ = value.withUnsafeBytes { sqlite3_bind_blob(putStatement, 2, $0.baseAddress, Int32($0.count), nil) }
        precondition(sqlite3_step(putStatement) == SQLITE_DONE)
        sqlite3_reset(putStatement)
    }
}
