import CLMDB
import Synchronization

/// Storage figures for metrics and `portal check`.
public struct StorageStatistics: Sendable {
    /// The current map size in bytes (it grows up to the configured ceiling).
    public var mapSize = 0
    /// Bytes of the map in use: pages up to the last one written.
    public var usedBytes = 0
    public var pageSize = 0
    /// B-tree pages over every opened table.
    public var branchPages = 0
    public var leafPages = 0
    public var overflowPages = 0
    /// Reader slots in use and available.
    public var readersInUse = 0
    public var maximumReaders = 0
    public var writer = WriterStatistics()
}

extension Environment {
    /// Current statistics, read in a fresh snapshot.
    public func statistics() throws -> StorageStatistics {
        try read { txn in try statistics(txn) }
    }

    @available(*, noasync)
    func statistics(_ txn: borrowing ReadTransaction) throws(KVError) -> StorageStatistics {
        var info = MDB_envinfo()
        try KVError.check(mdb_env_info(handle, &info), "mdb_env_info")
        var environmentStat = MDB_stat()
        try KVError.check(mdb_env_stat(handle, &environmentStat), "mdb_env_stat")
        var result = StorageStatistics()
        result.mapSize = info.me_mapsize
        result.pageSize = Int(environmentStat.ms_psize)
        result.usedBytes = (info.me_last_pgno + 1) * result.pageSize
        result.readersInUse = Int(info.me_numreaders)
        result.maximumReaders = Int(info.me_maxreaders)
        let tables = state.withLock { $0.tables }
        for (name, dbi) in tables {
            var stat = MDB_stat()
            try KVError.check(mdb_stat(txn.txn, dbi, &stat), "mdb_stat(\(name))")
            result.branchPages += stat.ms_branch_pages
            result.leafPages += stat.ms_leaf_pages
            result.overflowPages += stat.ms_overflow_pages
        }
        result.writer = writerStatistics
        return result
    }
}
