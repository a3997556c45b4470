public import FoundationEssentials
public import KV

/// The first answers to requests that carried an `Idempotency-Key`, so that a client retrying
/// a creation (after a timeout, a dropped connection) gets that answer again instead of a
/// second record.
///
/// Guarantees: a key is claimed (in LMDB) before the request runs, so two requests with one
/// key never both run; the same key with the same request within `window` answers the stored
/// result; with a different request it is refused (`reused`); while the first is still
/// running, or when a restart interrupted it so that its outcome is unknown, it is refused
/// (`inUse`) rather than run again. A request that fails frees its key. Keys are scoped to
/// who sent them (a person or an API key), so one caller's keys never meet another's.
public final class IdempotencyKeys: Sendable {
    /// How long a key is remembered.
    public static let window: Duration = .seconds(24 * 3600)

    /// A stored answer: what is replayed.
    public struct StoredResponse: Codable, Sendable, Equatable {
        public let status: Int
        /// The headers that describe the result (`Content-Type`, `Location`, `ETag`).
        public let headers: [String: String]
        public let body: [UInt8]

        public init(status: Int, headers: [String: String], body: [UInt8]) {
            self.status = status
            self.headers = headers
            self.body = body
        }
    }

    /// What a claim found.
    public enum Claim: Sendable, Equatable {
        /// The key is new: run the request, then `finish` or `release`.
        case claimed
        /// The request ran before: answer this.
        case replay(StoredResponse)
    }

    public enum Refusal: Error, Equatable, Sendable {
        /// The key was used with a different request.
        case reused
        /// The first request is still running, or a restart interrupted it.
        case inUse(interrupted: Bool)
    }

    struct Record: Codable, Sendable {
        let fingerprint: [UInt8]
        /// The process that claimed it while it runs; `nil` once finished.
        let claimedBy: UUID?
        let response: StoredResponse?
        let createdAt: Date
    }

    let environment: Environment
    let table: Table<StringKey, JSONValue<Record>>
    let clock: any WallClock
    /// This process: a claim by another one was interrupted by a restart.
    let process = UUID()

    init(environment: Environment, clock: any WallClock) throws {
        self.environment = environment
        self.clock = clock
        table = try environment.expiringTable("idempotency_keys", key: StringKey.self, value: JSONValue<Record>.self)
    }

    static func rowKey(scope: String, key: String) -> String { scope + "\u{0}" + key }

    /// Claims `key` for a request identified by `fingerprint` (a hash of its method, path and
    /// body), or returns the stored answer, or refuses.
    public func claim(scope: String, key: String, fingerprint: [UInt8]) async throws -> Claim {
        let row = Self.rowKey(scope: scope, key: key), now = clock.now(), process = process
        return try await environment.write { [table] txn in
            if let record = try txn.get(table, row) {
                guard record.fingerprint == fingerprint else { throw Refusal.reused }
                if let response = record.response { return .replay(response) }
                throw Refusal.inUse(interrupted: record.claimedBy != process)
            }
            try txn.put(table, row, Record(fingerprint: fingerprint, claimedBy: process, response: nil, createdAt: now),
                        expiresAt: now.addingTimeInterval(Self.window.timeInterval))
            return .claimed
        }
    }

    /// Stores the answer to a claimed key; it is replayed until the key's window ends.
    public func finish(scope: String, key: String, response: StoredResponse) async throws {
        let row = Self.rowKey(scope: scope, key: key)
        try await environment.write { [table] txn in
            guard let record = try txn.get(table, row) else { return }
            try txn.put(table, row, Record(fingerprint: record.fingerprint, claimedBy: nil, response: response, createdAt: record.createdAt),
                        expiresAt: record.createdAt.addingTimeInterval(Self.window.timeInterval))
        }
    }

    /// Frees a claimed key whose request failed (nothing was created), so it may be sent again.
    public func release(scope: String, key: String) async throws {
        let row = Self.rowKey(scope: scope, key: key)
        _ = try await environment.write { [table] txn in try txn.delete(table, row) }
    }
}
