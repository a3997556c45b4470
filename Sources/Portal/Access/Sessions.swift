public import FoundationEssentials
import KV
import Synchronization

/// A signed-in browser session. Stored under the SHA-256 of its token, never the token.
public struct Session: Codable, Sendable, Equatable {
    public var schemaVersion = 1
    public let userID: UUID
    /// The organization requests act in until the user switches.
    public var organizationID: UUID?
    public let createdAt: Date
    public var lastSeenAt: Date
    /// Sign-in is required again after this, however active the session.
    public let absoluteExpiry: Date
    /// Sent back in `X-CSRF-Token` on every cookie-authenticated state-changing request.
    public let csrfToken: String
}

/// What a request acts as once authenticated: the user, the organization it acts in, and the
/// permissions its role there grants (all of them for system administrators).
public struct Principal: Sendable, Equatable {
    public let user: User
    public let organizationID: UUID?
    public let role: Role?
    public let sessionKey: String?
    public let csrfToken: String?
    /// Set when the request authenticated with an API key.
    public var apiKeyID: UUID? = nil

    init(user: User, organizationID: UUID?, role: Role?, sessionKey: String?, csrfToken: String?, apiKeyID: UUID? = nil) {
        self.user = user
        self.organizationID = organizationID
        self.role = role
        self.sessionKey = sessionKey
        self.csrfToken = csrfToken
        self.apiKeyID = apiKeyID
    }

    /// A member acting without a session or key: the portal itself going on with their work
    /// (a conversation resumed after an approval), command-line tools and benchmarks.
    public static func member(_ user: User, of organizationID: UUID, as role: Role) -> Principal {
        Principal(user: user, organizationID: organizationID, role: role, sessionKey: nil, csrfToken: nil)
    }

    public var permissions: Set<Permission> {
        user.isAdministrator ? Set(Permission.allCases) : (role?.permissions ?? [])
    }

    public func has(_ permission: Permission) -> Bool { permissions.contains(permission) }

    /// `user:<id>` or `key:<id>`: who acted, for logs, rate limits and the audit trail.
    public var id: String { Self.id(user: user.id, apiKey: apiKeyID) }

    static func id(user: UUID, apiKey: UUID?) -> String { apiKey.map { "key:\($0)" } ?? "user:\(user)" }
}

/// Sign-in, sessions and sign-out.
///
/// Guarantees: tokens are 256 random bits shown only to the client that signed in; KV keeps
/// their SHA-256, so a copy of the data directory cannot be replayed as a session. A session
/// ends after `idleTimeout` without use or at `absoluteLifetime`, whichever is first (KV
/// expiry makes it unreadable at once). Every sign-in makes a new token (no fixation).
/// Failed sign-ins are throttled per account and per client address; a throttled attempt is
/// refused before the password is checked.
public final class Sessions: Sendable {
    let environment: Environment
    let table: Table<StringKey, JSONValue<Session>>
    let accounts: Accounts
    let organizations: Organizations
    let events: SecurityEvents
    public let idleTimeout: Duration
    public let absoluteLifetime: Duration
    let throttle = Mutex(SignInThrottle())

    init(environment: Environment, accounts: Accounts, organizations: Organizations, events: SecurityEvents, idleTimeout: Duration = .seconds(8 * 3600), absoluteLifetime: Duration = .seconds(7 * 24 * 3600)) throws {
        self.environment = environment
        self.accounts = accounts
        self.organizations = organizations
        self.events = events
        self.idleTimeout = idleTimeout
        self.absoluteLifetime = absoluteLifetime
        table = try environment.expiringTable("sessions", key: StringKey.self, value: JSONValue<Session>.self)
    }

    /// A new session's token (for the cookie) and CSRF token.
    public struct SignedIn: Sendable {
        public let token: String
        public let csrfToken: String
        public let user: User
    }

    static func key(_ token: String) -> String { Crypto.sha256(Array(token.utf8)).hexString }

    /// Checks the password and opens a session. Throws `AccessError.unauthenticated` for a
    /// wrong user name or password (the same error and about the same time for both), and
    /// `AccessError.throttled` after too many recent failures for the account or the address.
    public func signIn(username: String, password: String, clientAddress: String, now: Date = Date()) async throws -> SignedIn {
        let accountKey = "user:" + username.lowercased(), addressKey = "ip:" + clientAddress
        if let wait = throttle.withLock({ $0.wait(for: [accountKey, addressKey], now: now) }) {
            try await events.record(SecurityEvent(kind: .signInThrottled, userID: nil, username: username, organizationID: nil, detail: "from \(clientAddress)"))
            throw AccessError.throttled(retryAfterSeconds: wait)
        }
        let user = try accounts.user(named: username)
        // Unknown users are checked against a dummy hash, so timing does not reveal them.
        let valid = accounts.hasher.verify(password, against: user?.passwordHash ?? accounts.dummyHash)
        guard let user, valid, user.passwordHash != nil else {
            throttle.withLock { $0.recordFailure(for: [accountKey, addressKey], now: now) }
            try await events.record(SecurityEvent(kind: .signInFailed, userID: user?.id, username: username, organizationID: nil, detail: "from \(clientAddress)"))
            throw AccessError.unauthenticated
        }
        throttle.withLock { $0.clear(accountKey) }
        let opened = newSession(for: user, organizationID: try organizations.memberships(of: user.id).first?.organization.id, now: now)
        let event = SecurityEvent(kind: .signInSucceeded, userID: user.id, username: user.username, organizationID: opened.session.organizationID, detail: "password, from \(clientAddress)")
        try await environment.write { [self] txn in
            try store(opened, in: txn)
            try events.record(event, in: txn)
        }
        return opened.signedIn
    }

