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

    /// Writes that share a batch become visible together. Each round, a blocker holds the
    /// writer until 50 separate writes — each setting its own row to a value of its own — are
    /// queued behind it and a reader has read while they wait, so they commit as one batch with
    /// the reader running across the commit. Every snapshot the reader takes must hold all 50
    /// rows from one round, and it must have seen more than one round.
    @Test func noReaderSeesHalfABatch() async throws {
        let environment = try makeEnvironment()
        let table = try environment.table("rows", key: UInt64Key.self, value: UInt64Key.self)
        let rows: UInt64 = 50, rounds: UInt64 = 10
        try await environment.write { txn in for row in 0..<rows { try txn.put(table, row, row) } }
        let readsWhilePending = Counter()
        let done = Flag()
        let roundsSeen = try await withThrowingTaskGroup(of: Set<UInt64>.self) { group in
            group.addTask {
                var seen: Set<UInt64> = []
                let deadline = ContinuousClock.now + .seconds(120)
                while !done.isSet {
                    guard ContinuousClock.now < deadline else { throw DeadlinePassed(waitingFor: "the writes to finish") }
                    let pending = environment.writer.pendingCount > 0
                    let snapshot = try environment.read { txn in try (0..<rows).map { try txn.get(table, $0) ?? .max } }
                    // Row i holds round * 1000 + i: every row must come from the same round.
                    let round = snapshot[0] / 1000
                    #expect(snapshot.enumerated().allSatisfy { $1 == round * 1000 + UInt64($0) }, "a snapshot mixes rounds: \(snapshot)")
                    seen.insert(round)
                    if pending { readsWhilePending.increment() }
                    // Lets the writes' tasks run: this loop shares the cooperative threads.
                    await Task.yield()
                }
                return seen
            }
            for round in 1...rounds {
                try await withThrowingTaskGroup(of: Void.self) { batch in
                    await withCheckedContinuation { (blocking: CheckedContinuation<Void, Never>) in
                        batch.addTask {
                            try await environment.write { _ in
                                blocking.resume()
                                let reads = readsWhilePending.value
                                let deadline = ContinuousClock.now + .seconds(30)
                                while (environment.writer.pendingCount < Int(rows) || readsWhilePending.value <= reads) && ContinuousClock.now < deadline {
                                    sched_yield()
                                }
                            }
                        }
                    }
                    for row in 0..<rows {
                        batch.addTask { try await environment.write { txn in try txn.put(table, row, round * 1000 + row) } }
                    }
                    try await batch.waitForAll()
                }
            }
            done.set()
            return try await group.next() ?? []
        }
        #expect(environment.writerStatistics.largestBatch >= Int(rows), "the rows were written in one batch")
        #expect(roundsSeen.count >= 2, "the reader overlapped the commits (saw rounds \(roundsSeen.sorted()))")
        try environment.read { txn throws in
            for row in 0..<rows { #expect(try txn.get(table, row) == rounds * 1000 + row) }
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
