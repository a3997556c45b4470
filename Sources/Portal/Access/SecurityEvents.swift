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
        case passwordChanged = "password.changed"
        case passwordChangeFailed = "password.change-failed"
        case passwordReset = "password.reset"
        case organizationUpdated = "organization.updated"
        case packAvailabilityChanged = "tool-pack.availability-changed"
        case secretChanged = "organization.secret-changed"

        /// Whether the event is a refusal (recorded with outcome `refused`).
        var isRefusal: Bool { self == .signInFailed || self == .signInThrottled || self == .passwordChangeFailed }

        /// Whether the event can take away someone's access, so that open event streams must
        /// check their principal again at once.
        var mayEndAccess: Bool {
            [.signOut, .roleChanged, .keyRevoked, .passwordChanged, .passwordReset].contains(self)
        }
    }

    public var schemaVersion = 1
    public let kind: Kind
    public var time = Date()
    public let userID: UUID?
    /// The user's name; for a refused sign-in naming no account, `SecurityEvents.unverifiedName(_:)`.
    public let username: String?
    public let organizationID: UUID?
    public let detail: String

    public init(kind: Kind, userID: UUID?, username: String?, organizationID: UUID?, detail: String, time: Date = Date()) {
        self.kind = kind
        self.userID = userID
        self.username = username
        self.organizationID = organizationID
        self.detail = detail
        self.time = time
    }
}

/// Security events, kept as entries of the audit trail (so they are chained and verified with
/// the tool runs). Recorded in the transaction of the change they describe where there is one.
///
/// An event that can end someone's access (sign-out, a role change, a revoked key, a password
/// change or reset) is also published, once its transaction commits, as an `access.changed`
/// notification that no client receives but every open event stream reacts to by checking
/// its principal again.
public final class SecurityEvents: Sendable {
    let environment: Environment
    let audit: AuditTrail
    let notifications: Notifications
    let secrets: Secrets

    init(environment: Environment, audit: AuditTrail, notifications: Notifications, secrets: Secrets) {
        self.environment = environment
        self.audit = audit
        self.notifications = notifications
        self.secrets = secrets
    }

    /// How a name typed at sign-in that is no account's is recorded: never as typed (it may be
    /// a password typed into the wrong field), but as a short keyed hash (HMAC-SHA256 under a
    /// key derived from `master.key`, so a copy of the data cannot be searched with a
    /// dictionary), marked unverified; repeated attempts with the same text can still be told
    /// apart.
    public func unverifiedName(_ typed: String) throws -> String {
        let key = try secrets.derivedKey(purpose: "unverified sign-in names", create: true)
        return "unverified #" + String(Crypto.hmacSHA256(key: key, Array(typed.lowercased().utf8)).hexString.prefix(12))
    }

    @available(*, noasync)
    public func record(_ event: SecurityEvent, in txn: borrowing WriteTransaction) throws {
        try audit.append(AuditEntry(
            time: event.time, organizationID: event.organizationID, principal: event.userID.map { "user:\($0)" }, principalName: event.username,
            kind: event.kind.rawValue, outcome: event.kind.isRefusal ? "refused" : "done", detail: event.detail), in: txn)
        if event.kind.mayEndAccess {
            txn.afterCommit { [notifications] in notifications.publish(.accessChanged(organizationID: event.organizationID)) }
        }
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