    /// A session about to be stored: its token, record and first expiry.
    struct NewSession {
        let signedIn: SignedIn
        let session: Session
        let expiry: Date
    }

    /// Fresh random tokens for a session of `user` acting in `organizationID`.
    func newSession(for user: User, organizationID: UUID?, now: Date) -> NewSession {
        let token = Crypto.randomBytes(32).base64URL
        let csrf = Crypto.randomBytes(24).base64URL
        let session = Session(
            userID: user.id, organizationID: organizationID, createdAt: now, lastSeenAt: now,
            absoluteExpiry: now.addingTimeInterval(absoluteLifetime.timeInterval), csrfToken: csrf)
        let expiry = min(now.addingTimeInterval(idleTimeout.timeInterval), session.absoluteExpiry)
        return NewSession(signedIn: SignedIn(token: token, csrfToken: csrf, user: user), session: session, expiry: expiry)
    }

    /// Stores the session (under its token's hash) in the caller's transaction.
    func store(_ opened: NewSession, in txn: borrowing WriteTransaction) throws {
        try txn.put(table, Self.key(opened.signedIn.token), opened.session, expiresAt: opened.expiry)
    }

    /// The principal of a session token, or `nil` when the token is unknown or expired.
    /// Extends the idle expiry at most once a minute, so reads do not each cost a write.
    public func principal(token: String, now: Date = Date()) async throws -> Principal? {
        let key = Self.key(token)
        guard var session = try environment.read({ txn in try txn.get(table, key) }), session.absoluteExpiry > now else { return nil }
        guard let user = try accounts.user(id: session.userID) else { return nil }
        if now.timeIntervalSince(session.lastSeenAt) > 60 {
            session.lastSeenAt = now
            let expiry = min(now.addingTimeInterval(idleTimeout.timeInterval), session.absoluteExpiry)
            let refreshed = session
            try await environment.write { [table] txn in
                // Only while it still exists: a concurrent sign-out wins.
                guard try txn.exists(table, key) else { return }
                try txn.put(table, key, refreshed, expiresAt: expiry)
            }
        }
        let role = try session.organizationID.flatMap { try organizations.role(of: user.id, in: $0) }
        let organizationID = (role != nil || user.isAdministrator) ? session.organizationID : nil
        return Principal(user: user, organizationID: organizationID, role: role, sessionKey: key, csrfToken: session.csrfToken)
    }

    /// Ends the session (idempotent).
    public func signOut(_ principal: Principal) async throws {
        guard let key = principal.sessionKey else { return }
        let event = SecurityEvent(kind: .signOut, userID: principal.user.id, username: principal.user.username, organizationID: principal.organizationID, detail: "")
        try await environment.write { [table, events] txn in
            if try txn.delete(table, key) { try events.record(event, in: txn) }
        }
    }

    /// Makes `organizationID` the session's current organization; the user must be a member
    /// (system administrators may enter any). Not a member: `notFound`.
    public func switchOrganization(_ principal: Principal, to organizationID: UUID) async throws {
        guard let key = principal.sessionKey else { throw AccessError.invalid("API keys belong to one organization") }
        guard principal.user.isAdministrator ? try organizations.organization(organizationID) != nil
                : try organizations.role(of: principal.user.id, in: organizationID) != nil
        else { throw AccessError.notFound("organization") }
        try await environment.write { [table] txn in
            guard var session = try txn.get(table, key) else { throw AccessError.unauthenticated }
            session.organizationID = organizationID
            let expiry = min(Date().addingTimeInterval(self.idleTimeout.timeInterval), session.absoluteExpiry)
            try txn.put(table, key, session, expiresAt: expiry)
        }
    }
}

/// Failed sign-ins per key (an account or an address) in a sliding window: after
/// `maximumFailures` within `window`, attempts wait until the oldest failure leaves it.
struct SignInThrottle {
    var failures: [String: [Date]] = [:]
    let maximumFailures = 5
    let window: TimeInterval = 15 * 60

    /// Seconds to wait before the next attempt for any of `keys`, or `nil`.
    mutating func wait(for keys: [String], now: Date) -> Int? {
        var longest: TimeInterval = 0
        for key in keys {
            let recent = (failures[key] ?? []).filter { now.timeIntervalSince($0) < window }
            failures[key] = recent.isEmpty ? nil : recent
            if recent.count >= maximumFailures, let oldest = recent.first {
                longest = max(longest, window - now.timeIntervalSince(oldest))
            }
        }
        return longest > 0 ? Int(longest.rounded(.up)) : nil
    }

    mutating func recordFailure(for keys: [String], now: Date) {
        for key in keys { failures[key, default: []].append(now) }
    }

    mutating func clear(_ key: String) { failures[key] = nil }
}
