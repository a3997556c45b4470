import Foundation
import Synchronization
import Testing
@testable import KV

@Suite struct BackupTests {
    @Test func aBackupRestoresToTheSameRecords() async throws {
        let environment = try makeEnvironment()
        let table = try environment.table("rows", key: UInt64Key.self, value: RawBytes.self)
        try await environment.write { txn in
            for key in 0..<5_000 as Range<UInt64> { try txn.put(table, key, Array(repeating: UInt8(key % 251), count: 64)) }
        }
        let file = temporaryDirectory() + ".backup"
        let header = try Backup.create(of: environment, to: file, schemaVersion: 7)
        #expect(header.schemaVersion == 7)
        #expect(try Backup.verify(file) == header)
        var info = stat()
        #expect(stat(file, &info) == 0 && info.st_mode & 0o777 == 0o600)

        let target = temporaryDirectory()
        _ = try Backup.restore(from: file, into: target, supportedSchemaVersion: 7)
        let restored = try KV.Environment(directory: target)
        let restoredTable = try restored.table("rows", key: UInt64Key.self, value: RawBytes.self)
        try restored.read { txn throws in
            #expect(try txn.count(restoredTable) == 5_000)
            #expect(try txn.get(restoredTable, 4_321) == Array(repeating: UInt8(4_321 % 251), count: 64))
        }
        #expect(try restored.check().isHealthy)
    }

    @Test func restoreRefusesDamagedForeignOrMisplacedFiles() async throws {
        let environment = try makeEnvironment()
        let table = try environment.table("rows", key: UInt64Key.self, value: RawBytes.self)
        try await environment.write { txn in try txn.put(table, 1, [1, 2, 3]) }
        let file = temporaryDirectory() + ".backup"
        _ = try Backup.create(of: environment, to: file, schemaVersion: 1)
        var bytes = try Data(contentsOf: URL(fileURLWithPath: file))

        // Not empty: the directory already holds data.
        #expect(throws: KVError.self) { try Backup.restore(from: file, into: environment.path, supportedSchemaVersion: 7) }

        var damaged = bytes
        damaged[damaged.count / 2] ^= 0x40
        let damagedFile = file + ".damaged"
        try damaged.write(to: URL(fileURLWithPath: damagedFile))
        let target = temporaryDirectory()
        #expect { try Backup.restore(from: damagedFile, into: target, supportedSchemaVersion: 7) } throws: { "\($0)".contains("checksum mismatch") }
        #expect(!FileManager.default.fileExists(atPath: target + "/data.mdb"))

        // A backup from a newer schema is refused before anything is written.
        let newer = temporaryDirectory()
        #expect(throws: KVError.schemaTooNew(found: 1, supported: 0)) {
            try Backup.restore(from: file, into: newer, supportedSchemaVersion: 0)
        }
        #expect(!FileManager.default.fileExists(atPath: newer + "/data.mdb"))

        bytes.removeLast(100)
        try bytes.write(to: URL(fileURLWithPath: file + ".short"))
        #expect(throws: KVError.self) { try Backup.restore(from: file + ".short", into: temporaryDirectory(), supportedSchemaVersion: 7) }

        try Data("hello, not a backup at all, but long enough to have a header and trailer".utf8).write(to: URL(fileURLWithPath: file + ".foreign"))
        #expect { try Backup.verify(file + ".foreign") } throws: { "\($0)".contains("not a portal backup") }
    }

    /// A backup taken while writers run is one consistent snapshot: each write sets a pair of
    /// rows to the same value, and the restored copy never holds a pair that disagrees.
    @Test func aBackupTakenDuringWritesIsConsistent() async throws {
        let environment = try makeEnvironment()
        let pairs = try environment.table("pairs", key: UInt64Key.self, value: UInt64Key.self)
        let file = temporaryDirectory() + ".backup"
        let backupDone = Flag()
        try await withThrowingTaskGroup(of: Void.self) { group in
            // Writers keep going until the backup is written, so it is taken mid-stream.
            for writer in 0..<4 as Range<UInt64> {
                group.addTask {
                    var round: UInt64 = 0
                    while !backupDone.isSet && round < 1_000_000 {
                        round += 1
                        try await environment.write { [round] txn in
                            try txn.put(pairs, writer * 2, round)
                            try txn.put(pairs, writer * 2 + 1, round)
                        }
                    }
                }
            }
            group.addTask {
                defer { backupDone.set() }
                // Bounded: if the writers died, fail instead of spinning forever.
                let deadline = ContinuousClock.now + .seconds(60)
                while environment.writerStatistics.writes < 100 {
                    guard ContinuousClock.now < deadline else { throw DeadlinePassed(waitingFor: "100 writes before the backup") }
                    await Task.yield()
                }
                _ = try Backup.create(of: environment, to: file, schemaVersion: 1)
            }
            try await group.waitForAll()
        }
        let target = temporaryDirectory()
        _ = try Backup.restore(from: file, into: target, supportedSchemaVersion: 7)
        let restored = try KV.Environment(directory: target)
        let restoredPairs = try restored.table("pairs", key: UInt64Key.self, value: UInt64Key.self)
        var total: UInt64 = 0
        try restored.read { txn throws in
            for writer in 0..<4 as Range<UInt64> {
                let a = try txn.get(restoredPairs, writer * 2), b = try txn.get(restoredPairs, writer * 2 + 1)
                #expect(a == b, "writer \(writer): a torn pair in the backup")
                total += a ?? 0
            }
        }
        #expect(total >= 100, "the backup was taken after 100 writes (total \(total))")
    }
}

/// A wait in a test ran out of time: what it waited for never happened.
struct DeadlinePassed: Error, CustomStringConvertible {
    let waitingFor: String
    var description: String { "gave up waiting for \(waitingFor)" }
}

/// A flag one task sets and others poll.
final class Flag: Sendable {
    private let value = Atomic<Bool>(false)
    var isSet: Bool { value.load(ordering: .acquiring) }
    func set() { value.store(true, ordering: .releasing) }
}

/// A count several tasks add to and read.
final class Counter: Sendable {
    private let count = Atomic<Int>(0)
    var value: Int { count.load(ordering: .acquiring) }
    func increment() { count.add(1, ordering: .releasing) }
}
