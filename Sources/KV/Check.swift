import CLMDB

/// The result of `Environment.check()`: rows per table and every problem found. Empty
/// `problems` means every record decoded and every index matched its table.
public struct CheckReport: Sendable {
    public var rowsByTable: [String: Int] = [:]
    public var problems: [String] = []
    /// Databases in the file that no opened table accounts for (left by a removed feature, or
    /// not opened by this binary). Reported, not counted as problems.
    public var unknownDatabases: [String] = []
    public var statistics: StorageStatistics

    public var isHealthy: Bool { problems.isEmpty }
}

extension Environment {
    /// Decodes every record of every opened table and proves every index matches its table, in
    /// one read snapshot (writers continue meanwhile).
    /// - Complexity: O(total rows × log n)
    public func check() throws -> CheckReport {
        let entries = catalog
        return try read { txn in
            var report = CheckReport(statistics: try statistics(txn))
            var known = Set<String>()
            for (name, entry) in entries.sorted(by: { $0.key < $1.key }) {
                var problems: [String] = []
                report.rowsByTable[name] = try entry.verify(txn.txn, &problems)
                report.problems += problems
                known.formUnion(entry.databases)
            }
            report.unknownDatabases = try databaseNames(txn).filter { !known.contains($0) }
            return report
        }
    }

    /// The named databases in the environment's main database.
    @available(*, noasync)
    func databaseNames(_ txn: borrowing ReadTransaction) throws(KVError) -> [String] {
        var main: MDB_dbi = 0
        try KVError.check(mdb_dbi_open(txn.txn, nil, 0, &main), "mdb_dbi_open(main)")
        var names: [String] = []
        try txn.walk(main, "main", KeyBounds(lower: nil, upper: nil), .forward) { (key, _) throws(KVError) in
            names.append(String(decoding: UnsafeRawBufferPointer(start: key.mv_data, count: key.mv_size), as: UTF8.self))
            return true
        }
        return names
    }
}
