import FoundationEssentials
public import KV
import Synchronization
public import Vector

/// What a collection is: its dimension, metric and graph parameters, and the graph's header
/// as of the last committed change.
public struct VectorCollectionDescriptor: Codable, Sendable, Equatable {
    public var name: String
    public var dimension: Int
    public var metric: Metric
    public var parameters: HNSWParameters
    public var header: HNSWHeader
    /// The embedder whose vectors the collection holds (vectors of different embedders are
    /// never mixed in one collection).
    public var embedder: EmbedderIdentity? = nil
}

/// Named vector collections kept in KV and searched in memory.
///
/// Guarantees:
/// - A vector and the graph links it changes are written in the same write transaction as the
///   record that owns them (`upsert`/`remove` take the caller's transaction), so records and
///   index never disagree: if the transaction rolls back, so does the in-memory graph; the
///   change becomes visible to searches only after the commit.
/// - A restart loads each graph as stored (`load`), without rebuilding it.
/// - Each vector belongs to one owner key (a record id); `search` answers with owner keys.
/// - A vector may belong to a partition (an organization's or a person's records); a search
///   restricted to partitions never returns another partition's vectors (the graph is
///   searched with the partitions' members as a filter). Partition membership is written in
///   the same transaction as the vector, and the in-memory member sets follow commits only.
public final class VectorCollections: Sendable {
    let environment: Environment
    private let descriptors: Table<StringKey, JSONValue<VectorCollectionDescriptor>>
    /// (collection, node id) → the vector, float32 little-endian.
    private let vectors: Table<CompositeKey<String, UInt64>, RawBytes>
    /// (collection, node id) → the node record (state, level, links).
    private let nodes: Table<CompositeKey<String, UInt64>, RawBytes>
    /// (collection, node id) → owner key, for live nodes.
    private let owners: Table<CompositeKey<String, UInt64>, StringKey>
    /// (collection, owner key) → node id.
    private let keys: Table<CompositeKey<String, String>, UInt64Key>
    /// (collection, partition, node id) → nothing: the partition's members.
    private let partitionMembers: Table<CompositeKey3<String, String, UInt64>, RawBytes>
    /// (collection, node id) → partition.
    private let nodePartitions: Table<CompositeKey<String, UInt64>, StringKey>
    private let indexes = Mutex<[String: HNSWIndex]>([:])
    /// Member sets of the partitions searched so far, by collection then partition.
    private let partitionFilters = Mutex<[String: [String: VectorFilter]]>([:])

    public init(environment: Environment) throws {
        self.environment = environment
        descriptors = try environment.table("vector_collections", key: StringKey.self, value: JSONValue<VectorCollectionDescriptor>.self)
        vectors = try environment.table("vector_data", key: CompositeKey<String, UInt64>.self, value: RawBytes.self)
        nodes = try environment.table("vector_nodes", key: CompositeKey<String, UInt64>.self, value: RawBytes.self)
        owners = try environment.table("vector_owners", key: CompositeKey<String, UInt64>.self, value: StringKey.self)
        keys = try environment.table("vector_keys", key: CompositeKey<String, String>.self, value: UInt64Key.self)
        partitionMembers = try environment.table("vector_partition_members", key: CompositeKey3<String, String, UInt64>.self, value: RawBytes.self)
        nodePartitions = try environment.table("vector_node_partitions", key: CompositeKey<String, UInt64>.self, value: StringKey.self)
    }

    // MARK: Collections

    /// Creates the collection unless it exists (with whatever parameters it was created with).
    public func createIfMissing(_ name: String, dimension: Int, metric: Metric, embedder: EmbedderIdentity? = nil) async throws {
        guard (try? index(name)) == nil else { return }
        do {
            try await create(name, dimension: dimension, metric: metric, embedder: embedder)
        } catch VectorError.collectionExists {
            // Created concurrently.
        }
    }

