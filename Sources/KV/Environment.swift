public import CLMDB
import Glibc
import Synchronization

/// One LMDB environment: a directory holding `data.mdb` and `lock.mdb`, the tables inside it,
/// and the single writer that all writes go through.
///
/// LMDB's contract, restated where we wrap it:
/// - a value read from a transaction is valid only until that transaction ends, so every read
///   decodes into owned Swift values before returning;
/// - a transaction belongs to the thread that runs it; we open the environment with
///   `MDB_NOTLS` so read transactions are not tied to a thread's slot, and our transaction
///   types are `~Copyable` and `noasync` so they never cross an `await`;
/// - there is one writer at a time; `write(_:)` sends every write through `GroupCommitWriter`.
///
/// Data files are created with mode 0600. Stale reader slots left by killed processes are
/// cleared at open with `mdb_reader_check` (LMDB itself resets the reader table when the
/// opener is the only process; the check covers opening next to another, such as
/// `portal backup` beside a running server).
public final class Environment: Sendable {
    /// How the environment is opened.
    public struct Options: Sendable {
        /// The initial map size in bytes; the map grows by doubling when a write fills it.
        public var mapSize: Int = 64 << 20
        /// The ceiling the map may grow to; past it a write fails with `KVError.storageFull`.
        public var maximumMapSize: Int = 64 << 30
        /// How many named tables (including index tables) the environment can hold.
        public var maximumTables: Int = 256
        /// `true` (the default) syncs every commit to disk: an acknowledged write survives power loss.
        public var syncOnCommit: Bool = true

        public init() {}
    }

    /// The `MDB_env*`. LMDB allows using an environment from any thread; transactions are
    /// what must stay on one thread, and ours are closure-scoped.
    nonisolated(unsafe) let handle: OpaquePointer
    public let path: String
    let options: Options
    /// Read and write transactions hold it shared; growing the map holds it exclusive, because
    /// `mdb_env_set_mapsize` must not run while this process has a transaction open.
    let mapLock = ReadersWriterLock()
    let state: Mutex<State>
    /// Checked at the start of every transaction, so an atomic rather than the state's lock.
    private let closed = Atomic<Bool>(false)
    let writer: GroupCommitWriter
    /// How many reader slots of dead processes `mdb_reader_check` freed when this environment
    /// was opened (a process killed during a read leaves one; left alone they pin old pages).
    public let staleReadersCleared: Int

    struct State: ~Copyable {
        var mapSize: Int
        var tables: [String: MDB_dbi] = [:]
        var catalog: [String: CatalogEntry] = [:]
    }

    /// Opens (creating if needed) the environment in `directory`.
    public init(directory: String, options: Options = Options()) throws(KVError) {
        if mkdir(directory, 0o700) != 0 && errno != EEXIST {
            throw .invalidFile(path: directory, reason: "cannot create the data directory: \(String(cString: strerror(errno)))")
        }
        var env: OpaquePointer?
        var dead: Int32 = 0
        try KVError.check(mdb_env_create(&env), "mdb_env_create")
        guard let env else { throw .lmdb(operation: "mdb_env_create", code: ENOMEM) }
        do {
            try KVError.check(mdb_env_set_maxdbs(env, MDB_dbi(options.maximumTables)), "mdb_env_set_maxdbs")
            try KVError.check(mdb_env_set_mapsize(env, options.mapSize), "mdb_env_set_mapsize")
            var flags = UInt32(MDB_NOTLS)
            if !options.syncOnCommit { flags |= UInt32(MDB_NOSYNC) }
            try KVError.check(mdb_env_open(env, directory, flags, 0o600), "mdb_env_open(\(directory))")
            try KVError.check(mdb_reader_check(env, &dead), "mdb_reader_check")
        } catch {
            mdb_env_close(env)
            throw error
        }
        var info = MDB_envinfo()
        mdb_env_info(env, &info)
        self.handle = env
        self.path = directory
        self.options = options
        self.state = Mutex(State(mapSize: max(info.me_mapsize, options.mapSize)))
        self.writer = GroupCommitWriter()
        self.staleReadersCleared = Int(dead)
    }

