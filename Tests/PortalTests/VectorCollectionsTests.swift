import Foundation
import KV
import Testing
import Vector
@testable import Portal

/// Vector collections persisted through KV: a vector changes in the same transaction as the
/// record that owns it, rolls back with it, and loads after a restart as stored.
@Suite struct VectorCollectionsTests {
    static let dimension = 16

    static func directory() -> String {
        FileManager.default.temporaryDirectory.appendingPathComponent("portal-vectors-\(UUID().uuidString)").path
    }

    static func open(_ directory: String, options: KV.Environment.Options = .init()) async throws -> (PortalCore, Table<StringKey, RawBytes>) {
        var options = options
        options.syncOnCommit = false
        let environment = try KV.Environment(directory: directory, options: options)
        let core = try await PortalCore(environment: environment, passwordHasher: PasswordHasher(iterations: 1_000))
        return (core, try environment.table("documents", key: StringKey.self, value: RawBytes.self))
    }

    static func vector(_ seed: Int) -> [Float] {
        var state = UInt64(seed) &* 0x9E37_79B9_7F4A_7C15 | 1
        return (0..<dimension).map { _ in
            state = state &* 6364136223846793005 &+ 1442695040888963407
            return Float(state >> 40) / Float(1 << 24) + 0.01
        }
    }

    struct Deliberate: Error {}

    /// Writes record `key` and its vector in one transaction.
    static func put(_ core: PortalCore, _ documents: Table<StringKey, RawBytes>, _ key: String, _ seed: Int) async throws {
        try await core.environment.write { txn in
            try txn.put(documents, key, [UInt8(seed & 0xFF)])
            try core.vectors.upsert("docs", owner: key, vector: vector(seed), in: txn)
        }
    }

    @Test func collectionsAreNamedTypedAndChecked() async throws {
        let (core, _) = try await Self.open(Self.directory())
        try await core.vectors.create("docs", dimension: 16, metric: .cosine)
        try await core.vectors.create("tools", dimension: 4, metric: .squaredL2, parameters: HNSWParameters(m: 8, efConstruction: 40))
        await #expect(throws: VectorError.collectionExists("docs")) { try await core.vectors.create("docs", dimension: 8, metric: .cosine) }
        await #expect(throws: VectorCollectionError.invalidName("no spaces")) { try await core.vectors.create("no spaces", dimension: 8, metric: .cosine) }
        await #expect(throws: VectorCollectionError.invalidDimension(0)) { try await core.vectors.create("zero", dimension: 0, metric: .cosine) }
        #expect(try core.vectors.list().map(\.name) == ["docs", "tools"])
        #expect(try core.vectors.index("tools").dimension == 4)
        #expect(throws: VectorError.unknownCollection("nope")) { try core.vectors.index("nope") }
        #expect(throws: VectorError.unknownCollection("nope")) { try core.vectors.search("nope", vector: [1], k: 1) }
        #expect(throws: VectorError.wrongDimension(expected: 4, got: 16)) { try core.vectors.search("tools", vector: Self.vector(1), k: 1) }
    }

