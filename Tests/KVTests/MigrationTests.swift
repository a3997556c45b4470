import Foundation
import Testing
@testable import KV

@Suite struct MigrationTests {
    @Test func stepsRunOnceInOrder() async throws {
        let directory = temporaryDirectory()
        func steps(_ count: Int, _ log: Table<UInt64Key, StringKey>) -> [Migration] {
            (1...count).reversed().map { version in
                Migration(version, "step \(version)") { txn in
                    let next = (try txn.last(log)?.key ?? 0) + 1
                    try txn.put(log, next, "v\(version)")
                }
            }
        }
        do {
            let environment = try KV.Environment(directory: directory)
            let log = try environment.table("log", key: UInt64Key.self, value: StringKey.self)
            #expect(try await environment.migrate(steps(2, log)) == 2)
            #expect(try await environment.migrate(steps(2, log)) == 2)
            environment.close()
        }
        let environment = try KV.Environment(directory: directory)
        let log = try environment.table("log", key: UInt64Key.self, value: StringKey.self)
        #expect(try await environment.migrate(steps(3, log)) == 3)
        try environment.read { txn throws in
            #expect(try txn.get(log, 1) == "v1")
            #expect(try txn.get(log, 2) == "v2")
            #expect(try txn.get(log, 3) == "v3")
            #expect(try txn.count(log) == 3)
        }
    }

    @Test func aNewerSchemaIsRefused() async throws {
        let environment = try makeEnvironment()
        try await environment.migrate([Migration(1, "a") { _ in }, Migration(2, "b") { _ in }])
        await #expect(throws: KVError.schemaTooNew(found: 2, supported: 1)) {
            try await environment.migrate([Migration(1, "a") { _ in }])
        }
    }

    @Test func aFailingStepLeavesNoTrace() async throws {
        struct Broken: Error {}
        let environment = try makeEnvironment()
        let table = try environment.table("t", key: StringKey.self, value: StringKey.self)
        await #expect(throws: Broken.self) {
            try await environment.migrate([Migration(1, "half") { txn in
                try txn.put(table, "partial", "x")
                throw Broken()
            }])
        }
        #expect(try environment.schemaVersion() == 0)
        #expect(try environment.read { try $0.get(table, "partial") } == nil)
    }
}
