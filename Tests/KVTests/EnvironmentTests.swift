import Foundation
import Testing
@testable import KV

@Suite struct EnvironmentTests {
    @Test func putGetDeleteCountExists() async throws {
        let environment = try makeEnvironment()
        let notes = try environment.table("notes", key: UInt64Key.self, value: JSONValue<Note>.self)
        try await environment.write { txn in
            try txn.put(notes, 1, Note(title: "a", body: "first"))
            try txn.put(notes, 2, Note(title: "b", body: "second"))
        }
        try environment.read { txn throws in
            #expect(try txn.get(notes, 1) == Note(title: "a", body: "first"))
            #expect(try txn.get(notes, 3) == nil)
            #expect(try txn.exists(notes, 2))
            #expect(try txn.count(notes) == 2)
            #expect(try txn.first(notes)?.key == 1)
            #expect(try txn.last(notes)?.key == 2)
        }
        let deleted = try await environment.write { txn in (try txn.delete(notes, 1), try txn.delete(notes, 1)) }
        #expect(deleted == (true, false))
        try environment.read { txn throws in #expect(try txn.count(notes) == 1) }
    }

    @Test func bigEndianKeysSortNumerically() async throws {
        let environment = try makeEnvironment()
        let table = try environment.table("numbers", key: UInt64Key.self, value: RawBytes.self)
        try await environment.write { txn in
            for key: UInt64 in [256, 1, 65_536, 255] { try txn.put(table, key, []) }
        }
        try environment.read { txn throws in
            #expect(try txn.first(table)?.key == 1)
            #expect(try txn.last(table)?.key == 65_536)
        }
    }

    @Test func writesSurviveReopen() async throws {
        let directory = temporaryDirectory()
        do {
            let environment = try KV.Environment(directory: directory)
            let table = try environment.table("t", key: StringKey.self, value: StringKey.self)
            try await environment.write { txn in try txn.put(table, "k", "v") }
            environment.close()
        }
        let reopened = try KV.Environment(directory: directory)
        let table = try reopened.table("t", key: StringKey.self, value: StringKey.self)
        #expect(try reopened.read { try $0.get(table, "k") } == "v")
        var info = stat()
        #expect(stat(directory + "/data.mdb", &info) == 0)
        #expect(info.st_mode & 0o777 == 0o600)
    }

    @Test func foreignBytesAreATypedDecodeError() async throws {
        let environment = try makeEnvironment()
        let raw = try environment.table("mixed", key: StringKey.self, value: RawBytes.self)
        let typed = try environment.table("mixed", key: StringKey.self, value: JSONValue<Note>.self)
        let shortKey = try environment.table("mixed", key: UInt64Key.self, value: RawBytes.self)
        try await environment.write { txn in
            try txn.put(raw, "garbage", [0xFF, 0x00, 0x13])
            try txn.put(raw, "badjson", Array("J{\"title\":".utf8))
            try txn.put(raw, "empty", [])
        }
        for key in ["garbage", "badjson", "empty"] {
            #expect {
                try environment.read { txn in try txn.get(typed, key) }
            } throws: { error in
                guard case KVError.decode(let table, _) = error else { return false }
                return table == "mixed"
            }
        }
        #expect(throws: KVError.self) { try environment.read { txn in try txn.first(shortKey) } }
    }

    @Test func closedEnvironmentRefusesWork() async throws {
        let environment = try makeEnvironment()
        let table = try environment.table("t", key: StringKey.self, value: StringKey.self)
        environment.close()
        environment.close()
        #expect(throws: KVError.closed) { try environment.read { try $0.get(table, "k") } }
        await #expect(throws: KVError.closed) { try await environment.write { try $0.put(table, "k", "v") } }
        #expect(!environment.health().isReady)
    }
}

@Suite struct MappedPagesTests {
    @Test func releasingMappedPagesDropsThemFromResidentMemoryAndLosesNothing() async throws {
        let directory = temporaryDirectory()
        var options = KV.Environment.Options()
        options.syncOnCommit = false
        let environment = try KV.Environment(directory: directory, options: options)
        defer { environment.close() }
        let table = try environment.table("blobs", key: UInt64Key.self, value: RawBytes.self)
        @Sendable func blob(_ key: UInt64) -> [UInt8] { Array(repeating: UInt8(truncatingIfNeeded: key &* 37 &+ 1), count: 128 << 10) }
        for start in stride(from: UInt64(0), to: 256, by: 64) {
            try await environment.write { txn in for key in start..<start + 64 { try txn.put(table, key, blob(key)) } }
        }
        func readAll() throws -> Bool {
            try environment.read { txn throws in try (0..<UInt64(256)).allSatisfy { try txn.get(table, $0) == blob($0) } }
        }
        #expect(try readAll())
        let mapped = try #require(environment.mappedResidentBytes())
        #expect(mapped >= 30 << 20, "reading 32 MiB should map it: \(mapped) bytes")

        environment.releaseMappedPages()
        let released = try #require(environment.mappedResidentBytes())
        #expect(released < 1 << 20, "\(released) bytes still mapped")
        #expect(try readAll(), "every value reads back the same after the release")
        #expect(try #require(environment.mappedResidentBytes()) >= 30 << 20)

        environment.close()
        environment.releaseMappedPages()  // a closed environment: nothing to release, no crash
    }
}
