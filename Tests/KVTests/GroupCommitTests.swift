import Foundation
import Testing
@testable import KV

@Suite struct GroupCommitTests {
    struct Refused: Error, Equatable {}

    @Test func concurrentWritesAreCoalescedAndAllLand() async throws {
        let environment = try makeEnvironment()
        let table = try environment.table("counts", key: UInt64Key.self, value: UInt64Key.self)
        let writers = 200
        try await withThrowingTaskGroup(of: Void.self) { group in
            // The first write holds the writer until every other write is queued behind it, so
            // they must all share the second commit.
            await withCheckedContinuation { (blockerRunning: CheckedContinuation<Void, Never>) in
                group.addTask {
                    try await environment.write { txn in
                        try txn.put(table, 0, 0)
                        blockerRunning.resume()
                        let deadline = ContinuousClock.now + .seconds(30)
                        while environment.writer.pendingCount < writers - 1 && ContinuousClock.now < deadline { sched_yield() }
                    }
                }
            }
            for index in 1..<writers {
                group.addTask {
                    try await environment.write { txn in try txn.put(table, UInt64(index), UInt64(index * 2)) }
                }
            }
            try await group.waitForAll()
        }
        let statistics = environment.writerStatistics
        #expect(statistics.writes == writers)
        #expect(statistics.batches == 2, "the queued writes must share one commit")
        #expect(statistics.largestBatch == writers - 1)
        try environment.read { txn throws in
            #expect(try txn.count(table) == writers)
            for index in 0..<writers { #expect(try txn.get(table, UInt64(index)) == UInt64(index * 2)) }
        }
    }

    @Test func aFailingWriteIsRolledBackAloneInItsBatch() async throws {
        let environment = try makeEnvironment()
        let table = try environment.table("t", key: UInt64Key.self, value: UInt64Key.self)
        let results = try await withThrowingTaskGroup(of: (Int, Bool).self) { group in
            for index in 0..<100 {
                group.addTask {
                    do {
                        try await environment.write { txn in
                            try txn.put(table, UInt64(index), 1)
                            if index % 3 == 0 { throw Refused() }
                        }
                        return (index, true)
                    } catch is Refused {
                        return (index, false)
                    }
                }
            }
            return try await group.reduce(into: [Int: Bool]()) { $0[$1.0] = $1.1 }
        }
        try environment.read { txn throws in
            for index in 0..<100 {
                #expect(results[index] == (index % 3 != 0))
                #expect(try txn.exists(table, UInt64(index)) == (index % 3 != 0), "row \(index)")
            }
        }
    }

    @Test func noReaderSeesHalfABatch() async throws {
        let environment = try makeEnvironment()
        let table = try environment.table("pairs", key: UInt64Key.self, value: UInt64Key.self)
        try await environment.write { txn in
            try txn.put(table, 0, 0)
            try txn.put(table, 1, 0)
        }
        // Each write moves both rows to the same new value; a reader must never see them differ.
        try await withThrowingTaskGroup(of: Void.self) { group in
            for round in 1...200 {
                group.addTask {
                    try await environment.write { txn in
                        try txn.put(table, 0, UInt64(round))
                        try txn.put(table, 1, UInt64(round))
                    }
                }
            }
            group.addTask {
                for _ in 0..<2_000 {
                    let (a, b) = try environment.read { txn in (try txn.get(table, 0), try txn.get(table, 1)) }
                    #expect(a == b)
                }
            }
            try await group.waitForAll()
        }
    }

    @Test func theMapGrowsUnderTheCeilingThenRefusesClearly() async throws {
        let environment = try makeEnvironment { options in
            options.mapSize = 1 << 20
            options.maximumMapSize = 8 << 20
        }
        let table = try environment.table("blobs", key: UInt64Key.self, value: RawBytes.self)
        let blob = [UInt8](repeating: 7, count: 256 << 10)
        // 3 MiB fits after growing past the 1 MiB start.
        for index in 0..<12 {
            try await environment.write { txn in try txn.put(table, UInt64(index), blob) }
        }
        #expect(environment.mapSize > 1 << 20)
        try environment.read { txn throws in #expect(try txn.count(table) == 12) }
        // Past the 8 MiB ceiling: a clear error, and earlier data intact.
        await #expect(throws: KVError.storageFull(mapSize: 8 << 20)) {
            for index in 12..<64 {
                try await environment.write { txn in try txn.put(table, UInt64(index), blob) }
            }
        }
        try environment.read { txn throws in
            #expect(try txn.get(table, 0) == blob)
            #expect(try txn.count(table) >= 12)
        }
    }
}
