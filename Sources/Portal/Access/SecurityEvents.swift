public import FoundationEssentials
public import KV

/// One security-relevant event: a sign-in (either outcome), a role change, an API key created
/// or revoked. Kept in time order for the audit trail.
public struct SecurityEvent: Codable, Sendable, Equatable {
    /// Security events are the access and administration kinds of `EventKind`.
    public typealias Kind = EventKind

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

    /// The audit entry that records it: every field of the event is in it.
    var auditEntry: AuditEntry {
        AuditEntry(time: time, organizationID: organizationID, principal: userID.map { "user:\($0)" }, principalName: username,
                   kind: kind.rawValue, outcome: kind.isRefusal ? "refused" : "done", detail: detail)
    }

    /// The event `entry` records, as `kind` (its entry's kind by any version's name).
    init(kind: Kind, told entry: AuditEntry) {
        self.init(kind: kind, userID: entry.principal.flatMap { $0.hasPrefix("user:") ? UUID(uuidString: String($0.dropFirst(5))) : nil },
                  username: entry.principalName, organizationID: entry.organizationID, detail: entry.detail, time: entry.time)
    }
}

/// Security events, kept as entries of the audit trail (so they are chained and verified with
/// the tool runs). Recorded in the transaction of the change they describe where there is one.
///
/// Each is a `DomainEvent` recorded in the outbox with its audit entry; one that can end
/// someone's access (sign-out, a role change, a revoked key, a password change or reset)
/// makes every open event stream check its principal again (see `PortalNotification.notification(for:)`).
public final class SecurityEvents: Sendable {
    let environment: Environment
    let audit: AuditTrail
    let outbox: Outbox
    let secrets: Secrets

    init(environment: Environment, audit: AuditTrail, outbox: Outbox, secrets: Secrets) {
        self.environment = environment
        self.audit = audit
        self.outbox = outbox
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
        try outbox.record(.security(event), organizationID: event.organizationID, time: event.time, audit: event.auditEntry, in: txn)
    }

    public func record(_ event: SecurityEvent) async throws {
        try await environment.write { [self] txn in try record(event, in: txn) }
    }

    /// The newest events first, at most `limit`.
    public func recent(limit: Int = 100) throws -> [SecurityEvent] {
        try audit.page(limit: limit) { entry in Self.securityKind(entry) != nil }.map { entry in
            SecurityEvent(kind: Self.securityKind(entry)!, told: entry)
        }
    }

    /// The kind of an audit entry that records a security event, by any version's name.
    static func securityKind(_ entry: AuditEntry) -> EventKind? {
        guard let kind = EventKind(stored: entry.kind, outcome: entry.outcome), DomainEvent.securityKinds.contains(kind) else { return nil }
        return kind
    }
}
