import Dispatch
import Synchronization
import Testing
@testable import Vector

/// Deletion with repair and slot reuse, replacement, staging, parallel build, persistence
/// records, and searches running while the writer changes the graph.
@Suite struct HNSWMutationTests {
    static let dimension = 32

    static func vectors(_ count: Int, seed: UInt64) -> [[Float]] {
        HNSWTests.clustered(count: count, dimension: dimension, seed: seed)
    }

    @Test func repairCutsTombstonesOutAndTheirSlotsAreReused() throws {
        let index = try HNSWTests.build(.cosine, count: 3_000)
        var random = SplitMix64(seed: 11)
        var removed = Set<UInt32>()
        while removed.count < 900 { removed.insert(UInt32(random.next() % 3_000)) }
        for id in removed { try index.remove(id) }
        #expect(index.deletedCount == 900)
        #expect(index.repairDeleted() == 900)
        #expect(index.deletedCount == 0)
        #expect(index.count == 2_100)
        #expect(index.checkInvariants() == [])
        // No surviving node links to a removed one on any layer.
        for id in 0..<UInt32(3_000) where !removed.contains(id) {
            for level in 0...index.store.level(id) {
                #expect(index.store.neighbors(id, level: level).allSatisfy { !removed.contains($0) })
            }
        }
        let queries = Self.vectors(60, seed: 404)
        #expect(try HNSWTests.recall(index, queries: queries, k: 10, ef: 64) >= 0.95)
        for query in queries {
            let found = try index.search(query, k: 10)
            #expect(found.count == 10 && found.allSatisfy { !removed.contains($0.id) })
        }

        // With no search in flight the grace period passes after two publications; then new
        // vectors take the freed slots instead of growing the store.
        let fresh = Self.vectors(900, seed: 405)
        let ids = try index.insert(contentsOf: fresh)
        #expect(index.slotCount < 3_000 + 900)
        #expect(ids.filter { removed.contains($0) }.count > 800)
        #expect(index.checkInvariants() == [])
        for (id, vector) in zip(ids, fresh).prefix(50) {
            #expect(try index.search(vector, k: 1, ef: 64).first?.id == id)
        }
    }

    @Test func deletingEverythingLeavesAnEmptySearchableGraph() throws {
        let index = try HNSWTests.build(.squaredL2, count: 300)
        for id in 0..<UInt32(300) { try index.remove(id) }
        index.repairDeleted()
        #expect(index.count == 0)
        #expect(index.checkInvariants() == [])
        #expect(try index.search(Self.vectors(1, seed: 1)[0], k: 5) == [])
        let id = try index.insert(Self.vectors(1, seed: 2)[0])
        #expect(try index.search(Self.vectors(1, seed: 2)[0], k: 5).map(\.id) == [id])
    }

    @Test func replaceGivesTheNewVectorANewIDAndHidesTheOld() throws {
        let index = try HNSWTests.build(.cosine, count: 1_000)
        let replacement = Self.vectors(1, seed: 999)[0]
        let newID = try index.replace(7, with: replacement)
        #expect(newID != 7)
        #expect(try index.search(replacement, k: 1).first?.id == newID)
        let nearOld = try index.search(Self.vectors(1_000, seed: 1)[7], k: 20)
        #expect(nearOld.count == 20 && nearOld.allSatisfy { $0.id != 7 })
        #expect(throws: VectorError.unknownID(7)) { try index.replace(7, with: replacement) }
        #expect(throws: VectorError.wrongDimension(expected: 32, got: 2)) { try index.replace(newID, with: [1, 2]) }
        #expect(index.checkInvariants() == [])
    }

