public import FoundationEssentials
public import KV
import Synchronization

/// One recorded event, numbered in commit order.
public struct OutboxEntry: Codable, Sendable, Equatable {
    public let sequence: UInt64
    public let time: Date
    public let organizationID: UUID?
    public let requestID: String?
    public let event: DomainEvent
}

/// The transactional outbox: every domain change records its event here, in the change's own
/// transaction, with the change's audit entry.
///
/// Guarantees: an event exists if and only if its change committed (a rolled-back write
/// leaves no entry); entries are numbered without gaps in commit order; each consumer reads
/// them in that order from its own durable cursor, so a consumer that stops (or crashes)
/// resumes after the last entry it acknowledged. `consume` advances the cursor in the same
/// transaction as the consumer's own writes, so a transactional consumer sees each entry
/// exactly once. Entries are pruned only once every consumer has passed them and they are
/// older than the retention.
///
/// Where entries live: an audited change's event rides in its audit entry (one row, encoded
/// once, under the chain's HMAC); an event without an audit entry, and every event recorded
/// before events moved into the audit trail, has a row of its own in `outbox`. Readers merge
/// the two by sequence. Pruning deletes the own rows and moves a mark past the carried ones,
/// which leave with their audit entries (the audit retention, never before every consumer
/// has read them).
public final class Outbox: Sendable {
    let environment: Environment
    let entries: Table<UInt64Key, JSONValue<OutboxEntry>>
    let cursors: Table<StringKey, JSONValue<UInt64>>
    let audit: AuditTrail
    private let listeners = Mutex<[UUID: AsyncStream<Void>.Continuation]>([:])
    private let cursorListeners = Mutex<[UUID: AsyncStream<Void>.Continuation]>([:])

    init(environment: Environment, audit: AuditTrail) throws {
        self.environment = environment
        self.audit = audit
        entries = try environment.table("outbox", key: UInt64Key.self, value: JSONValue<OutboxEntry>.self)
        cursors = try environment.table("outbox_cursors", key: StringKey.self, value: JSONValue<UInt64>.self)
    }

    /// Records `event` in the caller's transaction, with `auditEntry` (its kind set from the
    /// event's) when the change is audited. Returns the entry's sequence number. An audited
    /// event is read back with its entry's time, organization and request id, which the
    /// callers give alike.
    @discardableResult
    @available(*, noasync)
    public func record(_ event: DomainEvent, organizationID: UUID?, requestID: String? = nil, time: Date, audit auditEntry: AuditEntry? = nil,
                       in txn: borrowing WriteTransaction) throws -> UInt64 {
        let head = try audit.head(in: txn)
        let sequence = try newest(in: txn, auditHead: head) + 1
        if var auditEntry {
            auditEntry.kind = event.kind.rawValue
            try audit.append(auditEntry, carrying: (sequence, event), after: head, in: txn)
        } else {
            try txn.put(entries, sequence, OutboxEntry(sequence: sequence, time: time, organizationID: organizationID, requestID: requestID, event: event))
        }
        txn.afterCommit { [self] in wakeListeners() }
        return sequence
    }

    /// The newest sequence ever recorded (0 before the first): in the audit trail's head, in
    /// this table, or pruned from it (so numbering never restarts after the table empties).
    @available(*, noasync)
    private func newest(in txn: borrowing some ReadableTransaction & ~Copyable, auditHead: AuditTrail.ChainMark?) throws -> UInt64 {
        let own = try txn.lastKey(entries) ?? txn.get(cursors, Self.prunedMark) ?? 0
        return max(own, auditHead?.eventSequence ?? 0)
    }

    @available(*, noasync)
    private func newest(in txn: borrowing some ReadableTransaction & ~Copyable) throws -> UInt64 {
        try newest(in: txn, auditHead: audit.head(in: txn))
    }

    /// Up to `limit` entries after `sequence` and after the pruned mark, from both places,
    /// oldest first.
    @available(*, noasync)
    private func read(after sequence: UInt64, limit: Int, in txn: borrowing some ReadableTransaction & ~Copyable) throws -> [OutboxEntry] {
        let start = max(sequence, try txn.get(cursors, Self.prunedMark) ?? 0)
        var own: [OutboxEntry] = []
        try txn.forEach(entries, from: start + 1, to: nil) { (_, entry) throws(KVError) in
            own.append(entry)
            return own.count < limit
        }
        let carried = try audit.events(after: start, limit: limit, in: txn)
        guard !carried.isEmpty else { return own }
        guard !own.isEmpty else { return carried }
        return Array((own + carried).sorted { $0.sequence < $1.sequence }.prefix(limit))
    }

    static let prunedMark = "~pruned"

    // MARK: Consuming

    /// A stream that yields once after every commit that recorded events (coalesced: one
    /// pending signal at most). Subscribe before reading, so nothing committed in between is
    /// missed.
    public func changes() -> AsyncStream<Void> {
        let (stream, continuation) = AsyncStream.makeStream(of: Void.self, bufferingPolicy: .bufferingNewest(1))
        let id = UUID()
        listeners.withLock { $0[id] = continuation }
        continuation.onTermination = { [weak self] _ in _ = self?.listeners.withLock { $0.removeValue(forKey: id) } }
        return stream
    }

    private func wakeListeners() {
        for listener in listeners.withLock({ Array($0.values) }) { listener.yield() }
    }

