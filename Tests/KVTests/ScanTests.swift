import Foundation
import Testing
@testable import KV

@Suite struct ScanTests {
    typealias OrgKey = CompositeKey<String, UInt64>

    func filled() async throws -> (KV.Environment, Table<OrgKey, UInt64Key>) {
        let environment = try makeEnvironment()
        let table = try environment.table("events", key: OrgKey.self, value: UInt64Key.self)
        try await environment.write { txn in
            for org in ["acme", "acme\u{0}x", "beta", "ac"] {
                for sequence: UInt64 in [1, 2, 3, 255, 256, 70_000] { try txn.put(table, (org, sequence), sequence) }
            }
        }
        return (environment, table)
    }

    @Test func prefixScansStayInsideTheirPrefixBothWays() async throws {
        let (environment, table) = try await filled()
        try environment.read { txn throws in
            var forward: [UInt64] = []
            try txn.forEach(table, prefix: OrgKey.prefix("acme")) { key, _ in
                #expect(key.0 == "acme")
                forward.append(key.1)
                return true
            }
            #expect(forward == [1, 2, 3, 255, 256, 70_000])
            var reverse: [UInt64] = []
            try txn.forEach(table, prefix: OrgKey.prefix("acme"), direction: .reverse) { key, _ in
                #expect(key.0 == "acme")
                reverse.append(key.1)
                return true
            }
            #expect(reverse == forward.reversed())
            var all = 0
            try txn.forEach(table) { _, _ in all += 1; return true }
            #expect(all == 24)
        }
    }

    @Test func rangeBoundsAreInclusiveExclusive() async throws {
        let (environment, table) = try await filled()
        try environment.read { txn throws in
            var keys: [UInt64] = []
            try txn.forEach(table, from: ("beta", 3), to: ("beta", 256)) { key, _ in keys.append(key.1); return true }
            #expect(keys == [3, 255])
            keys = []
            try txn.forEach(table, from: ("beta", 3), to: ("beta", 256), direction: .reverse) { key, _ in keys.append(key.1); return true }
            #expect(keys == [255, 3])
        }
    }

    @Test(arguments: [ScanDirection.forward, .reverse], [1, 2, 5, 6, 7])
    func pagesVisitEveryRowOnce(direction: ScanDirection, limit: Int) async throws {
        let (environment, table) = try await filled()
        var seen: [UInt64] = []
        var token: ContinuationToken?
        var pages = 0
        repeat {
            let page = try environment.read { txn in
                try txn.page(table, prefix: OrgKey.prefix("beta"), direction: direction, limit: limit, after: token)
            }
            #expect(page.items.count <= limit)
            seen += page.items.map(\.key.1)
            // The token survives a round trip through its text form, as a client would send it back.
            token = page.next.flatMap { ContinuationToken($0.description) }
            pages += 1
        } while token != nil && pages < 100
        let expected: [UInt64] = [1, 2, 3, 255, 256, 70_000]
        #expect(seen == (direction == .forward ? expected : expected.reversed()))
    }

    @Test func foreignOrMismatchedTokensAreRefused() async throws {
        let (environment, table) = try await filled()
        #expect(ContinuationToken("not a token!") == nil)
        #expect(ContinuationToken("") == nil)
        let page = try environment.read { txn in try txn.page(table, limit: 2) }
        let token = try #require(page.next)
        #expect(throws: KVError.invalidContinuation) {
            try environment.read { txn in try txn.page(table, direction: .reverse, limit: 2, after: token) }
        }
        // A token from another prefix cannot escape this prefix.
        let outside = try environment.read { txn in
            try txn.page(table, prefix: OrgKey.prefix("beta"), limit: 50, after: token)
        }
        #expect(!outside.items.isEmpty)
        #expect(outside.items.allSatisfy { $0.key.0 == "beta" })
    }

    @Test func compositeComponentsKeepTheirOrder() throws {
        let strings = ["", "a", "a\u{0}", "a\u{0}b", "ab", "b", "é"]
        let encoded = strings.map { Key<String>.encode($0) }
        #expect(encoded == encoded.sorted { $0.lexicographicallyPrecedes($1) })
        for (string, bytes) in zip(strings, encoded) {
            #expect(try bytes.withUnsafeBytes { try Key<String>.decode($0) } == string)
        }
        let numbers: [Int64] = [.min, -70_000, -1, 0, 1, 255, .max]
        let encodedNumbers = numbers.map { Key<Int64>.encode($0) }
        #expect(encodedNumbers == encodedNumbers.sorted { $0.lexicographicallyPrecedes($1) })
        #expect(throws: CodecError.self) { try [0x61, 0x00].withUnsafeBytes { try Key<String>.decode($0) } }
    }

    @Test func timeOrderedIDsIncreaseAndCarryTheirTime() {
        let now = Date()
        let ids = (0..<5_000).map { _ in TimeOrderedID.generate(now: now) }
        #expect(zip(ids, ids.dropFirst()).allSatisfy { $0 < $1 })
        #expect(abs(ids[0].date.timeIntervalSince(now)) < 0.002)
        #expect(ids[0].description.count == 36)
        #expect(ids[0].description.dropFirst(14).first == "7")
        #expect(TimeOrderedID(ids[0].description) == ids[0])
    }
}
