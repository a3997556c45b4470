import Foundation
import KV
@testable import Appliance
import Portal
import Vector
import Testing

/// `portal backup`, `restore`, `check` and `bench storage` on real data directories, including a
/// crash test: the writer is killed with SIGKILL at random moments and every write it
/// acknowledged must be there afterwards.
@Suite struct StorageCommandTests {
    /// A data directory made by the real server (first administrator included), then stopped.
    func populatedDataDirectory() throws -> String {
        let portal = try PortalProcess()
        portal.signal(SIGTERM)
        #expect(portal.waitForExit() == 0)
        return portal.dataDirectory
    }

    @Test func backupRestoreAndCheckRoundTrip() throws {
        let data = try populatedDataDirectory()
        let file = TemporaryDirectory.make() + "/portal.backup"
        let backup = try PortalProcess.run(["backup", file, "--data-dir", data])
        #expect(backup.status == 0, "\(backup.error)")
        #expect(backup.output.contains("backup written to \(file)"))

        let target = TemporaryDirectory.make() + "/restored"
        let restore = try PortalProcess.run(["restore", file, "--data-dir", target])
        #expect(restore.status == 0, "\(restore.error)")

        let check = try PortalProcess.run(["check", "--data-dir", target])
        #expect(check.status == 0, "\(check.error)")
        #expect(check.output.contains("table users: 1 records"))
        #expect(check.output.contains("check: ok"))

        // The restored copy serves, and it is the same installation: no new administrator.
        let restored = try PortalProcess(dataDirectory: target)
        #expect(!restored.standardOutput.contents.contains("First start"))
        restored.signal(SIGTERM)
        #expect(restored.waitForExit() == 0)

        let again = try PortalProcess.run(["restore", file, "--data-dir", target])
        #expect(again.status == 1)
        #expect(again.error.contains("already holds data"))
    }

    @Test func checkFailsOnARecordThatDoesNotDecode() throws {
        let data = try populatedDataDirectory()
        do {
            let environment = try KV.Environment(directory: data)
            let users = try environment.table("users", key: RawBytes.self, value: RawBytes.self)
            let semaphore = DispatchSemaphore(value: 0)
            Task {
                try await environment.write { txn in try txn.put(users, Array(repeating: 1, count: 16), [0x4A, 0x7B, 0x7B]) }
                semaphore.signal()
            }
            semaphore.wait()
            environment.close()
        }
        let check = try PortalProcess.run(["check", "--data-dir", data])
        #expect(check.status == 1)
        #expect(check.error.contains("problem: cannot decode a record of table 'users'"), "\(check.error)")
    }

    @Test func commandsRefuseADirectoryWithoutData() throws {
        let empty = TemporaryDirectory.make()
        for command in [["check"], ["backup", empty + "/x.backup"]] {
            let result = try PortalProcess.run(command + ["--data-dir", empty + "/nothing"])
            #expect(result.status == 66)
            #expect(result.error.contains("holds no portal data"))
            #expect(!FileManager.default.fileExists(atPath: empty + "/nothing"))
        }
    }

    @Test func everyAcknowledgedWriteSurvivesSIGKILL() throws {
        let data = TemporaryDirectory.make() + "/crash"
        var generator = SystemRandomNumberGenerator()
        var acknowledged: Set<UInt64> = []
        for round in 0..<20 {
            let writer = try PortalProcess(running: ["bench", "storage", "--data-dir", data, "--writers", "8", "--writes", "100000", "--print-acks"])
            // Kill after a random number of acknowledgements, so the kill lands mid-batch at varied points.
            let target = Int.random(in: 1...300, using: &generator)
            try writer.standardOutput.waitForLines(prefix: "ack ", count: target, timeout: .seconds(60))
            writer.signal(SIGKILL)
            _ = writer.waitForExit()
            try writer.standardOutput.waitForEnd(timeout: .seconds(5))
            let acks = writer.standardOutput.contents.split(separator: "\n").compactMap { line in
                line.hasPrefix("ack ") ? UInt64(line.dropFirst(4)) : nil
            }
            #expect(acks.count >= target, "round \(round)")
            acknowledged.formUnion(acks)

            let environment = try KV.Environment(directory: data)
            let table = try environment.table("bench_storage", key: UInt64Key.self, value: RawBytes.self)
            let missing = try environment.read { txn in
                try acknowledged.filter { key in
                    try txn.get(table, key) != (0..<96).map { UInt8(truncatingIfNeeded: key &* 31 &+ UInt64($0)) }
                }
            }
            environment.close()
            #expect(missing.isEmpty, "round \(round): \(missing.count) acknowledged writes missing or wrong")
        }
        let check = try PortalProcess.run(["check", "--data-dir", data])
        #expect(check.status == 0, "\(check.error)")
    }
}

