import Foundation
import KV
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