    /// Creates a collection. Names are 1–64 characters of letters, digits, `-`, `_` and `.`.
    public func create(_ name: String, dimension: Int, metric: Metric, parameters: HNSWParameters = HNSWParameters(), embedder: EmbedderIdentity? = nil) async throws {
        guard (1...64).contains(name.count), name.allSatisfy({ $0.isASCII && ($0.isLetter || $0.isNumber || "-_.".contains($0)) }) else {
            throw VectorCollectionError.invalidName(name)
        }
        guard (1...65_536).contains(dimension) else { throw VectorCollectionError.invalidDimension(dimension) }
        let index = HNSWIndex(dimension: dimension, metric: metric, parameters: parameters)
        let descriptor = VectorCollectionDescriptor(name: name, dimension: dimension, metric: metric, parameters: parameters, header: index.header, embedder: embedder)
        try await environment.write { [self] txn in
            guard try txn.get(descriptors, name) == nil else { throw VectorError.collectionExists(name) }
            try txn.put(descriptors, name, descriptor)
            txn.afterCommit { self.indexes.withLock { $0[name] = index } }
        }
    }

    /// Creates collection `name` from a graph built in memory (a bulk load): every node is
    /// written in transactions of `chunk` nodes, the descriptor last, so a collection exists
    /// only once all of it is stored. `owner(id)` names the owner of each live node and
    /// `partition(id)` its partition, if any.
    public func importIndex(_ name: String, _ index: HNSWIndex, chunk: Int = 2_000, embedder: EmbedderIdentity? = nil,
                            owner: @escaping @Sendable (UInt32) -> String, partition: @escaping @Sendable (UInt32) -> String? = { _ in nil }) async throws {
        guard try environment.read({ try $0.get(descriptors, name) }) == nil else { throw VectorError.collectionExists(name) }
        let slots = UInt32(index.slotCount)
        for start in stride(from: UInt32(0), to: slots, by: chunk) {
            let end = min(slots, start + UInt32(chunk))
            try await environment.write { [self] txn in
                for id in start..<end {
                    guard let record = index.storedRecord(id) else { continue }
                    try txn.put(vectors, (name, UInt64(id)), index.vectorBytes(id))
                    try txn.put(nodes, (name, UInt64(id)), record)
                    if record.first == 1 {
                        try claim(name, owner: owner(id), id: id, txn)
                        if let partition = partition(id) { try joinPartition(name, partition, node: UInt64(id), txn) }
                    }
                }
            }
        }
        let descriptor = VectorCollectionDescriptor(name: name, dimension: index.dimension, metric: index.metric, parameters: index.parameters, header: index.header,
                                                    embedder: embedder)
        try await environment.write { [self] txn in
            guard try txn.get(descriptors, name) == nil else { throw VectorError.collectionExists(name) }
            try txn.put(descriptors, name, descriptor)
            txn.afterCommit { self.indexes.withLock { $0[name] = index } }
        }
    }

    /// The collections' descriptors, by name.
    public func list() throws -> [VectorCollectionDescriptor] {
        try environment.read { txn in
            var result: [VectorCollectionDescriptor] = []
            try txn.forEach(descriptors) { _, descriptor in
                result.append(descriptor)
                return true
            }
            return result
        }
    }

    /// A collection's descriptor as committed.
    public func descriptor(_ name: String) throws -> VectorCollectionDescriptor? {
        try environment.read { txn in try txn.get(descriptors, name) }
    }

    /// The owner keys of the collection's live vectors.
    public func ownerKeys(_ name: String) throws -> Set<String> {
        try environment.read { txn in
            var result: Set<String> = []
            try txn.forEach(keys, prefix: CompositeKey<String, String>.prefix(name)) { key, _ in
                result.insert(key.1)
                return true
            }
            return result
        }
    }

    /// Deletes a collection and everything stored for it, in transactions of at most `chunk`
    /// records, the descriptor first (so it is gone for searches and `load` at once). Also
    /// removes the remains of a collection whose descriptor is already gone (an interrupted
    /// drop or import).
    public func drop(_ name: String, chunk: Int = 5_000) async throws {
        try await environment.write { [descriptors] txn in _ = try txn.delete(descriptors, name) }
        indexes.withLock { _ = $0.removeValue(forKey: name) }
        partitionFilters.withLock { _ = $0.removeValue(forKey: name) }
        try await deleteAll(vectors, prefix: CompositeKey<String, UInt64>.prefix(name), chunk: chunk)
        try await deleteAll(nodes, prefix: CompositeKey<String, UInt64>.prefix(name), chunk: chunk)
        try await deleteAll(owners, prefix: CompositeKey<String, UInt64>.prefix(name), chunk: chunk)
        try await deleteAll(keys, prefix: CompositeKey<String, String>.prefix(name), chunk: chunk)
        try await deleteAll(partitionMembers, prefix: CompositeKey3<String, String, UInt64>.prefix(name), chunk: chunk)
        try await deleteAll(nodePartitions, prefix: CompositeKey<String, UInt64>.prefix(name), chunk: chunk)
    }