    @Test func aFailedTransactionTakesItsVectorWithIt() async throws {
        let (core, documents) = try await Self.open(Self.directory())
        try await core.vectors.create("docs", dimension: Self.dimension, metric: .cosine)
        for seed in 0..<20 { try await Self.put(core, documents, "doc-\(seed)", seed) }
        let before = try core.vectors.index("docs").header

        // The body fails after the vector was staged: record and vector are both rolled back.
        await #expect(throws: Deliberate.self) {
            try await core.environment.write { txn in
                try txn.put(documents, "doomed", [1])
                try core.vectors.upsert("docs", owner: "doomed", vector: Self.vector(999), in: txn)
                throw Deliberate()
            }
        }
        // Bad vectors are typed errors, and the record written before them is rolled back too.
        await #expect(throws: VectorError.zeroVector) {
            try await core.environment.write { txn in
                try txn.put(documents, "zero", [1])
                try core.vectors.upsert("docs", owner: "zero", vector: [Float](repeating: 0, count: Self.dimension), in: txn)
            }
        }
        await #expect(throws: VectorError.notFinite) {
            try await core.environment.write { txn in
                try core.vectors.upsert("docs", owner: "nan", vector: [.nan] + [Float](repeating: 1, count: Self.dimension - 1), in: txn)
            }
        }
        #expect(try core.environment.read { try $0.get(documents, "doomed") } == nil)
        #expect(try core.environment.read { try $0.get(documents, "zero") } == nil)
        #expect(try core.vectors.index("docs").header == before)
        #expect(try core.vectors.index("docs").count == 20)
        #expect(try core.vectors.search("docs", vector: Self.vector(999), k: 1).first?.owner != "doomed")
        #expect(try core.vectors.check() == [])
    }

    /// Concurrent writers share group commits; every other one fails after staging its vector.
    /// Only the successful ones are in the records and the graph.
    @Test func inABatchOnlyTheFailedWritesAreUndone() async throws {
        let (core, documents) = try await Self.open(Self.directory())
        try await core.vectors.create("docs", dimension: Self.dimension, metric: .cosine)
        try await withThrowingTaskGroup(of: Void.self) { group in
            for seed in 0..<64 {
                group.addTask {
                    do {
                        try await core.environment.write { txn in
                            try txn.put(documents, "doc-\(seed)", [1])
                            try core.vectors.upsert("docs", owner: "doc-\(seed)", vector: Self.vector(seed), in: txn)
                            if seed % 2 == 1 { throw Deliberate() }
                        }
                    } catch is Deliberate {}
                }
            }
            try await group.waitForAll()
        }
        #expect(core.environment.writerStatistics.largestBatch > 1, "the writes were batched")
        #expect(try core.vectors.index("docs").count == 32)
        for seed in 0..<64 {
            let hit = try core.vectors.search("docs", vector: Self.vector(seed), k: 1, ef: 64).first
            if seed % 2 == 0 { #expect(hit?.owner == "doc-\(seed)" && hit!.distance < 1e-5) } else { #expect(hit?.owner != "doc-\(seed)") }
        }
        #expect(try core.vectors.check() == [])
    }

    /// A batch that fills the map is aborted and run again after the map grows: the graph
    /// must be rolled back before the rerun, or it would hold every vector twice.
    @Test func mapGrowthRerunsBatchesWithoutDuplicatingVectors() async throws {
        var options = KV.Environment.Options()
        options.mapSize = 1 << 20
        options.maximumMapSize = 256 << 20
        let (core, documents) = try await Self.open(Self.directory(), options: options)
        try await core.vectors.create("big", dimension: 512, metric: .squaredL2)
        try await withThrowingTaskGroup(of: Void.self) { group in
            for seed in 0..<600 {
                group.addTask {
                    let vector = (0..<512).map { Float(($0 * 7 + seed * 13) % 101) }
                    try await core.environment.write { txn in
                        try txn.put(documents, "big-\(seed)", [1])
                        try core.vectors.upsert("big", owner: "big-\(seed)", vector: vector, in: txn)
                    }
                }
            }
            try await group.waitForAll()
        }
        #expect(try core.environment.statistics().mapSize > 1 << 20, "the map grew")
        #expect(try core.vectors.index("big").count == 600)
        #expect(try core.vectors.index("big").slotCount == 600)
        #expect(try core.vectors.check() == [])
    }

    @Test func replaceRemoveRepairAndRestartKeepTheGraphAsStored() async throws {
        let directory = Self.directory()
        var queries: [[Float]] = []
        var answers: [[VectorCollections.Hit]] = []
        var header: HNSWHeader?
        do {
            let (core, documents) = try await Self.open(directory)
            try await core.vectors.create("docs", dimension: Self.dimension, metric: .cosine)
            for seed in 0..<300 { try await Self.put(core, documents, "doc-\(seed)", seed) }
            // doc-100 gets a new vector; doc-0…doc-49 are deleted; half the tombstones are repaired.
            try await Self.put(core, documents, "doc-100", 5_000)
            for seed in 0..<25 {
                try await core.environment.write { txn in
                    try txn.delete(documents, "doc-\(seed)")
                    #expect(try core.vectors.remove("docs", owner: "doc-\(seed)", in: txn))
                }
            }
            #expect(try await core.vectors.repair("docs") == 26)  // 25 deletions and doc-100's old vector
            for seed in 25..<50 {
                try await core.environment.write { txn in
                    try txn.delete(documents, "doc-\(seed)")
                    try core.vectors.remove("docs", owner: "doc-\(seed)", in: txn)
                }
            }
            #expect(try await core.environment.write { txn in try core.vectors.remove("docs", owner: "missing", in: txn) } == false)
            for seed in 300..<320 { try await Self.put(core, documents, "doc-\(seed)", seed) }  // reuse repaired slots
            #expect(try core.vectors.index("docs").slotCount < 321)
            #expect(try core.vectors.check() == [])
            queries = (0..<40).map { Self.vector(10_000 + $0) } + [Self.vector(5_000), Self.vector(5)]
            answers = try queries.map { try core.vectors.search("docs", vector: $0, k: 10) }
            #expect(answers[40].first?.owner == "doc-100")
            #expect(answers[41].first?.owner != "doc-5")
            let deleted = Set((0..<50).map { "doc-\($0)" })
            #expect(!answers.joined().contains { deleted.contains($0.owner) })
            header = try core.vectors.index("docs").header
            core.environment.close()
        }
        let (core, _) = try await Self.open(directory)
        let index = try core.vectors.index("docs")
        #expect(index.header == header)
        #expect(index.count == 270)
        #expect(index.deletedCount == 25)
        #expect(core.vectorLoadTimes.map(\.name) == ["docs"])
        #expect(try queries.map { try core.vectors.search("docs", vector: $0, k: 10) } == answers)
        #expect(try core.vectors.check() == [])
    }

    /// The vectors are copied into the index while loading; the file pages read for that must
    /// not stay in the server's resident memory (they would double it for a large index).
    @Test func loadingLeavesTheDataFileUnmapped() async throws {
        let directory = Self.directory()
        let dimension = 1_536, count = 600
        do {
            let (core, _) = try await Self.open(directory)
            let index = HNSWIndex(dimension: dimension, metric: .cosine, parameters: HNSWParameters(m: 8, efConstruction: 32))
            try index.insert(contentsOf: (0..<count).map { seed in (0..<dimension).map { Float(($0 * 7 + seed * 13) % 101) / 101 + 0.01 } })
            try await core.vectors.importIndex("big", index) { "doc-\($0)" }
            core.environment.close()
        }
        let (core, _) = try await Self.open(directory)
        defer { core.environment.close() }
        #expect(try core.vectors.index("big").count == count)
        let vectorBytes = count * dimension * 4  // 3.5 MiB, all read while loading
        let mapped = try #require(core.environment.mappedResidentBytes())
        #expect(mapped < vectorBytes / 4, "\(mapped) bytes of the data file still mapped after loading \(vectorBytes) bytes of vectors")
    }
}