    deinit {
        // No queued batch can be left: each holds a strong reference to the environment.
        if markClosed() { mdb_env_close(handle) }
    }

    /// Closes the environment after the writer has finished its queued batches. Idempotent.
    /// Transactions that start afterwards fail with `KVError.closed`; one still open on another
    /// thread delays the close until it ends.
    public func close() {
        guard markClosed() else { return }
        writer.drainAndStop()
        mapLock.withExclusive { mdb_env_close(handle) }
    }

    /// Sets the closed flag; returns whether this call closed it.
    private func markClosed() -> Bool {
        closed.compareExchange(expected: false, desired: true, ordering: .acquiringAndReleasing).exchanged
    }

    public var isClosed: Bool { closed.load(ordering: .acquiring) }

    /// Call with `mapLock` held (shared is enough): `close()` takes it exclusively.
    func ensureOpen() throws(KVError) {
        if isClosed { throw .closed }
    }

    // MARK: Tables

    /// Opens (creating if needed) the named table. Call at start-up, before concurrent use.
    public func table<K: Codec, V: Codec>(_ name: String, key: K.Type, value: V.Type) throws(KVError) -> Table<K, V> {
        let table = Table<K, V>(name: name, dbi: try dbi(named: name, flags: 0))
        register(name, table.catalogEntry)
        return table
    }

    /// Records how to verify and delete rows of a table, for `check()` and the expiry sweep.
    func register(_ name: String, _ entry: CatalogEntry) {
        state.withLock { $0.catalog[name] = entry }
    }

    var catalog: [String: CatalogEntry] { state.withLock { $0.catalog } }

    func dbi(named name: String, flags: UInt32) throws(KVError) -> MDB_dbi {
        if let dbi = state.withLock({ $0.tables[name] }) { return dbi }
        let dbi: MDB_dbi
        do {
            dbi = try openTable(named: name, flags: flags)
        } catch .lmdb(_, MDB_MAP_RESIZED) {
            // Another process (the portal serving, while a command opens its data) grew the
            // map beyond this one's: take the larger map and begin again, as reads do.
            try adoptGrownMap()
            dbi = try openTable(named: name, flags: flags)
        }
        state.withLock { $0.tables[name] = dbi }
        return dbi
    }

    private func openTable(named name: String, flags: UInt32) throws(KVError) -> MDB_dbi {
        try mapLock.withShared { () throws(KVError) -> MDB_dbi in
            try ensureOpen()
            var txn: OpaquePointer?
            try KVError.check(mdb_txn_begin(handle, nil, 0, &txn), "mdb_txn_begin")
            var dbi: MDB_dbi = 0
            let status = mdb_dbi_open(txn, name, UInt32(MDB_CREATE) | flags, &dbi)
            guard status == MDB_SUCCESS else {
                mdb_txn_abort(txn)
                throw .lmdb(operation: "mdb_dbi_open(\(name))", code: status)
            }
            try KVError.check(mdb_txn_commit(txn), "mdb_txn_commit")
            return dbi
        }
    }

    // MARK: Mapped pages

    /// Unmaps from this process the pages of the data file it has read (`MADV_DONTNEED` on
    /// LMDB's read-only shared map), after a bulk read such as loading the vector indexes at
    /// start-up. Nothing is lost or evicted: the pages stay in the kernel's page cache and a
    /// later read maps them again. Without it, the process's resident memory would go on
    /// counting every page of the file it ever scanned (twice the vectors after a load).
    /// Call it outside any transaction: it takes the map lock, which a pending map growth
    /// would otherwise wait on forever.
    public func releaseMappedPages() {
        mapLock.withShared {
            guard !isClosed else { return }
            // The map is read-only (no MDB_WRITEMAP), so zapping its page-table entries cannot
            // drop a write; readers in flight fault the pages back in from the page cache. The
            // shared lock keeps the map from moving (growing it takes the lock exclusively).
            for mapping in dataFileMappings() ?? [] {
                madvise(UnsafeMutableRawPointer(bitPattern: mapping.start), mapping.length, MADV_DONTNEED)
            }
        }
    }

