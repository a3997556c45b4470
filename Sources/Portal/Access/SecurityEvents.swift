public import FoundationEssentials
public import KV

/// One security-relevant event: a sign-in (either outcome), a role change, an API key created
/// or revoked. Kept in time order for the audit trail.
public struct SecurityEvent: Codable, Sendable, Equatable {
    public enum Kind: String, Codable, Sendable {
        case signInSucceeded = "sign-in.succeeded"
        case signInFailed = "sign-in.failed"
        case signInThrottled = "sign-in.throttled"
        case signOut = "sign-out"
        case roleChanged = "role.changed"
        case keyCreated = "api-key.created"
        case keyRevoked = "api-key.revoked"
        case userCreated = "user.created"
        case organizationCreated = "organization.created"
        case singleSignOnConfigured = "sso.configured"
    }

    public var schemaVersion = 1
    public let kind: Kind
    public var time = Date()
    public let userID: UUID?
    /// The user name as given (for failed sign-ins, possibly not a user at all).
    public let username: String?
    public let organizationID: UUID?
    public let detail: String

    public init(kind: Kind, userID: UUID?, username: String?, organizationID: UUID?, detail: String) {
        self.kind = kind
        self.userID = userID
        self.username = username
        self.organizationID = organizationID
        self.detail = detail
    }
}

/// Security events in KV under time-ordered ids. Recorded in the transaction of the change
/// they describe where there is one.
public final class SecurityEvents: Sendable {
    let environment: Environment
    let table: Table<Key<TimeOrderedID>, JSONValue<SecurityEvent>>

    init(environment: Environment) throws {
        self.environment = environment
        table = try environment.table("security_events", key: Key<TimeOrderedID>.self, value: JSONValue<SecurityEvent>.self)
    }

    @available(*, noasync)
    public func record(_ event: SecurityEvent, in txn: borrowing WriteTransaction) throws {
        try txn.put(table, TimeOrderedID.generate(), event)
    }

    public func record(_ event: SecurityEvent) async throws {
        try await environment.write { [self] txn in try record(event, in: txn) }
    }

    /// The newest events first, at most `limit`.
    public func recent(limit: Int = 100) throws -> [SecurityEvent] {
        try environment.read { txn in
            var result: [SecurityEvent] = []
            try txn.forEach(table, direction: .reverse) { (_, event) throws(KVError) in
                result.append(event)
                return result.count < limit
            }
            return result
        }
    }
}
