public import FoundationEssentials
import KV
import Synchronization

/// Changing and resetting passwords.
///
/// Guarantees: a change needs the current password — wrong guesses count as failed sign-ins
/// of the account from that address (`SignInPolicy`) — and a new one that follows
/// `PasswordRules`; it ends every other session of the person, clears `mustChangePassword`
/// and is a security event, all in one transaction, which refuses the change if the password
/// or the session changed meanwhile (a reset wins). A reset issues a new one-time password
/// (returned once, stored hashed), sets `mustChangePassword`, ends every session of the
/// person and revokes their API keys (a reset means the credentials are lost or taken), and
/// records who reset it, for the two-person rule. Until a one-time password is changed, the
/// web layer lets its session do nothing else (`User.mustChangePassword`).
public final class Passwords: Sendable {
    let environment: Environment
    let accounts: Accounts
    let organizations: Organizations
    let sessions: Sessions
    let events: SecurityEvents
    let apiKeys: APIKeys
    let clock: any WallClock

    init(environment: Environment, accounts: Accounts, organizations: Organizations, sessions: Sessions, events: SecurityEvents, apiKeys: APIKeys,
         clock: any WallClock) {
        self.environment = environment
        self.apiKeys = apiKeys
        self.accounts = accounts
        self.organizations = organizations
        self.sessions = sessions
        self.events = events
        self.clock = clock
    }

    /// Changes the principal's own password. A wrong `current` password is
    /// `PortalError.invalid` (a failed sign-in for the throttle, and an entry in the audit
    /// trail); while the throttle holds the account back at `clientAddress`, `throttled`. A key
    /// cannot change its creator's password. Returns how many other sessions ended.
    @discardableResult
    public func change(for principal: Principal, current: String, new: String, clientAddress: String) async throws -> Int {
        guard principal.apiKeyID == nil, let sessionKey = principal.sessionKey else { throw PortalError.forbidden("an API key cannot change a password; sign in") }
        let now = clock.now()
        guard let user = try accounts.user(id: principal.user.id), let hash = user.passwordHash else {
            throw PortalError.invalid("this account signs in through single sign-on and has no password here")
        }
        if let wait = sessions.throttle.withLock({ $0.wait(account: user.username, address: clientAddress, now: now) }) {
            throw PortalError.throttled(retryAfterSeconds: wait)
        }
        guard accounts.hasher.verify(current, against: hash) else {
            sessions.throttle.withLock { $0.recordFailure(account: user.username, address: clientAddress, now: now) }
            try await events.record(SecurityEvent(kind: .passwordChangeFailed, userID: user.id, username: user.username, organizationID: principal.organizationID,
                                                  detail: "the current password was wrong, from \(clientAddress)", time: now))
            throw PortalError.invalid("the current password is wrong")
        }
        try PasswordRules.check(new, username: user.username)
        guard !accounts.hasher.verify(new, against: hash) else { throw PortalError.invalid("the new password must differ from the current one") }
        let newHash = accounts.hasher.hash(new)
        return try await environment.write { [self] txn in
            // Checked before hashing, outside the transaction: a reset (or another change) since
            // then wins, and so does the end of this session.
            guard try txn.get(accounts.users.table, user.id)?.passwordHash == hash, try txn.exists(sessions.table, sessionKey) else {
                throw PortalError.conflict("the password or this session changed meanwhile; sign in again")
            }
            try accounts.update(user.id, in: txn) { user in
                user.passwordHash = newHash
                user.mustChangePassword = false
            }
            let ended = try sessions.endSessions(of: user.id, keeping: principal.sessionKey, in: txn)
            try events.record(SecurityEvent(kind: .passwordChanged, userID: user.id, username: user.username, organizationID: principal.organizationID,
                                            detail: "\(ended) other sessions ended", time: now), in: txn)
            return ended
        }
    }

    /// A new one-time password for `userID`, to hand to them; they must change it at their
    /// next sign-in, and every session they had ends. System administrators may reset anyone
    /// else's; an organization's `users:manage` member only someone who belongs to that
    /// organization alone and is not a system administrator (a person in two organizations
    /// is reset by a system administrator, so that one organization cannot take over what
    /// they hold in another). Not allowed: `notFound` when the target is not in the actor's
    /// organization, `forbidden` otherwise.
    public func reset(_ userID: UUID, by actor: Principal) async throws -> String {
        guard userID != actor.user.id else { throw PortalError.forbidden("change your own password with your current one (POST /api/me/password)") }
        let now = clock.now()
        let password = Accounts.generatePassword()
        let newHash = accounts.hasher.hash(password)
        try await environment.write { [self] txn in
            guard let target = try txn.get(accounts.users.table, userID) else { throw PortalError.notFound("user") }
            if !actor.user.isAdministrator {
                guard actor.apiKeyID == nil else { throw PortalError.forbidden("an API key cannot reset passwords") }
                guard let organizationID = actor.organizationID, actor.has(.usersManage),
                      try organizations.membership(of: userID, in: organizationID, txn: txn) != nil
                else { throw PortalError.notFound("user") }
                guard !target.isAdministrator else { throw PortalError.forbidden("only system administrators reset a system administrator's password") }
                let elsewhere = try organizations.organizationIDs(of: userID, txn: txn).filter { $0 != organizationID }
                guard elsewhere.isEmpty else {
                    throw PortalError.forbidden("\(target.username) also belongs to another organization; a system administrator resets their password")
                }
            }
            guard target.passwordHash != nil else { throw PortalError.invalid("\(target.username) signs in through single sign-on and has no password here") }
            try accounts.update(userID, in: txn) { user in
                user.passwordHash = newHash
                user.mustChangePassword = true
                user.passwordResetBy = actor.user.id
                user.passwordResetAt = now
            }
            let ended = try sessions.endSessions(of: userID, keeping: nil, in: txn)
            let revoked = try apiKeys.revokeAll(createdBy: userID, at: now, in: txn)
            try events.record(SecurityEvent(kind: .passwordReset, userID: actor.user.id, username: actor.user.username, organizationID: actor.organizationID,
                                            detail: "\(target.username): one-time password issued, \(ended) sessions ended, \(revoked) API keys revoked",
                                            time: now), in: txn)
        }
        return password
    }
}
