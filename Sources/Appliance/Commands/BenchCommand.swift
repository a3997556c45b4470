import ArgumentParser
import FoundationEssentials
import Glibc
import KV
import Portal

/// `portal bench`: measurements an operator can run on the target host.
struct BenchCommand: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "bench",
        abstract: "Measure this host: durable storage throughput, vector search speed and recall, jobs and the outbox.",
        subcommands: [StorageBenchCommand.self, VectorBenchCommand.self, VectorWritesBenchCommand.self, ChatSearchBenchCommand.self,
                      JobsBenchCommand.self, OutboxBenchCommand.self, EmbedderQualityBenchCommand.self]
    )
}

/// `portal bench storage`: durable (fsync) writes from concurrent writers through group commit.
/// With `--print-acks` it prints each write's key once the write is acknowledged (durable);
/// the crash tests kill it at random moments and then look for every printed key.
struct StorageBenchCommand: AsyncParsableCommand {
    static let configuration = CommandConfiguration(commandName: "storage", abstract: "Durable writes per second with concurrent writers.")

    @Option(name: .customLong("data-dir"), help: "A scratch data directory (its bench table is written to).") var dataDirectory: String
    @Option(help: "Concurrent writers.") var writers: Int = 8
    @Option(help: "Writes per writer.") var writes: Int = 500
    @Flag(help: "Print `ack <key>` after each acknowledged write.") var printAcks = false

    static let tableName = "bench_storage"

    /// The value stored under `key`: derived from the key, so a reader can tell a torn or
    /// misplaced value from the right one.
    static func value(for key: UInt64) -> [UInt8] {
        (0..<96).map { UInt8(truncatingIfNeeded: key &* 31 &+ UInt64($0)) }
    }

    func validate() throws {
        guard (1...1024).contains(writers) else { throw ValidationError("--writers must be 1...1024") }
        guard (1...10_000_000).contains(writes) else { throw ValidationError("--writes must be 1...10000000") }
    }

    func run() async throws {
        let environment = try KV.Environment(directory: dataDirectory)
        defer { environment.close() }
        let table = try environment.table(Self.tableName, key: UInt64Key.self, value: RawBytes.self)
        let run = UInt64(try environment.read { try $0.count(table) })
        let started = ContinuousClock.now
        let printAcks = self.printAcks, writes = self.writes
        try await withThrowingTaskGroup(of: Void.self) { group in
            for writer in 0..<writers {
                group.addTask {
                    for sequence in 0..<writes {
                        let key = run << 40 | UInt64(writer) << 24 | UInt64(sequence)
                        try await environment.write { txn in try txn.put(table, key, Self.value(for: key)) }
                        if printAcks {
                            print("ack \(key)")
                            fflush(nil)
                        }
                    }
                }
            }
            try await group.waitForAll()
        }
        let elapsed = ContinuousClock.now - started
        let seconds = elapsed.timeInterval
        let statistics = environment.writerStatistics
        print("storage: \(writers * writes) durable writes in \(String(Int(seconds * 1000))) ms = "
            + "\(Int(Double(writers * writes) / seconds)) writes/s, \(statistics.batches) commits "
            + "(mean batch \(statistics.writes / max(1, statistics.batches)), largest \(statistics.largestBatch))")
    }
}