    /// Bytes of the data file this process has mapped in now, or nil when /proc cannot be read
    /// or shows no map of the file. A diagnostic for resident memory.
    public func mappedResidentBytes() -> Int? {
        guard let mappings = dataFileMappings(withResidentBytes: true), !mappings.isEmpty else { return nil }
        return mappings.reduce(0) { $0 + $1.residentBytes }
    }

    /// This process's mappings of `data.mdb`, from /proc/self/smaps (with the resident bytes of
    /// each) or /proc/self/maps. LMDB reports the map's address only for a fixed map, so the
    /// kernel's list is the way to find it.
    private func dataFileMappings(withResidentBytes: Bool = false) -> [(start: UInt, length: Int, residentBytes: Int)]? {
        guard let file = fopen(withResidentBytes ? "/proc/self/smaps" : "/proc/self/maps", "r") else { return nil }
        defer { fclose(file) }
        var resolved = [CChar](repeating: 0, count: Int(PATH_MAX) + 1)
        guard realpath(path, &resolved) != nil else { return nil }
        let dataFile = String(decoding: resolved.prefix { $0 != 0 }.map { UInt8(bitPattern: $0) }, as: UTF8.self) + "/data.mdb"
        var mappings: [(start: UInt, length: Int, residentBytes: Int)] = []
        var line = [CChar](repeating: 0, count: 4_096)
        var inDataFile = false
        while fgets(&line, Int32(line.count), file) != nil {
            let text = String(decoding: line.prefix { $0 != 0 && $0 != 10 }.map { UInt8(bitPattern: $0) }, as: UTF8.self)
            // A mapping's first line: "start-end perms offset device inode   pathname".
            let fields = text.split(separator: " ", maxSplits: 5)
            let range = fields.first?.split(separator: "-") ?? []
            if range.count == 2, let start = UInt(range[0], radix: 16), let end = UInt(range[1], radix: 16) {
                // Only LMDB's read-only shared map of exactly this file: advice on any other
                // mapping (a private or writable one) could discard data.
                inDataFile = fields.count == 6 && fields[1] == "r--s" && fields[5].drop { $0 == " " } == dataFile
                if inDataFile { mappings.append((start, Int(end - start), 0)) }
            } else if inDataFile, text.hasPrefix("Rss:") {
                mappings[mappings.count - 1].residentBytes = (Int(text.dropFirst(4).split(separator: " ").first ?? "") ?? 0) * 1_024
            }
        }
        return mappings
    }

    // MARK: Map size

    var mapSize: Int { state.withLock { $0.mapSize } }

    /// Doubles the map (capped at the ceiling). Called by the writer with no transaction open.
    func growMap() throws(KVError) {
        let current = mapSize
        guard current < options.maximumMapSize else { throw .storageFull(mapSize: current) }
        let next = min(current * 2, options.maximumMapSize)
        try mapLock.withExclusive { () throws(KVError) in
            try KVError.check(mdb_env_set_mapsize(handle, next), "mdb_env_set_mapsize")
        }
        state.withLock { $0.mapSize = next }
    }

    /// Takes the map size another process grew the data file to (`MDB_MAP_RESIZED`), with no
    /// transaction of this process open.
    func adoptGrownMap() throws(KVError) {
        let size = try mapLock.withExclusive { () throws(KVError) -> Int in
            try KVError.check(mdb_env_set_mapsize(handle, 0), "mdb_env_set_mapsize")
            var info = MDB_envinfo()
            try KVError.check(mdb_env_info(handle, &info), "mdb_env_info")
            return info.me_mapsize
        }
        state.withLock { $0.mapSize = size }
    }
}

extension Environment {
    /// The `MDB_env*`, for the side-by-side benchmark against raw LMDB calls only.
    public var rawHandleForBenchmarks: OpaquePointer { handle }
}

extension Table {
    /// The LMDB database handle, for the side-by-side benchmark against raw LMDB calls only.
    public var dbiForBenchmarks: MDB_dbi { dbi }
}
