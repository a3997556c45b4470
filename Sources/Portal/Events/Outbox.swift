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
    /// event's) when the change is audited. Returns the entry's sequence number.
    @discardableResult
    @available(*, noasync)
    public func record(_ event: DomainEvent, organizationID: UUID?, requestID: String? = nil, time: Date, audit auditEntry: AuditEntry? = nil,
                       in txn: borrowing WriteTransaction) throws -> UInt64 {
        if var auditEntry {
            auditEntry.kind = event.kind.rawValue
            try audit.append(auditEntry, in: txn)
        }
        let sequence = (try txn.last(entries)?.key ?? lastPruned(txn)) + 1
        try txn.put(entries, sequence, OutboxEntry(sequence: sequence, time: time, organizationID: organizationID, requestID: requestID, event: event))
        txn.afterCommit { [self] in wakeListeners() }
        return sequence
    }

    /// The highest sequence ever pruned, so numbering never restarts after the table empties.
    private func lastPruned(_ txn: borrowing WriteTransaction) throws -> UInt64 {
        try txn.get(cursors, Self.prunedMark) ?? 0
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
        try environment.read { txn in
            var found: [OutboxEntry] = []
            try txn.forEach(entries, from: sequence + 1, to: nil) { (_, entry) throws(KVError) in
                found.append(entry)
                return found.count < limit
            }
            return found
        }
    }

    /// Hands `consumer` its next entries (at most `limit`) inside one write transaction, in
    /// which `handle` may write, and moves its cursor past them in the same transaction.
    /// Returns the entries handled (none when it is up to date).
    @discardableResult
    public func consume(_ consumer: String, limit: Int = 256,
                        _ handle: @escaping @Sendable ([OutboxEntry], borrowing WriteTransaction) throws -> Void = { _, _ in }) async throws -> [OutboxEntry] {
        precondition(consumer != Self.prunedMark)
        // Up to date: answered from a read, so an idle consumer costs no write.
        let pending = try environment.read { txn in try txn.last(entries).map { $0.key > (try txn.get(cursors, consumer) ?? 0) } ?? false }
        guard pending else { return [] }
        return try await environment.write { [self] txn in
            let start = try txn.get(cursors, consumer) ?? 0
            var batch: [OutboxEntry] = []
            try txn.forEach(entries, from: start + 1, to: nil) { (_, entry) throws(KVError) in
                batch.append(entry)
                return batch.count < limit
            }
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
        let newest = try environment.read { txn in try txn.last(entries)?.key ?? 0 }
        var iterator = advances.makeAsyncIterator()
        while try consumers.contains(where: { try cursor(of: $0) < newest }) {
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
            if let sequence { start = sequence } else { start = try txn.last(entries)?.key ?? lastPruned(txn) }
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
            let newest = try txn.last(entries)?.key ?? txn.get(cursors, Self.prunedMark) ?? 0
            return (consumers: consumers, newest: newest)
        }
    }

    /// Deletes entries older than `cutoff` that every consumer has passed, oldest first, at
    /// most `batch` per transaction. Returns how many.
    public func prune(before cutoff: Date, batch: Int = 1000) async throws -> Int {
        var removed = 0
        while true {
            let count = try await environment.write { [self] txn -> Int in
                var slowest = UInt64.max
                try txn.forEach(cursors) { (name, sequence) throws(KVError) in
                    if name != Self.prunedMark { slowest = min(slowest, sequence) }
                    return true
                }
                var doomed: [UInt64] = []
                try txn.forEach(entries) { (sequence, entry) throws(KVError) in
                    guard sequence <= slowest, entry.time < cutoff, doomed.count < batch else { return false }
                    doomed.append(sequence)
                    return true
                }
                guard let last = doomed.last else { return 0 }
                for sequence in doomed { _ = try txn.delete(entries, sequence) }
                try txn.put(cursors, Self.prunedMark, last)
                return doomed.count
            }
            removed += count
            if count < batch { return removed }
        }
    }
}