    private func deleteAll<K, V>(_ table: Table<K, V>, prefix: [UInt8], chunk: Int) async throws where K.Value: Sendable {
        while true {
            let batch = try environment.read { txn in
                var found: [K.Value] = []
                try txn.forEach(table, prefix: prefix) { key, _ in
                    found.append(key)
                    return found.count < chunk
                }
                return found
            }
            guard !batch.isEmpty else { return }
            try await environment.write { txn in
                for key in batch { _ = try txn.delete(table, key) }
            }
        }
    }

    /// The in-memory graph of a collection.
    public func index(_ name: String) throws(VectorError) -> HNSWIndex {
        guard let index = indexes.withLock({ $0[name] }) else { throw .unknownCollection(name) }
        return index
    }

    // MARK: Writes, in the owner's transaction

    /// Stores `vector` for `owner` in collection `name` (replacing the owner's previous
    /// vector), inside the caller's write transaction.
    /// `partition` (at most 128 bytes) puts the vector in that partition, for `search`'s
    /// `partitions`.
    @available(*, noasync)
    public func upsert(_ name: String, owner: String, partition: String? = nil, vector: [Float], in txn: borrowing WriteTransaction) throws {
        let index = try index(name)
        let mark = stage(index, txn)
        let id: UInt32
        if let old = try nodeID(name, owner: owner, txn) {
            try txn.delete(owners, (name, old))
            try leavePartition(name, node: old, txn)
            id = try index.replace(UInt32(old), with: vector)
        } else {
            id = try index.insert(vector)
        }
        try claim(name, owner: owner, id: id, txn)
        if let partition { try joinPartition(name, partition, node: UInt64(id), txn) }
        try persist(index, name, since: mark, txn)
    }

    @available(*, noasync)
    private func joinPartition(_ name: String, _ partition: String, node: UInt64, _ txn: borrowing WriteTransaction) throws {
        guard !partition.isEmpty, partition.utf8.count <= 128 else { throw VectorCollectionError.invalidPartition(partition) }
        try txn.put(partitionMembers, (name, partition, node), [])
        try txn.put(nodePartitions, (name, node), partition)
        txn.afterCommit { [self] in
            partitionFilters.withLock { cache in cache[name]?[partition]?.insert(UInt32(node)) }
        }
    }

    @available(*, noasync)
    private func leavePartition(_ name: String, node: UInt64, _ txn: borrowing WriteTransaction) throws {
        guard let partition = try txn.get(nodePartitions, (name, node)) else { return }
        try txn.delete(partitionMembers, (name, partition, node))
        try txn.delete(nodePartitions, (name, node))
        txn.afterCommit { [self] in
            partitionFilters.withLock { cache in cache[name]?[partition]?.remove(UInt32(node)) }
        }
    }

    /// The members of `partitions` in collection `name`, as a search filter. Each partition's
    /// set is read once and then follows commits.
    public func filter(_ name: String, partitions: [String]) throws -> VectorFilter {
        let index = try index(name)
        let capacity = index.count + index.deletedCount
        return try partitionFilters.withLock { (cache) throws -> VectorFilter in
            var union = VectorFilter(capacity: capacity)
            for partition in Set(partitions) {
                if cache[name]?[partition] == nil {
                    // Read under the lock: a commit's update waits, so none is lost between
                    // this snapshot and the cache entry.
                    let members = try environment.read { txn in
                        var ids: [UInt32] = []
                        try txn.forEach(partitionMembers, prefix: CompositeKey3<String, String, UInt64>.prefix(name, partition)) { key, _ in
                            ids.append(UInt32(key.2))
                            return true
                        }
                        return ids
                    }
                    cache[name, default: [:]][partition] = VectorFilter(admitting: members, capacity: capacity)
                }
                union.formUnion(cache[name]![partition]!)
            }
            return union
        }
    }

