import ArgumentParser
import FoundationEssentials
import Glibc
import KV
import Portal
import Vector

/// `portal bench vector-writes`: durable writes of records that own a vector, each record and
/// its vector in one transaction, from concurrent writers; some records are deleted again and
/// the graph is repaired as it goes. With `--print-acks` it prints `ack <key>` once a record
/// and its vector are durable and `del <key>` once a deletion is; the crash tests kill it at
/// random moments and then check records and index agree.
struct VectorWritesBenchCommand: AsyncParsableCommand {
    static let configuration = CommandConfiguration(commandName: "vector-writes", abstract: "Durable record-plus-vector writes per second, with deletes and repairs.")

    @Option(name: .customLong("data-dir"), help: "A scratch data directory.") var dataDirectory: String
    @Option(help: "Concurrent writers.") var writers: Int = 4
    @Option(help: "Writes per writer.") var writes: Int = 1_000
    @Option(help: "Vector dimension.") var dimension: Int = 64
    @Flag(help: "Print `ack <key>` / `del <key>` after each acknowledged write or delete.") var printAcks = false

    static let collection = "bench"
    static let tableName = "bench_documents"

    /// The vector of record `key`: derived from the key, so a checker can recompute it.
    static func vector(for key: String, dimension: Int) -> [Float] {
        var state = key.utf8.reduce(UInt64(1469598103934665603)) { ($0 ^ UInt64($1)) &* 1099511628211 }
        return (0..<dimension).map { _ in
            state = state &* 6364136223846793005 &+ 1442695040888963407
            return Float(Int64(bitPattern: state >> 11) % 1_000_001) / 1_000_000 + 0.001
        }
    }

    func validate() throws {
        guard (1...64).contains(writers) else { throw ValidationError("--writers must be 1...64") }
        guard (1...10_000_000).contains(writes) else { throw ValidationError("--writes must be 1...10000000") }
        guard (2...4096).contains(dimension) else { throw ValidationError("--dimension must be 2...4096") }
    }

    func run() async throws {
        let environment = try KV.Environment(directory: dataDirectory)
        defer { environment.close() }
        let core = try await PortalCore(environment: environment)
        let vectors = core.vectors
        let documents = try environment.table(Self.tableName, key: StringKey.self, value: RawBytes.self)
        if (try? vectors.index(Self.collection)) == nil {
            try await vectors.create(Self.collection, dimension: dimension, metric: .cosine, parameters: HNSWParameters(m: 8, efConstruction: 64))
        }
        let run = try environment.read { try $0.count(documents) }
        let dimension = self.dimension, printAcks = self.printAcks, writes = self.writes
        let started = ContinuousClock.now
        try await withThrowingTaskGroup(of: Void.self) { group in
            for writer in 0..<writers {
                group.addTask {
                    for sequence in 0..<writes {
                        let key = "r\(run)-w\(writer)-\(sequence)"
                        let vector = Self.vector(for: key, dimension: dimension)
                        try await environment.write { txn in
                            try txn.put(documents, key, vector.withUnsafeBytes { Array($0) })
                            try vectors.upsert(Self.collection, owner: key, vector: vector, in: txn)
                        }
                        if printAcks { print("ack \(key)") }
                        if sequence % 5 == 4 {
                            let victim = "r\(run)-w\(writer)-\(sequence - 3)"
                            try await environment.write { txn in
                                try txn.delete(documents, victim)
                                try vectors.remove(Self.collection, owner: victim, in: txn)
                            }
                            if printAcks { print("del \(victim)") }
                        }
                        if writer == 0 && sequence % 50 == 49 { try await vectors.repair(Self.collection) }
                        if printAcks { fflush(nil) }
                    }
                }
            }
            try await group.waitForAll()
        }
        let elapsed = ContinuousClock.now - started
        print("vector-writes: \(writers * writes) records with vectors in \(elapsed), \(try vectors.index(Self.collection).count) live vectors")
    }
}
