import Synchronization
import Testing
@testable import Vector

/// `HNSWIndex.bulkLoad`: inserts look for candidates on temporary int8 codes, the graph stays
/// as good, and the codes follow every write and go away afterwards.
@Suite struct BulkLoadTests {
    static func buildCodes(_ index: HNSWIndex) -> BuildCodes? { index.writer.withLock { $0.buildCodes } }

    /// Every slot holding a vector has the codes and factors that vector encodes to.
    static func codeMismatches(_ index: HNSWIndex, _ codes: BuildCodes) -> [UInt32] {
        var expected = [Int8](repeating: 0, count: codes.codeStride)
        return (0..<UInt32(index.slotCount)).filter { id in
            guard index.store.state(id) != .free else { return false }
            let vector = UnsafeBufferPointer(start: index.store.vector(id), count: index.dimension)
            let factors = expected.withUnsafeMutableBufferPointer { Int8Codes.encodeNode(vector, into: $0.baseAddress!, stride: codes.codeStride) }
            return factors != codes.codeFactors(id) || !expected.elementsEqual(UnsafeBufferPointer(start: codes.codes(id), count: codes.codeStride))
        }
    }

    static func build(_ metric: Metric, bulk: Bool, threads: Int = 2, seed: UInt64 = 1) throws -> HNSWIndex {
        let index = HNSWIndex(dimension: 32, metric: metric, parameters: HNSWParameters(m: 16, efConstruction: 100, efSearch: 64, seed: seed))
        let vectors = HNSWTests.clustered(count: 3_000, dimension: 32, seed: seed)
        if bulk {
            try index.bulkLoad { () throws(VectorError) in
                for slice in vectors.chunks(of: 700) { try index.insert(contentsOf: Array(slice), threads: threads) }
            }
        } else {
            for slice in vectors.chunks(of: 700) { try index.insert(contentsOf: Array(slice), threads: threads) }
        }
        return index
    }

    /// The bulk-loaded graph is a different graph (its candidates came from the codes) but as
    /// sound and as accurate, the same for the same seed at any thread count, and nothing of
    /// the codes is left once the load ends.
    @Test(arguments: [Metric.cosine, .squaredL2, .innerProduct])
    func bulkLoadedGraphsAreAsGood(metric: Metric) throws {
        let plain = try Self.build(metric, bulk: false)
        let bulk = try Self.build(metric, bulk: true)
        #expect(HNSWTests.records(bulk) != HNSWTests.records(plain))
        #expect(HNSWTests.records(bulk) == HNSWTests.records(try Self.build(metric, bulk: true, threads: 3)))
        #expect(bulk.buildCodeBytes == 0 && Self.buildCodes(bulk) == nil)
        let queries = HNSWTests.clustered(count: 100, dimension: 32, seed: 99)
        let plainRecall = try HNSWTests.recall(plain, queries: queries, k: 10, ef: 64)
        let bulkRecall = try HNSWTests.recall(bulk, queries: queries, k: 10, ef: 64)
        #expect(bulkRecall >= plainRecall - 0.01, "\(metric): recall@10 \(bulkRecall) bulk-loaded, \(plainRecall) not")
        // Inner product is not a metric: HNSW promises neither recall nor reachability there.
        if metric != .innerProduct {
            #expect(bulk.checkInvariants() == [])
            #expect(bulkRecall >= 0.95, "\(metric): recall@10 \(bulkRecall)")
        } else {
            #expect(bulk.checkInvariants(reachability: false) == [])
        }
    }

    /// The candidates an insert gets are found on the codes but carry their float32
    /// distances, closest first: the selection heuristic never sees an estimate.
    @Test(arguments: [Metric.cosine, .squaredL2, .innerProduct])
    func candidatesCarryExactDistances(metric: Metric) throws {
        let index = try Self.build(metric, bulk: false)
        let newcomer = try index.insert(HNSWTests.clustered(count: 1, dimension: 32, seed: 12)[0])
        index.bulkLoad {
            let state = index.writer.withLock { ($0.entryPoint!, $0.maxLevel, $0.buildCodes) }
            var visited = VisitedSet()
            let found = index.findCandidates(for: newcomer, level: 0, entry: state.0, maxLevel: state.1, buildCodes: state.2, visited: &visited)[0]
            #expect(found.count == index.parameters.efConstruction)
            let exact = index.floatMeasure(index.store.vector(newcomer))
            // Equal up to summation order (the four-way kernel adds in another order); the
            // codes' estimates are off by ~1e-3 here.
            let estimated = found.filter { abs($0.distance - exact.distance($0.id)) > 1e-5 * max(1, abs($0.distance)) }
            #expect(estimated.isEmpty, "\(metric): estimated distances kept for \(estimated.map(\.id))")
            #expect(zip(found, found.dropFirst()).allSatisfy { $0.distance <= $1.distance })
        }
    }

