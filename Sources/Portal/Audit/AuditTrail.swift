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
    let entries: Table<UInt64Key, AuditRow.Format>
    let marks: Table<StringKey, JSONValue<ChainMark>>
    let secrets: Secrets
    private let key = Mutex<[UInt8]?>(nil)
    static let genesis = String(repeating: "0", count: 64)

    /// The chain's head (newest entry) or anchor (where the kept chain starts), signed.
    struct ChainMark: Codable, Sendable, Equatable {
        var sequence: UInt64
        var hash: String
        var signature: String
        /// On the head: the outbox sequence of the newest event an entry carries (signed with
        /// the head when set).
        var eventSequence: UInt64? = nil
    }

    init(environment: Environment, secrets: Secrets) throws {
        self.environment = environment
        self.secrets = secrets
        entries = try environment.table("audit", key: UInt64Key.self, value: AuditRow.Format.self)
        marks = try environment.table("audit_chain", key: StringKey.self, value: JSONValue<ChainMark>.self)
    }

    func chainKey(create: Bool) throws -> [UInt8] {
        try key.withLock { (cached) throws in
            if let cached { return cached }
            let derived = try secrets.derivedKey(purpose: "portal audit chain v1", create: create)
            cached = derived
            return derived
        }
    }

    /// The HMAC of an entry written before entries carried their events (stored as JSON, and
    /// re-encoded with sorted keys to be checked).
    static func entryHash(_ entry: AuditEntry, key: [UInt8]) -> String {
        var unsigned = entry
        unsigned.hash = ""
        let encoder = JSONEncoder()
        encoder.outputFormatting = [.sortedKeys]
        encoder.dateEncodingStrategy = .secondsSince1970
        let body = (try? encoder.encode(unsigned)).map(Array.init) ?? []
        return Crypto.hmacSHA256(key: key, Array(entry.previousHash.utf8) + [0] + body).hexString
    }

    /// A mark's signature; the head's event sequence is signed with it when it has one (marks
    /// written before events moved into the trail have none, and keep their signature).
    static func markSignature(_ name: String, sequence: UInt64, hash: String, eventSequence: UInt64? = nil, key: [UInt8]) -> String {
        Crypto.hmacSHA256(key: key, Array("\(name)|\(sequence)|\(hash)\(eventSequence.map { "|\($0)" } ?? "")".utf8)).hexString
    }

    /// Appends `entry` in the caller's transaction and returns it as stored.
    @discardableResult
    @available(*, noasync)
    public func append(_ entry: AuditEntry, in txn: borrowing WriteTransaction) throws -> AuditEntry {
        try append(entry, carrying: nil, after: txn.get(marks, "head"), in: txn)
    }

    /// The chain's head as the caller's transaction sees it (`nil` before the first entry).
    @available(*, noasync)
    func head(in txn: borrowing some ReadableTransaction & ~Copyable) throws -> ChainMark? {
        try txn.get(marks, "head")
    }

    /// Appends `entry` after `head` (read in this transaction), carrying `event` as outbox
    /// entry number `event.sequence` when given. The entry is encoded once: its HMAC covers
    /// exactly the bytes stored.
    @available(*, noasync)
    func append(_ entry: AuditEntry, carrying event: (sequence: UInt64, event: DomainEvent)?, after head: ChainMark?,
                in txn: borrowing WriteTransaction) throws -> AuditEntry {
        let key = try chainKey(create: true)
        var stored = entry
        stored.sequence = (head?.sequence ?? 0) + 1
        stored.previousHash = head?.hash ?? Self.genesis
        stored.hash = ""
        let eventSequence = event?.sequence ?? head?.eventSequence
        let body = try AuditRow.signedBody(stored, eventSequence: eventSequence, event: event?.event)
        stored.hash = Self.rowHash(previousHash: stored.previousHash, body: body, key: key)
        try txn.put(entries, stored.sequence, AuditRow(entry: stored, eventSequence: eventSequence, event: event?.event, signedBody: body))
        try txn.put(marks, "head", ChainMark(sequence: stored.sequence, hash: stored.hash,
                                            signature: Self.markSignature("head", sequence: stored.sequence, hash: stored.hash, eventSequence: eventSequence, key: key),
                                            eventSequence: eventSequence))
        return stored
    }

    /// The HMAC of an entry in today's format: over the previous entry's hash and the bytes
    /// stored for this one (which hold every field but the hash, and the event it carries).
    static func rowHash(previousHash: String, body: [UInt8], key: [UInt8]) -> String {
        Crypto.hmacSHA256(key: key, Array(previousHash.utf8) + [0] + body).hexString
    }

    /// Whether `row` is what its HMAC was computed over.
    static func isSigned(_ row: AuditRow, key: [UInt8]) -> Bool {
        if let body = row.signedBody { row.entry.hash == rowHash(previousHash: row.entry.previousHash, body: body, key: key) }
        else { row.entry.hash == entryHash(row.entry, key: key) }
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
            if let head, head.signature != Self.markSignature("head", sequence: head.sequence, hash: head.hash, eventSequence: head.eventSequence, key: key) {
                problems.append("the head's signature does not match (it was edited)")
            }
            var expectedSequence = anchor?.sequence ?? 1
            var previousHash = anchor?.hash ?? Self.genesis
            var checked = 0
            var first: UInt64?
            var lastEventSequence: UInt64 = 0
            try txn.forEach(entries.viewing(as: RawBytes.self)) { (sequence, bytes) throws(KVError) in
                if first == nil { first = sequence }
                let row: AuditRow
                do {
                    row = try bytes.withUnsafeBytes { raw throws(CodecError) in try AuditRow.Format.decode(raw) }
                } catch {
                    // Bytes that no longer read as an entry: checked against the chain as they are.
                    problems.append(AuditRow.Format.isSigned(bytes, previousHash: previousHash, key: key)
                        ? "entry \(sequence) cannot be read (\(error))"
                        : "entry \(sequence) was edited (its HMAC does not match)")
                    previousHash = AuditRow.Format.storedHash(bytes) ?? previousHash
                    expectedSequence = sequence + 1
                    checked += 1
                    return problems.count < 100
                }
                let entry = row.entry
                if sequence != expectedSequence {
                    problems.append(sequence > expectedSequence
                        ? "entries \(expectedSequence)–\(sequence - 1) are missing"
                        : "entry \(sequence) comes before the chain's start (\(expectedSequence))")
                }
                if entry.sequence != sequence { problems.append("entry \(sequence) carries sequence \(entry.sequence) (moved)") }
                if entry.previousHash != previousHash { problems.append("entry \(sequence) does not follow the entry before it (deleted, inserted or reordered)") }
                if !Self.isSigned(row, key: key) { problems.append("entry \(sequence) was edited (its HMAC does not match)") }
                if let eventSequence = row.eventSequence {
                    if eventSequence < lastEventSequence || (row.event != nil && eventSequence == lastEventSequence) {
                        problems.append("entry \(sequence) carries event \(eventSequence) out of order (after \(lastEventSequence))")
                    }
                    lastEventSequence = eventSequence
                }
                previousHash = entry.hash
                expectedSequence = sequence + 1
                checked += 1
                return problems.count < 100
            }
            if let head {
                if head.sequence != expectedSequence - 1 || head.hash != previousHash {
                    problems.append("the head names entry \(head.sequence), but the chain ends at \(expectedSequence - 1) (entries removed from the end, or the head was changed)")
                }
                if checked > 0, (head.eventSequence ?? 0) != lastEventSequence {
                    problems.append("the head names event \(head.eventSequence ?? 0), but the entries carry events up to \(lastEventSequence)")
                }
            } else if checked > 0 {
                problems.append("the chain has entries but no head")
            }
            return Verification(entriesChecked: checked, firstSequence: first, headSequence: head?.sequence ?? 0, headHash: head?.hash ?? Self.genesis, problems: problems)
        }
    }

    /// Deletes entries older than `cutoff` (oldest first, at most `batch` per transaction) and
    /// moves the signed anchor to the first kept entry; stops before an entry carrying an event
    /// after `keepingEventsAfter` (one an outbox consumer has not read yet). Returns how many
    /// were removed.
    public func prune(before cutoff: Date, keepingEventsAfter eventSequence: UInt64 = .max, batch: Int = 1000) async throws -> Int {
        let key = try chainKey(create: true)
        var removed = 0
        while true {
            let count = try await environment.write { [self] txn -> Int in
                var doomed: [(UInt64, String)] = []
                try txn.forEach(entries) { (sequence, row) throws(KVError) in
                    guard row.entry.time < cutoff, (row.eventSequence ?? 0) <= eventSequence, doomed.count < batch else { return false }
                    doomed.append((sequence, row.entry.hash))
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
            try txn.forEach(entries, from: nil, to: before, direction: .reverse) { (_, row) throws(KVError) in
                if filter(row.entry) { result.append(row.entry) }
                return result.count < limit
            }
            return result
        }
    }
}

// MARK: Events carried by entries

extension AuditTrail {
    /// The events carried by entries, with outbox sequence after `sequence`, oldest first, at
    /// most `limit`. Entries written before entries carried events carry none.
    ///
    /// Event sequences rise with entry sequences, so the first entry to read is found by
    /// probing back from the head in growing steps and then bisecting: O(log lag) reads.
    @available(*, noasync)
    func events(after sequence: UInt64, limit: Int, in txn: borrowing some ReadableTransaction & ~Copyable) throws -> [OutboxEntry] {
        guard limit > 0, let head = try head(in: txn), (head.eventSequence ?? 0) > sequence,
              let first = try txn.firstKey(entries) else { return [] }
        // The smallest position in (low, high] that carries an event after `sequence`: `high` does.
        var high = head.sequence, step: UInt64 = 1, low = first > 0 ? first - 1 : 0
        while high > first {
            let probe = high - min(step, high - first)
            if try carriesEvent(after: sequence, at: probe, in: txn) { high = probe; step *= 2 } else { low = probe; break }
        }
        while high - low > 1 {
            let middle = low + (high - low) / 2
            if try carriesEvent(after: sequence, at: middle, in: txn) { high = middle } else { low = middle }
        }
        var found: [OutboxEntry] = []
        try txn.forEach(entries, from: high, to: nil) { (_, row) throws(KVError) in
            if let eventSequence = row.eventSequence, let event = row.event, eventSequence > sequence {
                found.append(OutboxEntry(sequence: eventSequence, time: row.entry.time, organizationID: row.entry.organizationID,
                                         requestID: row.entry.requestID, event: event))
            }
            return found.count < limit
        }
        return found
    }

    /// Whether the entry at `position` carries an event after `sequence` (a pruned position: no).
    @available(*, noasync)
    private func carriesEvent(after sequence: UInt64, at position: UInt64, in txn: borrowing some ReadableTransaction & ~Copyable) throws -> Bool {
        (try txn.get(entries, position)?.eventSequence ?? 0) > sequence
    }
}

/// One stored audit entry: the entry, the event it carries (entries written since events
/// moved into the audit trail), and for those the exact bytes its HMAC covers.
///
/// `eventSequence` is the outbox number of the carried event or, on an entry carrying none,
/// of the newest event before it, so it never decreases along the trail (entries in the
/// earlier format have none).
///
/// Two formats are read: today's (`A`: the hash, then the signed body as JSON, written once)
/// and the one before events moved in (`J`: the entry as JSON with sorted keys; its HMAC is
/// checked by encoding the entry again). Only today's is written by the trail.
struct AuditRow: Sendable, Equatable {
    let entry: AuditEntry
    let eventSequence: UInt64?
    let event: DomainEvent?
    /// `nil` for an entry in the earlier format.
    let signedBody: [UInt8]?

    init(entry: AuditEntry, eventSequence: UInt64?, event: DomainEvent?, signedBody: [UInt8]?) {
        self.entry = entry
        self.eventSequence = eventSequence
        self.event = event
        self.signedBody = signedBody
    }

    /// A row in today's format holding `entry` as given (its hash kept, not recomputed).
    init(_ entry: AuditEntry, eventSequence: UInt64?, event: DomainEvent?) throws {
        var unsigned = entry
        unsigned.hash = ""
        self.init(entry: entry, eventSequence: eventSequence, event: event,
                  signedBody: try Self.signedBody(unsigned, eventSequence: eventSequence, event: event))
    }

    /// What today's format stores after the hash, and what the HMAC covers. An event the
    /// entry tells in full (a security event: `SecurityEvent.auditEntry`) is not written
    /// twice: `toldByEntry` stands for it.
    private struct Body: Codable {
        var entry: AuditEntry
        var eventSequence: UInt64?
        var event: DomainEvent?
        var toldByEntry: Bool?

        init(entry: AuditEntry, eventSequence: UInt64?, event: DomainEvent?) {
            self.entry = entry
            self.eventSequence = eventSequence
            // Told by the entry only when the entry is exactly the event's own and reads back as it.
            if case let .security(security)? = event, security.auditEntry.hasSameFields(as: entry), SecurityEvent(kind: security.kind, told: entry) == security {
                toldByEntry = true
            } else {
                self.event = event
            }
        }

        /// The carried event, whichever way it was written. An entry that tells its event is
        /// read by any version's kind names; one that no longer reads as a security event is an
        /// error (never an event silently skipped).
        func carried() throws(CodecError) -> DomainEvent? {
            guard toldByEntry == true else { return event }
            guard let kind = EventKind(stored: entry.kind, outcome: entry.outcome), DomainEvent.securityKinds.contains(kind) else {
                throw CodecError("audit entry \(entry.sequence) tells an event of unknown kind '\(entry.kind)'")
            }
            return .security(SecurityEvent(kind: kind, told: entry))
        }
    }

    static func signedBody(_ unsigned: AuditEntry, eventSequence: UInt64?, event: DomainEvent?) throws -> [UInt8] {
        do { return Array(try JSONEncoder().encode(Body(entry: unsigned, eventSequence: eventSequence, event: event))) }
        catch { throw CodecError("cannot encode an audit entry: \(error)") }
    }

    /// The table codec for both formats.
    enum Format: Codec {
        static let today: UInt8 = 0x41  // "A"
        static let hashLength = 64

        static func encode(_ row: AuditRow) throws(CodecError) -> [UInt8] {
            guard let body = row.signedBody else { return try JSONValue<AuditEntry>.encode(row.entry) }
            let hash = Array(row.entry.hash.utf8)
            guard hash.count == hashLength else { throw CodecError("an audit entry's hash must be \(hashLength) hex digits") }
            return [today] + hash + body
        }

        /// The hash stored in today's format, without decoding the entry.
        static func storedHash(_ bytes: [UInt8]) -> String? {
            guard bytes.first == today, bytes.count > 1 + hashLength else { return nil }
            return String(decoding: bytes[1..<(1 + hashLength)], as: UTF8.self)
        }

        /// Whether bytes in today's format carry the HMAC of their body after `previousHash`.
        static func isSigned(_ bytes: [UInt8], previousHash: String, key: [UInt8]) -> Bool {
            guard let hash = storedHash(bytes) else { return false }
            return hash == AuditTrail.rowHash(previousHash: previousHash, body: Array(bytes[(1 + hashLength)...]), key: key)
        }

        static func decode(_ bytes: UnsafeRawBufferPointer) throws(CodecError) -> AuditRow {
            guard bytes.first == today else {
                return AuditRow(entry: try JSONValue<AuditEntry>.decode(bytes), eventSequence: nil, event: nil, signedBody: nil)
            }
            guard bytes.count > 1 + hashLength else { throw CodecError("audit entry too short (\(bytes.count) bytes)") }
            let body = Array(bytes[(1 + hashLength)...])
            var decoded: Body
            do { decoded = try JSONDecoder().decode(Body.self, from: Data(body)) } catch { throw CodecError("invalid audit entry: \(error)") }
            decoded.entry.hash = String(decoding: bytes[1..<(1 + hashLength)], as: UTF8.self)
            return AuditRow(entry: decoded.entry, eventSequence: decoded.eventSequence, event: try decoded.carried(), signedBody: body)
        }
    }
}

extension AuditEntry {
    /// Whether it says the same as `other` in the fields an event writes (not the chain's).
    func hasSameFields(as other: AuditEntry) -> Bool {
        var mine = self, theirs = other
        mine.sequence = 0; theirs.sequence = 0
        mine.previousHash = ""; theirs.previousHash = ""
        mine.hash = ""; theirs.hash = ""
        return mine == theirs
    }
}