    /// Deletes the vector of `owner` (if any) inside the caller's write transaction; returns
    /// whether there was one. The node stays a tombstone until `repair`.
    @available(*, noasync)
    @discardableResult
    public func remove(_ name: String, owner: String, in txn: borrowing WriteTransaction) throws -> Bool {
        let index = try index(name)
        guard let old = try nodeID(name, owner: owner, txn) else { return false }
        let mark = stage(index, txn)
        try index.remove(UInt32(old))
        try txn.delete(owners, (name, old))
        try txn.delete(keys, (name, owner))
        try leavePartition(name, node: old, txn)
        try persist(index, name, since: mark, txn)
        return true
    }

    /// Cuts tombstones out of a collection's graph (their slots are then reused) and reconnects
    /// nodes that inserts left unreachable; returns how many tombstones were cut out.
    @discardableResult
    public func repair(_ name: String) async throws -> Int {
        let index = try index(name)
        return try await environment.write { [self] txn in
            let mark = stage(index, txn)
            let repaired = index.repairDeleted()
            try persist(index, name, since: mark, txn)
            return repaired
        }
    }

    /// Starts a staged change of `index` tied to `txn`: undone if the transaction rolls back,
    /// published to searches once it commits.
    @available(*, noasync)
    private func stage(_ index: HNSWIndex, _ txn: borrowing WriteTransaction) -> StagingMark {
        let mark = index.beginStaging()
        txn.onRollback { index.rollback(to: mark) }
        txn.afterCommit { index.publishStaged() }
        return mark
    }

    /// Writes what the staged change touched: new vectors, rewritten node records, erased
    /// nodes, and the header.
    @available(*, noasync)
    private func persist(_ index: HNSWIndex, _ name: String, since mark: StagingMark, _ txn: borrowing WriteTransaction) throws {
        let changes = index.changes(since: mark)
        for id in changes.created {
            try txn.put(vectors, (name, UInt64(id)), index.vectorBytes(id))
            try txn.put(nodes, (name, UInt64(id)), index.nodeRecord(id))
        }
        for id in changes.rewritten { try txn.put(nodes, (name, UInt64(id)), index.nodeRecord(id)) }
        for id in changes.erased {
            try txn.delete(vectors, (name, UInt64(id)))
            try txn.delete(nodes, (name, UInt64(id)))
        }
        guard var descriptor = try txn.get(descriptors, name) else { throw VectorError.unknownCollection(name) }
        descriptor.header = changes.header
        try txn.put(descriptors, name, descriptor)
    }

    @available(*, noasync)
    private func claim(_ name: String, owner: String, id: UInt32, _ txn: borrowing WriteTransaction) throws {
        try txn.put(owners, (name, UInt64(id)), owner)
        try txn.put(keys, (name, owner), UInt64(id))
    }

    @available(*, noasync)
    private func nodeID(_ name: String, owner: String, _ txn: borrowing some ReadableTransaction & ~Copyable) throws -> UInt64? {
        try txn.get(keys, (name, owner))
    }

    // MARK: Search

    /// One hit: the owner of the vector and its distance to the query.
    public struct Hit: Sendable, Equatable {
        public let owner: String
        public let distance: Float
    }

    /// The `k` nearest vectors' owners, closest first. Owners whose record went away between
    /// the search and the lookup are left out.
    /// `partitions`: only vectors in these partitions (none: an empty answer).
    public func search(_ name: String, vector: [Float], k: Int, ef: Int? = nil, filter: VectorFilter? = nil, partitions: [String]? = nil) throws -> [Hit] {
        var filter = filter
        if let partitions {
            let members = try self.filter(name, partitions: partitions)
            guard members.count > 0 else { return [] }
            precondition(filter == nil, "pass a filter or partitions, not both")
            filter = members
        }
        let hits = try index(name).search(vector, k: k, ef: ef, filter: filter)
        return try environment.read { txn in
            try hits.compactMap { hit in
                try txn.get(owners, (name, UInt64(hit.id))).map { Hit(owner: $0, distance: hit.distance) }
            }
        }
    }