    /// Codes are made for the nodes already there and kept equal to the vectors through
    /// inserts, slot reuse after a repair, replacement, and a staged insert that takes every
    /// free slot and appends into a new chunk, rolled back and redone with other vectors.
    @Test func codesFollowEveryWrite() throws {
        let index = try HNSWTests.build(.squaredL2, count: 1_000)
        try index.bulkLoad { () throws in
            let codes = try #require(Self.buildCodes(index))
            #expect(index.buildCodeBytes == codes.bytes && codes.bytes > 0)
            #expect(Self.codeMismatches(index, codes) == [])

            try index.insert(contentsOf: HNSWTests.clustered(count: 500, dimension: 32, seed: 7), threads: 2)
            for id in stride(from: UInt32(0), to: 1_500, by: 3) { try index.remove(id) }
            index.repairDeleted()
            index.repairDeleted()  // a second publication ends the freed slots' grace period
            let reused = try index.insert(contentsOf: HNSWTests.clustered(count: 300, dimension: 32, seed: 8), threads: 2)
            #expect(reused.allSatisfy { $0 < 1_500 }, "freed slots are reused")
            _ = try index.replace(reused[0], with: HNSWTests.clustered(count: 1, dimension: 32, seed: 9)[0])
            #expect(Self.codeMismatches(index, codes) == [])

            let mark = index.beginStaging()
            let staged = try index.insert(contentsOf: HNSWTests.clustered(count: 3_000, dimension: 32, seed: 10), threads: 2)
            #expect(staged.contains { $0 >= UInt32(NodeStore.chunkSize) }, "appended into a second chunk")
            index.rollback(to: mark)
            #expect(try index.insert(contentsOf: HNSWTests.clustered(count: 3_000, dimension: 32, seed: 11), threads: 2) == staged)
            #expect(Self.codeMismatches(index, codes) == [])
            #expect(index.checkInvariants() == [])
        }
        #expect(Self.buildCodes(index) == nil)
    }

    /// Nodes restored during a load get their codes too, so inserts after the restore can
    /// walk them.
    @Test func restoredNodesAreEncoded() throws {
        let original = try HNSWTests.build(.cosine, count: 1_500)
        let restored = try HNSWIndex(dimension: 32, metric: .cosine, parameters: original.parameters, restoring: original.header)
        try restored.bulkLoad { () throws in
            for id in 0..<UInt32(original.slotCount) {
                let record = original.nodeRecord(id), vector = original.vectorBytes(id)
                try record.withUnsafeBytes { r in
                    try vector.withUnsafeBytes { v in try restored.restoreNode(id, record: r, vector: v) }
                }
            }
            try restored.finishRestoring()
            let codes = try #require(Self.buildCodes(restored))
            #expect(Self.codeMismatches(restored, codes) == [])
            let next = HNSWTests.clustered(count: 200, dimension: 32, seed: 13)
            try restored.insert(contentsOf: next, threads: 2)
            #expect(Self.codeMismatches(restored, codes) == [])
        }
        #expect(restored.checkInvariants() == [])
    }

    /// A nested load shares the outer one's codes; a failing body still frees them; an int8
    /// index has codes of its own and makes none.
    @Test func codesLiveExactlyAsLongAsTheOutermostLoad() throws {
        let index = try HNSWTests.build(.cosine, count: 200)
        struct Stop: Error {}
        #expect(throws: Stop.self) {
            try index.bulkLoad { () throws(Stop) in
                let outer = Self.buildCodes(index)
                #expect(outer != nil)
                index.bulkLoad { #expect(Self.buildCodes(index) === outer) }
                #expect(Self.buildCodes(index) === outer)
                throw Stop()
            }
        }
        #expect(Self.buildCodes(index) == nil && index.buildCodeBytes == 0)

        let quantized = try Int8TraversalTests.build(.cosine, traversal: .int8)
        quantized.bulkLoad { #expect(Self.buildCodes(quantized) == nil) }
    }
}
