import Foundation
import Testing
@testable import KV

/// Seeded random operation sequences on an indexed table, checked after every step against an
/// in-memory model: rows, unique and multi-valued index lookups, and `check()`.
@Suite struct IndexPropertyTests {
    struct Person: Codable, Sendable, Equatable {
        var email: String?
        var tags: [String]
    }

    struct SplitMix: RandomNumberGenerator {
        var state: UInt64
        mutating func next() -> UInt64 {
            state &+= 0x9E37_79B9_7F4A_7C15
            var z = state
            z = (z ^ (z >> 30)) &* 0xBF58_476D_1CE4_E5B9
            z = (z ^ (z >> 27)) &* 0x94D0_49BB_1331_11EB
            return z ^ (z >> 31)
        }
    }

    static let emails = ["a@x", "b@x", "c@x", "d@x", "e@x", "f@x"]
    static let tags = ["ops", "db", "net", "sec"]

    func open(_ environment: KV.Environment) throws -> IndexedTable<UInt64Key, JSONValue<Person>> {
        try environment.indexedTable("people", key: UInt64Key.self, value: JSONValue<Person>.self, indexes: [
            .unique("email", StringKey.self) { $0.email },
            .multiple("tag", StringKey.self) { $0.tags },
        ])
    }

    @Test(arguments: 0..<16)
    func randomOperationsAgreeWithTheModel(seed: UInt64) async throws {
        var random = SplitMix(state: seed)
        let environment = try makeEnvironment()
        let people = try open(environment)
        let byEmail = people.index("email", StringKey.self)
        let byTag = people.index("tag", StringKey.self)
        var model: [UInt64: Person] = [:]

        for step in 0..<150 {
            let id = UInt64.random(in: 0..<24, using: &random)
            switch Int.random(in: 0..<10, using: &random) {
            case 0..<6:
                let person = Person(
                    email: Bool.random(using: &random) ? Self.emails.randomElement(using: &random) : nil,
                    tags: Self.tags.filter { _ in Int.random(in: 0..<3, using: &random) == 0 }
                )
                let conflict = person.email.map { email in model.contains { $0.key != id && $0.value.email == email } } ?? false
                do {
                    try await environment.write { txn in try txn.put(people, id, person) }
                    #expect(!conflict, "seed \(seed) step \(step): a duplicate email was accepted")
                    model[id] = person
                } catch let error as KVError {
                    #expect(conflict && error == .uniqueViolation(index: "people#email"), "seed \(seed) step \(step): \(error)")
                }
            case 6..<9:
                let deleted = try await environment.write { txn in try txn.delete(people, id) }
                #expect(deleted == (model.removeValue(forKey: id) != nil), "seed \(seed) step \(step)")
            default:
                try await environment.write { txn in try txn.rebuildIndexes(people) }
            }

            try environment.read { txn throws in
                var stored: [UInt64: Person] = [:]
                try txn.forEach(people.table) { key, value in stored[key] = value; return true }
                #expect(stored == model, "seed \(seed) step \(step): table differs from the model")
                for email in Self.emails {
                    let expected = model.first { $0.value.email == email }?.key
                    #expect(try txn.get(people, byEmail, email)?.key == expected, "seed \(seed) step \(step) email \(email)")
                }
                for tag in Self.tags {
                    let expected = model.filter { $0.value.tags.contains(tag) }.keys.sorted()
                    #expect(try txn.primaryKeys(byTag, tag) == expected, "seed \(seed) step \(step) tag \(tag)")
                }
            }
        }
        let report = try environment.check()
        #expect(report.isHealthy, "seed \(seed): \(report.problems)")
        #expect(report.rowsByTable["people"] == model.count)
    }

    @Test func checkFindsAnIndexThatDisagreesWithItsTable() async throws {
        let environment = try makeEnvironment()
        let people = try open(environment)
        try await environment.write { txn in
            try txn.put(people, 1, Person(email: "a@x", tags: ["ops"]))
            try txn.put(people, 2, Person(email: "b@x", tags: ["ops", "db"]))
        }
        #expect(try environment.check().isHealthy)
        // Change a row behind the index's back, as corruption or a buggy writer would.
        try await environment.write { txn in try txn.put(people.table, 1, Person(email: "z@x", tags: [])) }
        let report = try environment.check()
        #expect(!report.isHealthy)
        #expect(report.problems.contains { $0.contains("people#email") })
        #expect(report.problems.contains { $0.contains("people#tag") })
        // Rebuilding repairs it.
        try await environment.write { txn in try txn.rebuildIndexes(people) }
        #expect(try environment.check().isHealthy)
    }

    @Test func checkReportsUndecodableRowsAndCounts() async throws {
        let environment = try makeEnvironment()
        let people = try open(environment)
        let raw = try environment.table("people", key: UInt64Key.self, value: RawBytes.self)
        _ = try open(environment)  // re-register the typed view for check()
        try await environment.write { txn in
            try txn.put(people, 1, Person(email: nil, tags: []))
            try txn.put(raw, 2, [0x4A, 0x7B])
        }
        let report = try environment.check()
        #expect(report.rowsByTable["people"] == 2)
        #expect(report.problems.count == 1)
        #expect(report.statistics.pageSize > 0)
        #expect(report.statistics.usedBytes > 0)
    }
}
