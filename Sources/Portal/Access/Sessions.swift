public import FoundationEssentials
import KV
import Synchronization

/// A signed-in browser session. Stored under the SHA-256 of its token, never the token; its
/// CSRF token is derived from the session token (`Sessions.csrfToken(for:)`), so it is not
/// stored at all.
public struct Session: Codable, Sendable, Equatable {
    public var schemaVersion = 1
    public let userID: UUID
    /// The organization requests act in until the user switches.
    public var organizationID: UUID?
    public let createdAt: Date
    public var lastSeenAt: Date
    /// Sign-in is required again after this, however active the session.
    public let absoluteExpiry: Date
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
/// ends after `idleTimeout` without use or at `absoluteLifetime`, whichever is first, by the
/// portal's clock: activity extends the idle deadline, never the absolute one, and a session
/// found expired is deleted. Every sign-in makes a new token (no fixation). Failed sign-ins
/// are throttled as `SignInPolicy` says; a throttled attempt is refused before the password
/// is checked.
public final class Sessions: Sendable {
    let environment: Environment
    let table: Table<StringKey, JSONValue<Session>>
    let accounts: Accounts
    let organizations: Organizations
    let events: SecurityEvents
    let clock: any WallClock
    public let idleTimeout: Duration
    public let absoluteLifetime: Duration
    let throttle: Mutex<SignInThrottle>

    init(environment: Environment, accounts: Accounts, organizations: Organizations, events: SecurityEvents, clock: any WallClock,
         signInPolicy: SignInPolicy = SignInPolicy(), idleTimeout: Duration = .seconds(8 * 3600), absoluteLifetime: Duration = .seconds(7 * 24 * 3600)) throws {
        self.environment = environment
        self.accounts = accounts
        self.organizations = organizations
        self.events = events
        self.clock = clock
        self.idleTimeout = idleTimeout
        self.absoluteLifetime = absoluteLifetime
        throttle = Mutex(SignInThrottle(policy: signInPolicy))
        table = try environment.expiringTable("sessions", key: StringKey.self, value: JSONValue<Session>.self)
    }

    /// A new session's token (for the cookie) and CSRF token.
    public struct SignedIn: Sendable {
        public let token: String
        public let csrfToken: String
        public let user: User
    }

    static func key(_ token: String) -> String { Crypto.sha256(Array(token.utf8)).hexString }

    /// The CSRF token of the session whose token is `token`: an HMAC of the token, so the
    /// server recomputes it from the cookie and stores nothing a copy of the data could use.
    public static func csrfToken(for token: String) -> String {
        Crypto.hmacSHA256(key: Array(token.utf8), Array("portal csrf v1".utf8)).base64URL
    }

    /// Checks the password and opens a session. Throws `PortalError.unauthenticated` for a
    /// wrong user name or password (the same error and about the same time for both), and
    /// `PortalError.throttled` while `SignInPolicy` holds the attempt back.
    public func signIn(username: String, password: String, clientAddress: String) async throws -> SignedIn {
        let now = clock.now()
        if let wait = throttle.withLock({ $0.wait(account: username, address: clientAddress, now: now) }) {
            let known = try accounts.user(named: username)
            try await events.record(SecurityEvent(kind: .signInThrottled, userID: known?.id, username: try known?.username ?? events.unverifiedName(username),
                                                  organizationID: nil, detail: "from \(clientAddress), retry after \(wait) s", time: now))
            throw PortalError.throttled(retryAfterSeconds: wait)
        }
        let user = try accounts.user(named: username)
        // Unknown users are checked against a dummy hash, so timing does not reveal them.
        let valid = accounts.hasher.verify(password, against: user?.passwordHash ?? accounts.dummyHash)
        guard let user, valid, user.passwordHash != nil else {
            throttle.withLock { $0.recordFailure(account: username, address: clientAddress, now: now) }
            // What was typed is only stored when it names a real account: it could be a
            // password typed into the wrong field.
            try await events.record(SecurityEvent(kind: .signInFailed, userID: user?.id, username: try user?.username ?? events.unverifiedName(username),
                                                  organizationID: nil, detail: "from \(clientAddress)", time: now))
            throw PortalError.unauthenticated
        }
        throttle.withLock { $0.recordSuccess(account: username, address: clientAddress) }
        let opened = newSession(for: user, organizationID: try defaultOrganization(of: user), now: now)
        let event = SecurityEvent(kind: .signInSucceeded, userID: user.id, username: user.username, organizationID: opened.session.organizationID,
                                  detail: "password, from \(clientAddress)", time: now)
        try await environment.write { [self] txn in
            try store(opened, in: txn)
            try events.record(event, in: txn)
        }
        return opened.signedIn
    }

