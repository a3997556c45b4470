import CLMDB
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

    /// Opened with `MDB_NOTLS`: a read transaction is not tied to its thread's slot, so one
    /// thread can hold two at once (without the flag LMDB refuses the second, MDB_BAD_RSLOT).
    @Test func readTransactionsAreNotTiedToAThread() async throws {
        let environment = try makeEnvironment()
        var flags: UInt32 = 0
        #expect(mdb_env_get_flags(environment.handle, &flags) == 0)
        #expect(flags & UInt32(MDB_NOTLS) != 0)
        let table = try environment.table("t", key: StringKey.self, value: StringKey.self)
        try await environment.write { txn in try txn.put(table, "k", "v") }
        let nested = try environment.read { outer in
            try (outer.get(table, "k"), environment.read { inner in try inner.get(table, "k") })
        }
        #expect(nested == ("v", "v"))
    }

    /// Another process (the portal serving, while a command reads its data) grows the map past
    /// the size this process mapped: the next read gets `MDB_MAP_RESIZED` from LMDB, adopts the
    /// larger map and reads what the other process wrote. The other process is Python calling
    /// liblmdb through ctypes.
    @Test func aMapGrownByAnotherProcessIsAdopted() throws {
        let directory = temporaryDirectory()
        var options = KV.Environment.Options()
        options.mapSize = 1 << 20
        let environment = try KV.Environment(directory: directory, options: options)
        defer { environment.close() }
        let big = try environment.table("big", key: StringKey.self, value: StringKey.self)
        #expect(try environment.read { txn in try txn.get(big, "k0") } == nil)
        /// Another process writes keys `k<first>`…`k<first + 999>` of 4 KB each into "big".
        func writeFromAnotherProcess(first: Int) throws {
            let writer = Process()
            writer.executableURL = URL(fileURLWithPath: "/usr/bin/python3")
            writer.arguments = ["-c", """
                import ctypes, sys
                lmdb = ctypes.CDLL("liblmdb.so.0")
                class Val(ctypes.Structure):
                    _fields_ = [("size", ctypes.c_size_t), ("data", ctypes.c_void_p)]
                env, txn, dbi = ctypes.c_void_p(), ctypes.c_void_p(), ctypes.c_uint()
                assert lmdb.mdb_env_create(ctypes.byref(env)) == 0
                assert lmdb.mdb_env_set_maxdbs(env, 256) == 0
                assert lmdb.mdb_env_set_mapsize(env, ctypes.c_size_t(64 << 20)) == 0
                assert lmdb.mdb_env_open(env, sys.argv[1].encode(), 0x200000, 0o600) == 0  # MDB_NOTLS
                assert lmdb.mdb_txn_begin(env, None, 0, ctypes.byref(txn)) == 0
                assert lmdb.mdb_dbi_open(txn, b"big", 0, ctypes.byref(dbi)) == 0
                value = b"x" * 4096
                for number in range(int(sys.argv[2]), int(sys.argv[2]) + 1000):
                    key = f"k{number}".encode()
                    assert lmdb.mdb_put(txn, dbi, ctypes.byref(Val(len(key), ctypes.cast(key, ctypes.c_void_p))),
                                        ctypes.byref(Val(len(value), ctypes.cast(value, ctypes.c_void_p))), 0) == 0
                assert lmdb.mdb_txn_commit(txn) == 0
                lmdb.mdb_env_close(env)
                """, directory, String(first)]
            try writer.run()
            writer.waitUntilExit()
            #expect(writer.terminationStatus == 0, "the writing process failed")
        }
        try writeFromAnotherProcess(first: 0)
        // 4 MB written by the other process: beyond the 1 MiB this one mapped.
        let (count, sample) = try environment.read { txn in
            var count = 0
            try txn.forEach(big) { (_, _) throws(KVError) in count += 1; return true }
            return (count, try txn.get(big, "k999"))
        }
        #expect(count == 1000 && sample == String(repeating: "x", count: 4096))
        #expect(environment.mapSize >= 4 << 20, "the larger map was adopted")

        // A command opening the data of a portal that grew its map (`portal jobs list` next to
        // the server): its configured map is smaller than the file's, and the first table it
        // opens begins a transaction. It adopts the map there too (this failed with
        // MDB_MAP_RESIZED while the 100,000-incident benchmark ran).
        // It maps what is there when it opens; the serving process writes on before the command
        // opens its first table.
        let command = try KV.Environment(directory: directory, options: options)
        defer { command.close() }
        try writeFromAnotherProcess(first: 1000)
        let again = try command.table("big", key: StringKey.self, value: StringKey.self)
        #expect(try command.read { txn in try txn.get(again, "k1999") } == String(repeating: "x", count: 4096))
    }

    /// A process killed in the middle of a read leaves its reader slot in `lock.mdb`; opening
    /// the environment frees it. LMDB resets the whole reader table when the opener is alone,
    /// so the case that needs `mdb_reader_check` is the shared one (a `portal backup` next to
    /// a running server): here one process keeps the environment open, another is killed
    /// with SIGKILL inside a read transaction, and then this process opens it. Both are Python
    /// calling liblmdb through ctypes.
    @Test func staleReadersOfKilledProcessesAreCleared() async throws {
        let directory = temporaryDirectory()
        do {
            let environment = try KV.Environment(directory: directory)
            #expect(environment.staleReadersCleared == 0)
            environment.close()
        }
        func lmdbProcess(readTransaction: Bool) throws -> Process {
            let process = Process()
            process.executableURL = URL(fileURLWithPath: "/usr/bin/python3")
            process.arguments = ["-c", """
                import ctypes, sys, time
                lmdb = ctypes.CDLL("liblmdb.so.0")
                env, txn = ctypes.c_void_p(), ctypes.c_void_p()
                assert lmdb.mdb_env_create(ctypes.byref(env)) == 0
                assert lmdb.mdb_env_set_maxdbs(env, 256) == 0
                assert lmdb.mdb_env_open(env, sys.argv[1].encode(), 0x200000, 0o600) == 0  # MDB_NOTLS
                if sys.argv[2] == "read":
                    assert lmdb.mdb_txn_begin(env, None, 0x20000, ctypes.byref(txn)) == 0   # MDB_RDONLY
                print("ready", flush=True)
                time.sleep(120)
                """, directory, readTransaction ? "read" : "hold"]
            let output = Pipe()
            process.standardOutput = output
            try process.run()
            let line = String(decoding: output.fileHandleForReading.availableData, as: UTF8.self)
            #expect(line.hasPrefix("ready"), "the LMDB process did not start: \(line)")
            return process
        }
        let holder = try lmdbProcess(readTransaction: false)
        defer {
            kill(holder.processIdentifier, SIGKILL)
            holder.waitUntilExit()
        }
        let reader = try lmdbProcess(readTransaction: true)
        kill(reader.processIdentifier, SIGKILL)
        reader.waitUntilExit()
        #expect(reader.terminationReason == .uncaughtSignal)
        let reopened = try KV.Environment(directory: directory)
        #expect(reopened.staleReadersCleared == 1, "the killed reader's slot was freed")
        reopened.close()
        #expect(try KV.Environment(directory: directory).staleReadersCleared == 0, "cleared once, for good")
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
