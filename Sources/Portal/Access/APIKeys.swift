public import FoundationEssentials
import KV

/// An API key as stored: the SHA-256 of its secret (256 random bits, so a fast hash is
/// enough), never the secret itself.
public struct APIKey: Codable, Sendable, Equatable {
    public var schemaVersion = 1
    public let id: UUID
    public var name: String
    /// The first characters of the secret, to recognise a key in lists.
    public let prefix: String
    let secretHash: String
    public let organizationID: UUID
    public let role: Role
    public let createdBy: UUID
    public let createdAt: Date
    public let expiresAt: Date?
    public var lastUsedAt: Date?
    public var revokedAt: Date?
    /// Set for a key issued to an OAuth client at a person's consent (`OAuthServer`).
    public var oauthClientID: String? = nil
}

/// API keys: created by a signed-in member with keys:manage for their current organization
/// (never by another key), with a role no higher than their own there; shown once;
/// revocable by their creator or a `users:manage` member of the organization. A key acts as
/// its creator with the lower of the key's role and the creator's current role, so demoting
/// or removing a person also limits or disables the keys they made. Expiry is read from the
/// portal's clock.
public final class APIKeys: Sendable {
    static let secretPrefix = "pk_"
    let environment: Environment
    let keys: IndexedTable<Key<UUID>, JSONValue<APIKey>>
    let bySecret: IndexHandle<StringKey, Key<UUID>>
    let byOrganization: IndexHandle<Key<UUID>, Key<UUID>>
    let accounts: Accounts
    let organizations: Organizations
    let events: SecurityEvents
    let clock: any WallClock

    init(environment: Environment, accounts: Accounts, organizations: Organizations, events: SecurityEvents, clock: any WallClock) throws {
        self.environment = environment
        self.clock = clock
        self.accounts = accounts
        self.organizations = organizations
        self.events = events
        keys = try environment.indexedTable("api_keys", key: Key<UUID>.self, value: JSONValue<APIKey>.self, indexes: [
            .unique("secret", StringKey.self) { $0.secretHash },
            .multiple("organization", Key<UUID>.self) { [$0.organizationID] },
        ])
        bySecret = keys.index("secret", StringKey.self)
        byOrganization = keys.index("organization", Key<UUID>.self)
    }

    static func hash(_ secret: String) -> String { Crypto.sha256(Array(secret.utf8)).hexString }

    /// Creates a key in the principal's current organization; returns it with its secret,
    /// which is not stored and cannot be shown again.
    public func create(by principal: Principal, name: String, role: Role, expiresAt: Date?) async throws -> (key: APIKey, secret: String) {
        let now = clock.now()
        guard principal.apiKeyID == nil else { throw PortalError.forbidden("an API key cannot create API keys; sign in to make one") }
        guard principal.has(.keysManage) else { throw PortalError.forbidden("creating API keys needs the keys:manage permission") }
        guard let organizationID = principal.organizationID else {
            throw PortalError.invalid("choose an organization first")
        }
        guard (1...100).contains(name.count) else { throw PortalError.invalid("a key's name is 1–100 characters") }
        let ceiling: Role = principal.user.isAdministrator ? .admin : (principal.role ?? .viewer)
        guard role <= ceiling else { throw PortalError.invalid("a key's role cannot be higher than yours (\(ceiling.rawValue))") }
        if let expiresAt, expiresAt <= now { throw PortalError.invalid("expiresAt is in the past") }
        let secret = Self.secretPrefix + Crypto.randomBytes(32).base64URL
        let key = APIKey(id: UUID(), name: name, prefix: String(secret.prefix(10)), secretHash: Self.hash(secret),
                         organizationID: organizationID, role: role, createdBy: principal.user.id, createdAt: now,
                         expiresAt: expiresAt, lastUsedAt: nil, revokedAt: nil)
        let event = SecurityEvent(kind: .keyCreated, userID: principal.user.id, username: principal.user.username, organizationID: organizationID,
                                  detail: "key \(key.id) '\(name)' role \(role.rawValue)", time: now)
        try await environment.write { [keys, events] txn in
            try txn.put(keys, key.id, key)
            try events.record(event, in: txn)
        }
        return (key, secret)
    }

    /// A key for an OAuth client a person approved: their own decision, so no `keys:manage`
    /// is needed; its role is theirs in the organization at the consent.
    func createForClient(userID: UUID, name: String, organizationID: UUID, role: Role, clientID: String) async throws -> APIKey {
        guard let user = try accounts.user(id: userID) else { throw PortalError.notFound("user") }
        let now = clock.now()
        let secret = Self.secretPrefix + Crypto.randomBytes(32).base64URL  // never shown: the client holds tokens, not the key
        let key = APIKey(id: UUID(), name: String(name.prefix(100)), prefix: String(secret.prefix(10)), secretHash: Self.hash(secret),
                         organizationID: organizationID, role: role, createdBy: user.id, createdAt: now,
                         expiresAt: nil, lastUsedAt: nil, revokedAt: nil, oauthClientID: clientID)
        let event = SecurityEvent(kind: .keyCreated, userID: user.id, username: user.username, organizationID: organizationID,
                                  detail: "key \(key.id) '\(key.name)' role \(role.rawValue) for OAuth client \(clientID)", time: now)
        try await environment.write { [keys, events] txn in
            try txn.put(keys, key.id, key)
            try events.record(event, in: txn)
        }
        return key
    }