    /// The node id holding `owner`'s vector, for building filters.
    public func nodeID(_ name: String, owner: String) throws -> UInt32? {
        try environment.read { txn in try nodeID(name, owner: owner, txn).map { UInt32($0) } }
    }

    // MARK: Loading and checking

    /// Loads every collection's graph from storage as stored; returns how long each took.
    public func load() throws -> [(name: String, nodes: Int, duration: Duration)] {
        var loaded: [(String, Int, Duration)] = []
        for listed in try list() {
            let started = ContinuousClock.now
            let name = listed.name
            // The descriptor (the graph's header) from the snapshot the nodes are read in:
            // another process may be writing (a command reading a serving portal's data).
            let restoredIndex = try environment.read { txn -> HNSWIndex? in
                guard let descriptor = try txn.get(descriptors, name) else { return nil }
                let index = try HNSWIndex(dimension: descriptor.dimension, metric: descriptor.metric, parameters: descriptor.parameters, restoring: descriptor.header)
                var records: [UInt64: [UInt8]] = [:]
                try txn.forEach(nodes, prefix: CompositeKey<String, UInt64>.prefix(name)) { key, record in
                    records[key.1] = record
                    return true
                }
                var restored = 0
                var failure: (any Error)?
                try txn.forEach(vectors, prefix: CompositeKey<String, UInt64>.prefix(name)) { key, vector in
                    guard let record = records[key.1], key.1 <= UInt64(UInt32.max) else {
                        failure = VectorError.corruptRecord("collection \(name): vector \(key.1) has no node record")
                        return false
                    }
                    do {
                        try record.withUnsafeBytes { r in try vector.withUnsafeBytes { v in try index.restoreNode(UInt32(key.1), record: r, vector: v) } }
                    } catch {
                        failure = error
                        return false
                    }
                    restored += 1
                    return true
                }
                if let failure { throw failure }
                guard restored == records.count else {
                    throw VectorError.corruptRecord("collection \(name): \(records.count - restored) node records have no vector")
                }
                return index
            }
            guard let index = restoredIndex else { continue }
            try index.finishRestoring()
            indexes.withLock { $0[name] = index }
            loaded.append((name, index.count + index.deletedCount, ContinuousClock.now - started))
        }
        // Every vector was read from the file and copied into the indexes: those file pages
        // need not stay in this process's resident memory too.
        if !loaded.isEmpty { environment.releaseMappedPages() }
        return loaded
    }

    /// Problems with the stored collections: structural graph invariants, and owner mappings
    /// that do not match the graph both ways. Empty when all is sound.
    public func check() throws -> [String] {
        var problems: [String] = []
        for descriptor in try list() {
            let name = descriptor.name
            let index = try index(name)
            problems += index.checkInvariants(reachability: false).map { "\(name): \($0)" }
            try environment.read { txn in
                var owned = 0
                try txn.forEach(owners, prefix: CompositeKey<String, UInt64>.prefix(name)) { (key, owner) throws(KVError) in
                    owned += 1
                    if try txn.get(keys, (name, owner)) != key.1 { problems.append("\(name): node \(key.1) claims owner \(owner), whose key points elsewhere") }
                    if try txn.get(nodes, key)?.first != 1 { problems.append("\(name): owner \(owner) holds node \(key.1), which is not live") }
                    return true
                }
                if owned != index.count { problems.append("\(name): \(owned) owners for \(index.count) live vectors") }
            }
        }
        return problems
    }
}

/// Refusals when creating a collection.
public enum VectorCollectionError: Error, Equatable, CustomStringConvertible {
    case invalidPartition(String)
    case invalidName(String)
    case invalidDimension(Int)

    public var description: String {
        switch self {
        case let .invalidName(name): "'\(name)' is not a valid collection name (1–64 letters, digits, '-', '_', '.')"
        case let .invalidDimension(dimension): "dimension \(dimension) is out of range (1–65536)"
        case let .invalidPartition(partition): "'\(partition.prefix(40))' is not a valid partition (1–128 bytes)"
        }
    }
}
