public import FoundationEssentials
public import KV
import Synchronization

/// One entry of the audit trail: a tool run's request, decision or result, or a security
/// event. Arguments are stored redacted.
public struct AuditEntry: Codable, Sendable, Equatable {
    public var schemaVersion = 1
    public var sequence: UInt64 = 0
    public var time: Date
    public var requestID: String?
    public var organizationID: UUID?
    /// `user:<id>` or `key:<id>`.
    public var principal: String?
    public var principalName: String?
    /// `tool.run.requested`, `tool.run.finished`, `approval.decided`, or a security event kind.
    public var kind: String
    public var tool: String?
    public var runID: UUID?
    public var arguments: JSONAny?
    public var approver: String?
    public var outcome: String
    public var durationMilliseconds: Double?
    public var outputDigest: String?
    public var detail: String
    /// The previous entry's `hash` (the anchor's for the first kept entry).
    public var previousHash: String = ""
    /// HMAC-SHA256, under a key derived from the master key, of the previous hash and this
    /// entry without its hash.
    public var hash: String = ""

    public init(time: Date = Date(), requestID: String? = nil, organizationID: UUID?, principal: String?, principalName: String?, kind: String,
                tool: String? = nil, runID: UUID? = nil, arguments: JSONAny? = nil, approver: String? = nil, outcome: String,
                durationMilliseconds: Double? = nil, outputDigest: String? = nil, detail: String = "") {
        self.time = time
        self.requestID = requestID
        self.organizationID = organizationID
        self.principal = principal
        self.principalName = principalName
        self.kind = kind
        self.tool = tool
        self.runID = runID
        self.arguments = arguments
        self.approver = approver
        self.outcome = outcome
        self.durationMilliseconds = durationMilliseconds
        self.outputDigest = outputDigest
        self.detail = detail
    }
}

/// The tamper-evident audit trail.
///
/// Guarantees: entries are appended in the transaction of the change they record, numbered
/// without gaps, and chained: each carries an HMAC over its content and its predecessor's
/// HMAC, under a key derived from `master.key` (outside the database). `verify` detects an
/// edited, deleted, inserted or reordered entry, and a forged anchor or head, from the data
/// file alone; rolling back the newest entries together with the head is detectable only
/// against a head recorded elsewhere (`verify` prints it). Pruning moves a signed anchor, so
/// the remaining chain still verifies.
public final class AuditTrail: Sendable {
    let environment: Environment
    let entries: Table<UInt64Key, JSONValue<AuditEntry>>
    let marks: Table<StringKey, JSONValue<ChainMark>>
    let secrets: Secrets
    private let key = Mutex<[UInt8]?>(nil)
    static let genesis = String(repeating: "0", count: 64)

    /// The chain's head (newest entry) or anchor (where the kept chain starts), signed.
    struct ChainMark: Codable, Sendable, Equatable {
        var sequence: UInt64
        var hash: String
        var signature: String
    }

    init(environment: Environment, secrets: Secrets) throws {
        self.environment = environment
        self.secrets = secrets
        entries = try environment.table("audit", key: UInt64Key.self, value: JSONValue<AuditEntry>.self)
        marks = try environment.table("audit_chain", key: StringKey.self, value: JSONValue<ChainMark>.self)
    }

    private func chainKey(create: Bool) throws -> [UInt8] {
        try key.withLock { (cached) throws in
            if let cached { return cached }
            let derived = try secrets.derivedKey(purpose: "portal audit chain v1", create: create)
            cached = derived
            return derived
        }
    }

    static func entryHash(_ entry: AuditEntry, key: [UInt8]) -> String {
        var unsigned = entry
        unsigned.hash = ""
        let encoder = JSONEncoder()
        encoder.outputFormatting = [.sortedKeys]
        encoder.dateEncodingStrategy = .secondsSince1970
        let body = (try? encoder.encode(unsigned)).map(Array.init) ?? []
        return Crypto.hmacSHA256(key: key, Array(entry.previousHash.utf8) + [0] + body).hexString
    }

    static func markSignature(_ name: String, sequence: UInt64, hash: String, key: [UInt8]) -> String {
        Crypto.hmacSHA256(key: key, Array("\(name)|\(sequence)|\(hash)".utf8)).hexString
    }

    /// Appends `entry` in the caller's transaction and returns it as stored.
    @discardableResult
    public func append(_ entry: AuditEntry, in txn: borrowing WriteTransaction) throws -> AuditEntry {
        let key = try chainKey(create: true)
        let head = try txn.get(marks, "head")
        var stored = entry
        stored.sequence = (head?.sequence ?? 0) + 1
        stored.previousHash = head?.hash ?? Self.genesis
        stored.hash = Self.entryHash(stored, key: key)
        try txn.put(entries, stored.sequence, stored)
        try txn.put(marks, "head", ChainMark(sequence: stored.sequence, hash: stored.hash,
                                            signature: Self.markSignature("head", sequence: stored.sequence, hash: stored.hash, key: key)))
        return stored
    }