    /// Where `consumer` stands: the last sequence it acknowledged (0 before its first).
    public func cursor(of consumer: String) throws -> UInt64 {
        try environment.read { txn in try txn.get(cursors, consumer) } ?? 0
    }

    /// Entries after `sequence`, oldest first, at most `limit`.
    public func entries(after sequence: UInt64, limit: Int) throws -> [OutboxEntry] {
        try environment.read { txn in try read(after: sequence, limit: limit, in: txn) }
    }

    /// Hands `consumer` its next entries (at most `limit`) inside one write transaction, in
    /// which `handle` may write, and moves its cursor past them in the same transaction.
    /// Returns the entries handled (none when it is up to date).
    @discardableResult
    public func consume(_ consumer: String, limit: Int = 256,
                        _ handle: @escaping @Sendable ([OutboxEntry], borrowing WriteTransaction) throws -> Void = { _, _ in }) async throws -> [OutboxEntry] {
        precondition(consumer != Self.prunedMark)
        // Up to date: answered from a read, so an idle consumer costs no write.
        let pending = try environment.read { txn in try newest(in: txn) > (try txn.get(cursors, consumer) ?? 0) }
        guard pending else { return [] }
        return try await environment.write { [self] txn in
            let batch = try read(after: try txn.get(cursors, consumer) ?? 0, limit: limit, in: txn)
            guard let last = batch.last else { return [] }
            try handle(batch, txn)
            try txn.put(cursors, consumer, last.sequence)
            txn.afterCommit { [self] in wakeCursorListeners() }
            return batch
        }
    }

    /// Returns once each of `consumers` has consumed every entry recorded before the call.
    public func waitUntilConsumed(by consumers: [String]) async throws {
        let (advances, continuation) = AsyncStream.makeStream(of: Void.self, bufferingPolicy: .bufferingNewest(1))
        let id = UUID()
        cursorListeners.withLock { $0[id] = continuation }
        defer { _ = cursorListeners.withLock { $0.removeValue(forKey: id) } }
        let target = try environment.read { txn in try newest(in: txn) }
        var iterator = advances.makeAsyncIterator()
        while try consumers.contains(where: { try cursor(of: $0) < target }) {
            guard await iterator.next() != nil else { throw CancellationError() }
        }
    }

    private func wakeCursorListeners() {
        for listener in cursorListeners.withLock({ Array($0.values) }) { listener.yield() }
    }

    /// Starts `consumer` if it has no cursor yet: after `sequence` (0: from the first entry
    /// kept), or at the newest entry, skipping history, when `sequence` is `nil`.
    public func register(_ consumer: String, from sequence: UInt64? = nil) async throws {
        precondition(consumer != Self.prunedMark)
        try await environment.write { [self] txn in
            guard try txn.get(cursors, consumer) == nil else { return }
            let start: UInt64
            if let sequence { start = sequence } else { start = try newest(in: txn) }
            try txn.put(cursors, consumer, start)
            txn.afterCommit { [self] in wakeCursorListeners() }
        }
    }

    /// Removes `consumer`'s cursor, so entries only it had not consumed may be pruned. Returns
    /// whether it existed.
    public func forget(_ consumer: String) async throws -> Bool {
        precondition(consumer != Self.prunedMark)
        return try await environment.write { [self] txn in try txn.delete(cursors, consumer) }
    }

    /// Every consumer's cursor by name, and the newest sequence ever recorded (0 before the
    /// first entry), read in one snapshot.
    public func consumerCursors() throws -> (consumers: [String: UInt64], newest: UInt64) {
        try environment.read { txn in
            var consumers: [String: UInt64] = [:]
            try txn.forEach(cursors) { (name, sequence) throws(KVError) in
                if name != Self.prunedMark { consumers[name] = sequence }
                return true
            }
            return (consumers: consumers, newest: try newest(in: txn))
        }
    }

    /// The sequence the slowest consumer stands at (`UInt64.max` when there is none): entries
    /// after it must stay readable.
    public func slowestCursor() throws -> UInt64 {
        try environment.read { txn in try slowest(in: txn) }
    }

    @available(*, noasync)
    private func slowest(in txn: borrowing some ReadableTransaction & ~Copyable) throws -> UInt64 {
        var slowest = UInt64.max
        try txn.forEach(cursors) { (name, sequence) throws(KVError) in
            if name != Self.prunedMark { slowest = min(slowest, sequence) }
            return true
        }
        return slowest
    }

    /// Prunes entries older than `cutoff` that every consumer has passed, oldest first, at
    /// most `batch` per transaction: deletes the own rows and moves the pruned mark past them
    /// and past the events carried by audit entries. Returns how many.
    public func prune(before cutoff: Date, batch: Int = 1000) async throws -> Int {
        var removed = 0
        while true {
            let count = try await environment.write { [self] txn -> Int in
                let slowest = try slowest(in: txn)
                var doomed: [OutboxEntry] = []
                for entry in try read(after: 0, limit: batch, in: txn) {
                    guard entry.sequence <= slowest, entry.time < cutoff else { break }
                    doomed.append(entry)
                }
                guard let last = doomed.last else { return 0 }
                for entry in doomed { _ = try txn.delete(entries, entry.sequence) }
                try txn.put(cursors, Self.prunedMark, last.sequence)
                return doomed.count
            }
            removed += count
            if count < batch { return removed }
        }
    }
}