/// Records that own vectors, killed mid-write: after every SIGKILL each acknowledged record is
/// present with its vector found first by a search for it, each acknowledged deletion is gone
/// from both, and records and index agree exactly (`portal check` proves the graph).
@Suite struct VectorCrashTests {
    @Test func recordsAndTheirVectorsSurviveSIGKILLTogether() async throws {
        let data = TemporaryDirectory.make() + "/vector-crash"
        var generator = SystemRandomNumberGenerator()
        var acknowledged: Set<String> = []
        var deleted: Set<String> = []
        for round in 0..<12 {
            let writer = try PortalProcess(running: ["bench", "vector-writes", "--data-dir", data, "--writers", "4", "--writes", "100000", "--dimension", "32", "--print-acks"])
            let target = Int.random(in: 1...200, using: &generator)
            try writer.standardOutput.waitForLines(prefix: "ack ", count: target, timeout: .seconds(60))
            writer.signal(SIGKILL)
            _ = writer.waitForExit()
            try writer.standardOutput.waitForEnd(timeout: .seconds(5))
            for line in writer.standardOutput.contents.split(separator: "\n") {
                if line.hasPrefix("ack ") { acknowledged.insert(String(line.dropFirst(4))) }
                if line.hasPrefix("del ") { deleted.insert(String(line.dropFirst(4))) }
            }

            let environment = try KV.Environment(directory: data)
            let core = try await PortalCore(environment: environment)
            let documents = try environment.table("bench_documents", key: StringKey.self, value: RawBytes.self)
            let stored = try environment.read { txn in
                var keys: Set<String> = []
                try txn.forEach(documents) { key, _ in
                    keys.insert(key)
                    return true
                }
                return keys
            }
            let index = try core.vectors.index("bench")
            // The writer deletes every record whose sequence number is 1 mod 5 a little later, so
            // only the others must all be there (a deletion may commit just before the kill).
            let permanent = acknowledged.filter { Int($0.split(separator: "-").last!)! % 5 != 1 }
            #expect(permanent.isSubset(of: stored), "round \(round): acknowledged records missing")
            #expect(stored.isDisjoint(with: deleted), "round \(round): deleted records back")
            #expect(index.count == stored.count, "round \(round): \(index.count) live vectors for \(stored.count) records")
            #expect(try core.vectors.check() == [], "round \(round)")
            // A repair leaves no node unreachable (the next writer run continues from here).
            _ = try await core.vectors.repair("bench")
            #expect(index.checkInvariants() == [], "round \(round)")
            // Each sampled record's vector is stored under it (exact scan), and the graph finds it.
            var found = 0
            let sample = stored.shuffled(using: &generator).prefix(50)
            for key in sample {
                let vector = VectorWritesBenchCommand.vector(for: key, dimension: 32)
                let exact = index.exactSearch(try index.prepared(vector), k: 1).first
                let owned = try core.vectors.nodeID("bench", owner: key)
                #expect(exact != nil && exact?.id == owned && exact!.distance < 1e-5, "round \(round): \(key)")
                if try core.vectors.search("bench", vector: vector, k: 1, ef: 100).first?.owner == key { found += 1 }
            }
            #expect(found * 100 >= sample.count * 96, "round \(round): the graph found \(found) of \(sample.count)")
            environment.close()
        }
        #expect(acknowledged.count >= 12 && !deleted.isEmpty, "the writer made progress before the kills")
        let check = try PortalProcess.run(["check", "--data-dir", data])
        #expect(check.status == 0, "\(check.error)")
    }
}
