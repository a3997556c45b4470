import Benchmark
import Foundation
import KV

/// Storage micro-benchmarks: point reads and durable writes through the typed API.
/// The side-by-side comparison with raw LMDB and SQLite is issue 3's script.
let benchmarks: @Sendable () -> Void = {
    Benchmark.defaultConfiguration = .init(metrics: [.wallClock, .throughput], maxDuration: .seconds(3), maxIterations: 1_000_000)

    let rows: UInt64 = 100_000
    let fixture = StorageFixture(rows: rows)

    Benchmark("KV typed point get (100k rows)") { benchmark in
        var generator = SystemRandomNumberGenerator()
        for _ in benchmark.scaledIterations {
            let key = UInt64.random(in: 0..<rows, using: &generator)
            blackHole(try fixture.environment.read { try $0.get(fixture.table, key) })
        }
    }

    Benchmark("KV durable single write (fsync)", configuration: .init(maxDuration: .seconds(3), maxIterations: 2_000)) { benchmark in
        var key = rows
        for _ in benchmark.scaledIterations {
            key += 1
            let current = key
            try await fixture.durable.write { txn in try txn.put(fixture.durableTable, current, fixture.value) }
        }
    }

    for writers in [8, 64] {
        Benchmark("KV group commit, \(writers) concurrent writers (fsync)",
                  configuration: .init(maxDuration: .seconds(3), maxIterations: 200)) { benchmark in
            for iteration in benchmark.scaledIterations {
                try await withThrowingTaskGroup(of: Void.self) { group in
                    for writer in 0..<writers {
                        let key = UInt64(1 << 40) + UInt64(iteration * writers + writer)
                        group.addTask {
                            try await fixture.durable.write { txn in try txn.put(fixture.durableTable, key, fixture.value) }
                        }
                    }
                    try await group.waitForAll()
                }
            }
        }
    }
}

/// Two environments in a temporary directory: one filled for reads, one syncing on commit.
final class StorageFixture: Sendable {
    let environment: KV.Environment
    let table: Table<UInt64Key, RawBytes>
    let durable: KV.Environment
    let durableTable: Table<UInt64Key, RawBytes>
    let value = [UInt8](repeating: 0x5A, count: 100)

    init(rows: UInt64) {
        let base = FileManager.default.temporaryDirectory.appendingPathComponent("portal-bench-\(UUID().uuidString)").path
        var fast = KV.Environment.Options()
        fast.syncOnCommit = false
        environment = try! KV.Environment(directory: base + "-reads", options: fast)
        table = try! environment.table("rows", key: UInt64Key.self, value: RawBytes.self)
        durable = try! KV.Environment(directory: base + "-writes")
        durableTable = try! durable.table("rows", key: UInt64Key.self, value: RawBytes.self)
        let semaphore = DispatchSemaphore(value: 0)
        let environment = self.environment, table = self.table, value = self.value
        Task {
            try! await environment.write { txn in
                for key in 0..<rows { try txn.put(table, key, value) }
            }
            semaphore.signal()
        }
        semaphore.wait()
    }
}