    @Test func stagedChangesAreInvisibleUntilPublishedAndRollBackExactly() throws {
        let index = try HNSWTests.build(.cosine, count: 1_500)
        let before = HNSWTests.records(index)
        let header = index.header
        let extra = Self.vectors(40, seed: 808)

        let mark = index.beginStaging()
        let staged = try index.insert(contentsOf: extra)
        try index.remove(3)
        // Searches do not see staged inserts, and still return the staged deletion.
        let beforePublish = try index.search(extra[0], k: 10)
        #expect(beforePublish.count == 10 && beforePublish.allSatisfy { !staged.contains($0.id) })
        #expect(index.exactSearch(try index.prepared(Self.vectors(1_500, seed: 1)[3]), k: 1).first?.id == 3)
        let changes = index.changes(since: mark)
        #expect(Set(changes.created) == Set(staged))
        #expect(changes.rewritten.contains(3))
        #expect(changes.header.slotCount == 1_540)

        index.rollback(to: mark)
        #expect(HNSWTests.records(index) == before)
        #expect(index.header == header)
        #expect(index.checkInvariants() == [])

        // The same writes again, published this time: the same ids (the random source was
        // rolled back too), now visible.
        _ = index.beginStaging()
        #expect(try index.insert(contentsOf: extra) == staged)
        try index.remove(3)
        index.publishStaged()
        #expect(try index.search(extra[0], k: 1).first?.id == staged[0])
        #expect(index.exactSearch(try index.prepared(Self.vectors(1_500, seed: 1)[3]), k: 1).first?.id != 3)
        #expect(index.checkInvariants() == [])
    }

    @Test func parallelBuildIsSoundAccurateAndIndependentOfTheThreadCount() throws {
        let two = try HNSWTests.build(.cosine, count: 4_000, threads: 2)
        let three = try HNSWTests.build(.cosine, count: 4_000, threads: 3)
        #expect(two.checkInvariants() == [])
        #expect(HNSWTests.records(two) == HNSWTests.records(three))
        let recall = try HNSWTests.recall(two, queries: Self.vectors(100, seed: 77), k: 10, ef: 64)
        #expect(recall >= 0.95, "recall@10 = \(recall)")
    }

    @Test func recordsRestoreTheSameGraphWithoutRebuilding() throws {
        let original = try HNSWTests.build(.squaredL2, count: 2_000)
        for id in stride(from: UInt32(0), to: 2_000, by: 9) { try original.remove(id) }
        original.repairDeleted()
        try original.remove(1)  // one tombstone left unrepaired
        let restored = try HNSWIndex(dimension: Self.dimension, metric: .squaredL2, parameters: original.parameters, restoring: original.header)
        for id in 0..<UInt32(original.slotCount) where original.store.state(id) != .free && original.store.state(id) != .unlinked {
            let record = original.nodeRecord(id), vector = original.vectorBytes(id)
            try record.withUnsafeBytes { r in
                try vector.withUnsafeBytes { v in try restored.restoreNode(id, record: r, vector: v) }
            }
        }
        try restored.finishRestoring()
        #expect(restored.checkInvariants() == [])
        #expect(restored.count == original.count)
        #expect(restored.deletedCount == 1)
        for query in Self.vectors(30, seed: 31) {
            #expect(try restored.search(query, k: 10) == original.search(query, k: 10))
        }
        // The restored graph keeps growing like the original.
        let next = Self.vectors(5, seed: 32)
        #expect(try restored.insert(contentsOf: next) == original.insert(contentsOf: next))
    }

    @Test func corruptRecordsAreTypedErrors() throws {
        let index = try HNSWIndex(dimension: 4, metric: .cosine, parameters: HNSWParameters(), restoring: HNSWHeader(entryPoint: 0, maxLevel: 0, slotCount: 2, randomState: 1))
        let vector = [Float](repeating: 0.5, count: 4)
        func restore(_ id: UInt32, _ record: [UInt8], _ vector: [Float]) throws {
            try record.withUnsafeBytes { r in
                try vector.withUnsafeBytes { v in try index.restoreNode(id, record: r, vector: v) }
            }
        }
        #expect(throws: VectorError.self) { () throws in try restore(5, [1, 0, 0, 0, 0, 0], vector) }
        #expect(throws: VectorError.self) { () throws in try restore(0, [1, 0, 0, 0, 0, 0], [1, 2]) }
        #expect(throws: VectorError.self) { () throws in try restore(0, [9, 0, 0, 0, 0, 0], vector) }
        #expect(throws: VectorError.self) { () throws in try restore(0, [1, 0, 1, 0, 0, 0, 0, 0, 0, 0], vector) }  // links to itself
        #expect(throws: VectorError.self) { () throws in try restore(0, [1, 0, 1, 0, 0], vector) }  // ends early
        #expect(throws: VectorError.self) { () throws in try index.finishRestoring() }  // entry point 0 never restored
    }