    /// Where a new session starts: the organization the user last switched to while they
    /// still may act in it, else their first by slug.
    func defaultOrganization(of user: User) throws -> UUID? {
        let memberships = try organizations.memberships(of: user.id)
        if let last = user.lastOrganizationID {
            let mayAct = try memberships.contains { $0.organization.id == last } || (user.isAdministrator && organizations.organization(last) != nil)
            if mayAct { return last }
        }
        return memberships.first?.organization.id
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
        let session = Session(userID: user.id, organizationID: organizationID, createdAt: now, lastSeenAt: now,
                              absoluteExpiry: now.addingTimeInterval(absoluteLifetime.timeInterval))
        let expiry = min(now.addingTimeInterval(idleTimeout.timeInterval), session.absoluteExpiry)
        return NewSession(signedIn: SignedIn(token: token, csrfToken: Self.csrfToken(for: token), user: user), session: session, expiry: expiry)
    }

    /// Stores the session (under its token's hash) in the caller's transaction.
    func store(_ opened: NewSession, in txn: borrowing WriteTransaction) throws {
        try txn.put(table, Self.key(opened.signedIn.token), opened.session, expiresAt: opened.expiry)
    }

    /// The principal of a session token, or `nil` when the token is unknown or expired (an
    /// expired session is deleted). Extends the idle expiry at most once a minute, so reads
    /// do not each cost a write.
    public func principal(token: String) async throws -> Principal? {
        try await principal(sessionKey: Self.key(token), csrfToken: Self.csrfToken(for: token), touch: true)
    }

    /// The principal of the session stored under `sessionKey` as it stands now, or `nil` when
    /// it ended. With `touch`, counts as activity.
    func principal(sessionKey key: String, csrfToken: String?, touch: Bool) async throws -> Principal? {
        let now = clock.now()
        guard var session = try environment.read({ txn in try txn.get(table, key) }) else { return nil }
        guard session.absoluteExpiry > now, now.timeIntervalSince(session.lastSeenAt) < idleTimeout.timeInterval,
              let user = try accounts.user(id: session.userID)
        else {
            // Deleted now so the cookie is dead for good; if storage cannot take the write (a
            // full or read-only disk), the expiry sweep deletes it later, and the request is
            // answered as anonymous either way rather than failing.
            try? await environment.write { [table] txn in _ = try txn.delete(table, key) }
            return nil
        }
        if touch, now.timeIntervalSince(session.lastSeenAt) > 60 {
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
        return Principal(user: user, organizationID: organizationID, role: role, sessionKey: key, csrfToken: csrfToken)
    }

    /// Ends the session (idempotent).
    public func signOut(_ principal: Principal) async throws {
        guard let key = principal.sessionKey else { return }
        let event = SecurityEvent(kind: .signOut, userID: principal.user.id, username: principal.user.username, organizationID: principal.organizationID, detail: "", time: clock.now())
        try await environment.write { [table, events] txn in
            if try txn.delete(table, key) { try events.record(event, in: txn) }
        }
    }

    /// Ends every session of `userID` but the one stored under `keeping`, in the caller's
    /// transaction. Returns how many ended.
    /// - Complexity: O(sessions): the table is scanned (it holds only live sessions).
    @available(*, noasync)
    func endSessions(of userID: UUID, keeping: String?, in txn: borrowing WriteTransaction) throws -> Int {
        var ended: [String] = []
        try txn.forEach(table) { (key, session) throws(KVError) in
            if session.userID == userID && key != keeping { ended.append(key) }
            return true
        }
        for key in ended { _ = try txn.delete(table, key) }
        return ended.count
    }

    /// Makes `organizationID` the session's current organization, and the one the user's next
    /// sessions start in; the user must be a member (system administrators may enter any).
    /// Not a member: `notFound`.
    public func switchOrganization(_ principal: Principal, to organizationID: UUID) async throws {
        guard let key = principal.sessionKey else { throw PortalError.forbidden("an API key belongs to one organization; switching is for signed-in people") }
        guard principal.user.isAdministrator ? try organizations.organization(organizationID) != nil
                : try organizations.role(of: principal.user.id, in: organizationID) != nil
        else { throw PortalError.notFound("organization") }
        let now = clock.now()
        try await environment.write { [self] txn in
            guard var session = try txn.get(table, key) else { throw PortalError.unauthenticated }
            session.organizationID = organizationID
            let expiry = min(now.addingTimeInterval(idleTimeout.timeInterval), session.absoluteExpiry)
            try txn.put(table, key, session, expiresAt: expiry)
            try accounts.update(principal.user.id, in: txn) { $0.lastOrganizationID = organizationID }
        }
    }
}
