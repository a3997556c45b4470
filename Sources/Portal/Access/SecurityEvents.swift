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
        case packInstalled = "tool-pack.installed"
        case packEnabled = "tool-pack.enabled"
        case packDisabled = "tool-pack.disabled"
        case assistantConfigured = "assistant.configured"
        case embeddingsChanged = "embeddings.changed"
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

/// Security events, kept as entries of the audit trail (so they are chained and verified with
/// the tool runs). Recorded in the transaction of the change they describe where there is one.
public final class SecurityEvents: Sendable {
    let environment: Environment
    let audit: AuditTrail

    init(environment: Environment, audit: AuditTrail) {
        self.environment = environment
        self.audit = audit
    }

    @available(*, noasync)
    public func record(_ event: SecurityEvent, in txn: borrowing WriteTransaction) throws {
        try audit.append(AuditEntry(
            time: event.time, organizationID: event.organizationID, principal: event.userID.map { "user:\($0)" }, principalName: event.username,
            kind: event.kind.rawValue, outcome: event.kind == .signInFailed || event.kind == .signInThrottled ? "refused" : "done", detail: event.detail), in: txn)
    }

    public func record(_ event: SecurityEvent) async throws {
        try await environment.write { [self] txn in try record(event, in: txn) }
    }

    /// The newest events first, at most `limit`.
    public func recent(limit: Int = 100) throws -> [SecurityEvent] {
        try audit.page(limit: limit) { SecurityEvent.Kind(rawValue: $0.kind) != nil }.map { entry in
            var event = SecurityEvent(kind: SecurityEvent.Kind(rawValue: entry.kind)!, userID: entry.principal.flatMap { UUID(uuidString: String($0.dropFirst(5))) },
                                      username: entry.principalName, organizationID: entry.organizationID, detail: entry.detail)
            event.time = entry.time
            return event
        }
    }
}