    /// Searches on two threads while the writer inserts, deletes, repairs and reuses slots.
    /// No search may return a vector whose deletion was published before it began, and the
    /// probe vectors (never deleted) must be found at distance zero by at least 99% of them.
    /// With `bulk`, the writer works inside `bulkLoad`, and its codes must still match.
    @Test(arguments: [false, true])
    func searchesRunWhileTheWriterChangesTheGraph(bulk: Bool) throws {
        let index = try HNSWTests.build(.squaredL2, count: 2_000)
        let base = Self.vectors(2_000, seed: 1)
        let probes = Array(0..<UInt32(100))
        let publishedDeletions = Atomic<Int>(0)
        var shuffler = SplitMix64(seed: 3)
        let deletionOrder = Array(UInt32(100)..<UInt32(2_000)).shuffled(using: &shuffler)
        let done = Atomic<Bool>(false)
        let failures = Mutex<[String]>([])
        let searches = Atomic<Int>(0)
        let probesMissed = Atomic<Int>(0)

        let group = DispatchGroup()
        for reader in 0..<2 {
            DispatchQueue.global().async(group: group) {
                var round = 0
                while !done.load(ordering: .acquiring) || round < 50 {
                    let probe = probes[(round * 7 + reader) % probes.count]
                    let deletedBefore = Set(deletionOrder.prefix(publishedDeletions.load(ordering: .acquiring)))
                    do {
                        let hits = try index.search(base[Int(probe)], k: 10, ef: 80)
                        if hits.first?.id != probe || hits.first?.distance != 0 {
                            probesMissed.wrappingAdd(1, ordering: .relaxed)
                        }
                        // New vectors live far away (see below), so a hit near the probe with a
                        // deleted id is the deleted vector itself, not a new one in its slot.
                        if let stale = hits.first(where: { deletedBefore.contains($0.id) && $0.distance < 10_000 }) {
                            failures.withLock { $0.append("returned \(stale.id), deleted before the search began") }
                        }
                    } catch {
                        failures.withLock { $0.append("search threw \(error)") }
                    }
                    searches.wrappingAdd(1, ordering: .relaxed)
                    round += 1
                }
            }
        }
        var inserted: [UInt32] = []
        func write() throws {
            for (step, chunk) in deletionOrder.chunks(of: 100).enumerated() {
                for id in chunk { try index.remove(id) }
                publishedDeletions.add(chunk.count, ordering: .releasing)
                if step % 3 == 2 { index.repairDeleted() }
                let far = Self.vectors(60, seed: UInt64(500 + step)).map { $0.map { $0 + 100 } }
                inserted += try index.insert(contentsOf: far, threads: bulk ? 2 : 1)
            }
        }
        if bulk {
            try index.bulkLoad { () throws in
                try write()
                let codes = try #require(BulkLoadTests.buildCodes(index))
                #expect(BulkLoadTests.codeMismatches(index, codes) == [])
            }
        } else {
            try write()
        }
        done.store(true, ordering: .releasing)
        group.wait()
        #expect(failures.withLock { $0 } == [])
        let total = searches.load(ordering: .relaxed)
        #expect(total >= 100)
        #expect(probesMissed.load(ordering: .relaxed) * 100 <= total, "\(probesMissed.load(ordering: .relaxed)) of \(total) searches missed their probe")
        index.repairDeleted()
        #expect(index.checkInvariants() == [])
        #expect(index.count == 100 + inserted.count)
        #expect(index.slotCount < 2_000 + inserted.count, "slots were reused while searches ran")
    }
}

extension Array {
    func chunks(of size: Int) -> [ArraySlice<Element>] {
        stride(from: 0, to: count, by: size).map { self[$0 ..< Swift.min($0 + size, count)] }
    }
}