    /// Revokes a client's key on the portal's own initiative (a stolen refresh token, the
    /// client's own revocation).
    func revokeForClient(_ id: UUID, reason: String) async throws {
        let now = clock.now()
        try await environment.write { [keys, events] txn in
            guard var key = try txn.get(keys.table, id), key.revokedAt == nil else { return }
            key.revokedAt = now
            try txn.put(keys, id, key)
            try events.record(SecurityEvent(kind: .keyRevoked, userID: key.createdBy, username: nil, organizationID: key.organizationID,
                                            detail: "key \(id): \(reason)", time: now), in: txn)
        }
    }

    /// Whether `principal` may see and revoke `key`: its creator, or a `users:manage` member
    /// of its organization.
    static func mayManage(_ key: APIKey, _ principal: Principal) -> Bool {
        key.organizationID == principal.organizationID && (key.createdBy == principal.user.id || principal.has(.usersManage))
    }

    /// The keys of the principal's organization it may manage (`mayManage`), newest first.
    public func list(for principal: Principal) throws -> [APIKey] {
        guard let organizationID = principal.organizationID else { return [] }
        return try environment.read { txn in
            try txn.primaryKeys(byOrganization, organizationID).compactMap { try txn.get(keys.table, $0) }
        }.filter { Self.mayManage($0, principal) }.sorted { $0.createdAt > $1.createdAt }
    }

    /// Revokes a key the principal may manage (`mayManage`). Any other key — of another
    /// organization, or another person's without `users:manage` — is `notFound`, exactly like
    /// one that does not exist.
    public func revoke(_ id: UUID, by principal: Principal) async throws {
        let now = clock.now()
        let event = SecurityEvent(kind: .keyRevoked, userID: principal.user.id, username: principal.user.username, organizationID: principal.organizationID,
                                  detail: "key \(id)", time: now)
        try await environment.write { [keys, events] txn in
            guard var key = try txn.get(keys.table, id), Self.mayManage(key, principal) else {
                throw PortalError.notFound("API key")
            }
            guard key.revokedAt == nil else { return }
            key.revokedAt = now
            try txn.put(keys, id, key)
            try events.record(event, in: txn)
        }
    }

    /// Revokes every live key `userID` created, in the caller's transaction (a password reset).
    /// Returns how many.
    /// - Complexity: O(keys): the table is scanned.
    @available(*, noasync)
    func revokeAll(createdBy userID: UUID, at now: Date, in txn: borrowing WriteTransaction) throws -> Int {
        var live: [APIKey] = []
        try txn.forEach(keys.table) { (_, key) throws(KVError) in
            if key.createdBy == userID && key.revokedAt == nil { live.append(key) }
            return true
        }
        for var key in live {
            key.revokedAt = now
            try txn.put(keys, key.id, key)
        }
        return live.count
    }

    /// The principal a bearer secret stands for, or `nil` (unknown, revoked, expired, or its
    /// creator no longer a member). Records the last use at most once a minute.
    public func principal(secret: String) async throws -> Principal? {
        guard secret.hasPrefix(Self.secretPrefix), secret.count <= 128 else { return nil }
        let hash = Self.hash(secret)
        guard let key = try environment.read({ txn in try txn.get(keys, bySecret, hash)?.value }) else { return nil }
        return try await principal(key, touch: true)
    }

    /// The principal of key `id` as it stands now (for a stream opened with it), or `nil`.
    func principal(keyID id: UUID) async throws -> Principal? {
        guard let key = try environment.read({ txn in try txn.get(keys.table, id) }) else { return nil }
        return try await principal(key, touch: false)
    }

    private func principal(_ key: APIKey, touch: Bool) async throws -> Principal? {
        let now = clock.now()
        var key = key
        guard key.revokedAt == nil, key.expiresAt.map({ $0 > now }) ?? true,
              let user = try accounts.user(id: key.createdBy)
        else { return nil }
        let current: Role? = user.isAdministrator ? .admin : try organizations.role(of: user.id, in: key.organizationID)
        guard let current else { return nil }
        if touch, key.lastUsedAt.map({ now.timeIntervalSince($0) > 60 }) ?? true {
            key.lastUsedAt = now
            let updated = key
            try await environment.write { [keys] txn in
                guard let stored = try txn.get(keys.table, updated.id), stored.revokedAt == nil else { return }
                try txn.put(keys, updated.id, updated)
            }
        }
        // Acting through a key never carries system-administrator rights beyond the key's role.
        var keyUser = user
        keyUser.isAdministrator = false
        return Principal(user: keyUser, organizationID: key.organizationID, role: min(key.role, current), sessionKey: nil, csrfToken: nil, apiKeyID: key.id)
    }
}