    public func append(_ entry: AuditEntry) async throws {
        try await environment.write { [self] txn in _ = try append(entry, in: txn) }
    }

    /// What `verify` found.
    public struct Verification: Sendable, Equatable {
        public var entriesChecked: Int
        public var firstSequence: UInt64?
        public var headSequence: UInt64
        public var headHash: String
        /// Empty when the chain is intact.
        public var problems: [String]
        public var isIntact: Bool { problems.isEmpty }
    }

    /// Recomputes the whole kept chain. Needs `master.key`; never creates it.
    public func verify() throws -> Verification {
        let key = try chainKey(create: false)
        return try environment.read { txn in
            var problems: [String] = []
            let anchor = try txn.get(marks, "anchor")
            if let anchor, anchor.signature != Self.markSignature("anchor", sequence: anchor.sequence, hash: anchor.hash, key: key) {
                problems.append("the anchor's signature does not match (it was edited)")
            }
            let head = try txn.get(marks, "head")
            if let head, head.signature != Self.markSignature("head", sequence: head.sequence, hash: head.hash, key: key) {
                problems.append("the head's signature does not match (it was edited)")
            }
            var expectedSequence = anchor?.sequence ?? 1
            var previousHash = anchor?.hash ?? Self.genesis
            var checked = 0
            var first: UInt64?
            try txn.forEach(entries) { (sequence, entry) throws(KVError) in
                if first == nil { first = sequence }
                if sequence != expectedSequence {
                    problems.append(sequence > expectedSequence
                        ? "entries \(expectedSequence)–\(sequence - 1) are missing"
                        : "entry \(sequence) comes before the chain's start (\(expectedSequence))")
                }
                if entry.sequence != sequence { problems.append("entry \(sequence) carries sequence \(entry.sequence) (moved)") }
                if entry.previousHash != previousHash { problems.append("entry \(sequence) does not follow the entry before it (deleted, inserted or reordered)") }
                if entry.hash != Self.entryHash(entry, key: key) { problems.append("entry \(sequence) was edited (its HMAC does not match)") }
                previousHash = entry.hash
                expectedSequence = sequence + 1
                checked += 1
                return problems.count < 100
            }
            if let head {
                if head.sequence != expectedSequence - 1 || head.hash != previousHash {
                    problems.append("the head names entry \(head.sequence), but the chain ends at \(expectedSequence - 1) (entries removed from the end, or the head was changed)")
                }
            } else if checked > 0 {
                problems.append("the chain has entries but no head")
            }
            return Verification(entriesChecked: checked, firstSequence: first, headSequence: head?.sequence ?? 0, headHash: head?.hash ?? Self.genesis, problems: problems)
        }
    }

    /// Deletes entries older than `cutoff` (oldest first, at most `batch` per transaction) and
    /// moves the signed anchor to the first kept entry. Returns how many were removed.
    public func prune(before cutoff: Date, batch: Int = 1000) async throws -> Int {
        let key = try chainKey(create: true)
        var removed = 0
        while true {
            let count = try await environment.write { [self] txn -> Int in
                var doomed: [(UInt64, String)] = []
                try txn.forEach(entries) { (sequence, entry) throws(KVError) in
                    guard entry.time < cutoff, doomed.count < batch else { return false }
                    doomed.append((sequence, entry.hash))
                    return true
                }
                guard let last = doomed.last else { return 0 }
                for (sequence, _) in doomed { _ = try txn.delete(entries, sequence) }
                // The anchor names the first kept sequence and the hash it must follow.
                try txn.put(marks, "anchor", ChainMark(sequence: last.0 + 1, hash: last.1,
                                                       signature: Self.markSignature("anchor", sequence: last.0 + 1, hash: last.1, key: key)))
                return doomed.count
            }
            removed += count
            if count < batch { return removed }
        }
    }

    /// A page of entries, newest first, that match `filter`.
    public func page(limit: Int, before: UInt64? = nil, filter: (AuditEntry) -> Bool) throws -> [AuditEntry] {
        try environment.read { txn in
            var result: [AuditEntry] = []
            try txn.forEach(entries, from: nil, to: before, direction: .reverse) { (_, entry) throws(KVError) in
                if filter(entry) { result.append(entry) }
                return result.count < limit
            }
            return result
        }
    }
}
