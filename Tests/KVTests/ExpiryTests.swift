import Foundation
import Testing
@testable import KV

@Suite struct ExpiryTests {
    @Test func expiredRowsReadAsAbsentAndTheSweepDeletesThem() async throws {
        let environment = try makeEnvironment()
        let sessions = try environment.expiringTable("sessions", key: StringKey.self, value: StringKey.self)
        let past = Date().addingTimeInterval(-60), future = Date().addingTimeInterval(3600)
        try await environment.write { txn in
            for index in 0..<600 { try txn.put(sessions, "old-\(index)", "x", expiresAt: past) }
            try txn.put(sessions, "live", "y", expiresAt: future)
            try txn.put(sessions, "forever", "z")
        }
        try environment.read { txn throws in
            #expect(try txn.get(sessions, "old-1") == nil)
            #expect(try !txn.exists(sessions, "old-1"))
            #expect(try txn.get(sessions, "live") == "y")
            var visible: [String] = []
            try txn.forEach(sessions) { key, _ in visible.append(key); return true }
            #expect(visible == ["forever", "live"])
            #expect(try txn.count(sessions) == 602)  // not swept yet
        }
        // Batches of 256: 600 rows take three write transactions.
        let before = environment.writerStatistics.batches
        #expect(try await environment.sweepExpired(batchSize: 256) == 600)
        #expect(environment.writerStatistics.batches - before == 3)
        try environment.read { txn throws in #expect(try txn.count(sessions) == 2) }
        #expect(try await environment.sweepExpired() == 0)
        #expect(try await environment.sweepExpired(now: future.addingTimeInterval(1)) == 1)
        try environment.read { txn throws in #expect(try txn.get(sessions, "forever") == "z") }
        #expect(try environment.check().isHealthy)
    }

    @Test func rewritingOrDeletingARowClearsItsOldExpiry() async throws {
        let environment = try makeEnvironment()
        let table = try environment.expiringTable("tokens", key: StringKey.self, value: StringKey.self)
        let soon = Date().addingTimeInterval(-1)
        try await environment.write { txn in
            try txn.put(table, "a", "1", expiresAt: soon)
            try txn.put(table, "a", "2")                       // rewritten without expiry: must survive
            try txn.put(table, "b", "1", expiresAt: soon)
            try txn.delete(table, "b")
            try txn.put(table, "b", "2", expiresAt: Date().addingTimeInterval(3600))
        }
        #expect(try await environment.sweepExpired() == 0)
        try environment.read { txn throws in
            #expect(try txn.get(table, "a") == "2")
            #expect(try txn.get(table, "b") == "2")
        }
    }
}
