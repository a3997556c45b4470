public import FoundationEssentials

/// One numbered schema step. Steps run in order, each in its own durable write transaction,
/// and are recorded in the `_migrations` table so that each runs exactly once.
public struct Migration: Sendable {
    public let version: Int
    public let name: String
    public let apply: @Sendable (borrowing WriteTransaction) throws -> Void

    public init(_ version: Int, _ name: String, apply: @escaping @Sendable (borrowing WriteTransaction) throws -> Void) {
        self.version = version
        self.name = name
        self.apply = apply
    }
}

/// A record of an applied migration.
public struct AppliedMigration: Codable, Sendable, Equatable {
    public let version: Int
    public let name: String
    public let appliedAt: Date
}

extension Environment {
    static let migrationsTableName = "_migrations"

    /// Applies the steps not yet recorded, in version order, and returns the schema version.
    ///
    /// Refuses (with `KVError.schemaTooNew`) a data directory whose recorded version is higher
    /// than the last step this binary knows: a newer binary wrote it and this one might corrupt it.
    @discardableResult
    public func migrate(_ steps: [Migration]) async throws -> Int {
        let sorted = steps.sorted { $0.version < $1.version }
        precondition(Set(sorted.map(\.version)).count == sorted.count, "duplicate migration versions")
        precondition(sorted.allSatisfy { $0.version > 0 }, "migration versions start at 1")
        let table = try self.table(Self.migrationsTableName, key: UInt64Key.self, value: JSONValue<AppliedMigration>.self)
        let supported = sorted.last?.version ?? 0
        let current = try schemaVersion()
        if current > supported { throw KVError.schemaTooNew(found: current, supported: supported) }
        for step in sorted where step.version > current {
            try await write { txn in
                // Another process may not share this environment's writer, so re-check inside.
                guard try !txn.exists(table, UInt64(step.version)) else { return }
                try step.apply(txn)
                try txn.put(table, UInt64(step.version), AppliedMigration(version: step.version, name: step.name, appliedAt: Date()))
            }
        }
        return max(current, supported)
    }

    /// The highest applied migration, 0 for a new environment.
    public func schemaVersion() throws -> Int {
        let table = try self.table(Self.migrationsTableName, key: UInt64Key.self, value: JSONValue<AppliedMigration>.self)
        return try read { txn in try txn.last(table)?.key }.map(Int.init) ?? 0
    }
}
