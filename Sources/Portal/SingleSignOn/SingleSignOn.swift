public import FoundationEssentials
import KV
import Synchronization

/// Sign-in through an OpenID Connect provider: the authorization code flow with PKCE (S256),
/// `state` and `nonce`, and just-in-time users whose memberships follow their groups.
///
/// Guarantees:
/// - a sign-in attempt is usable once, for ten minutes, and only from the browser that
///   started it (a random binding token in a cookie, stored hashed with the attempt);
/// - the ID token is verified (signature, issuer, audience, expiry, nonce) before anything is
///   written; people are identified by (issuer, `sub`), never by a name or e-mail claim, so a
///   provider account never takes over a local account that happens to share its name;
/// - the user, their memberships, the session and the security event are written in one
///   transaction;
/// - memberships granted by groups are updated at every sign-in: a role follows the groups,
///   and leaving every mapped group ends the access it gave. Memberships an administrator
///   gave by hand are left alone.
public final class SingleSignOn: Sendable {
    let environment: Environment
    let settingsTable: Table<StringKey, JSONValue<SingleSignOnSettings>>
    let attempts: Table<StringKey, JSONValue<Attempt>>
    let identities: Table<StringKey, JSONValue<ExternalIdentity>>
    let accounts: Accounts
    let organizations: Organizations
    let sessions: Sessions
    let secrets: Secrets
    let events: SecurityEvents
    let http: OutboundHTTP
    private let provider = Mutex<OpenIDProvider?>(nil)

    public static let clientSecretName = "oidc.client_secret"
    static let attemptLifetime: TimeInterval = 600

    /// A sign-in in progress, stored under the SHA-256 of its `state`.
    struct Attempt: Codable, Sendable {
        var schemaVersion = 1
        let nonce: String
        let codeVerifier: String
        let bindingHash: String
        let redirectURI: String
        let returnTo: String
    }

    /// The link between a provider's account and a portal user.
    struct ExternalIdentity: Codable, Sendable {
        var schemaVersion = 1
        let issuer: String
        let subject: String
        let userID: UUID
        /// Organizations whose membership this identity's groups granted, so that the next
        /// sign-in can withdraw them when the groups no longer do.
        var managedOrganizations: [UUID]
        var lastSignInAt: Date
    }

    init(environment: Environment, accounts: Accounts, organizations: Organizations, sessions: Sessions, secrets: Secrets, events: SecurityEvents, http: OutboundHTTP = OutboundHTTP()) throws {
        self.environment = environment
        self.accounts = accounts
        self.organizations = organizations
        self.sessions = sessions
        self.secrets = secrets
        self.events = events
        self.http = http
        settingsTable = try environment.table("sso_settings", key: StringKey.self, value: JSONValue<SingleSignOnSettings>.self)
        attempts = try environment.expiringTable("sso_attempts", key: StringKey.self, value: JSONValue<Attempt>.self)
        identities = try environment.table("sso_identities", key: StringKey.self, value: JSONValue<ExternalIdentity>.self)
    }

    // MARK: Settings

    /// The stored settings, or `nil` when single sign-on was never configured.
    public func settings() throws -> SingleSignOnSettings? {
        try environment.read { txn in try txn.get(settingsTable, "oidc") }
    }

    /// Whether a client secret is stored (its value is never returned).
    public func hasClientSecret() throws -> Bool { try secrets.get(Self.clientSecretName) != nil }

    /// Replaces the settings. `clientSecret`: a new secret, `""` to remove it (a public
    /// client), or `nil` to keep the stored one. Every mapped organization must exist.
    public func configure(_ settings: SingleSignOnSettings, clientSecret: String?, by actor: Principal) async throws {
        try settings.validate()
        for mapping in settings.mappings where try organizations.organization(slug: mapping.organization) == nil {
            throw PortalError.invalid("mapping for group '\(mapping.group)': no organization '\(mapping.organization)'")
        }
        try await secrets.update(Self.clientSecretName, to: clientSecret, field: "clientSecret", maximumLength: 1024)
        let event = SecurityEvent(kind: .singleSignOnConfigured, userID: actor.user.id, username: actor.user.username, organizationID: nil,
                                  detail: "issuer \(settings.issuer), \(settings.enabled ? "enabled" : "disabled"), \(settings.mappings.count) group mappings")
        try await environment.write { [settingsTable, events] txn in
            try txn.put(settingsTable, "oidc", settings)
            try events.record(event, in: txn)
        }
        provider.withLock { $0 = nil }
    }

    /// The settings when single sign-on is on.
    private func activeSettings() throws -> SingleSignOnSettings {
        guard let settings = try settings(), settings.enabled else { throw SingleSignOnError.notConfigured }
        return settings
    }

    private func provider(for settings: SingleSignOnSettings) -> OpenIDProvider {
        provider.withLock { current in
            if let current, current.issuer == settings.issuer { return current }
            let created = OpenIDProvider(issuer: settings.issuer, http: http)
            current = created
            return created
        }
    }

    // MARK: The flow

    /// Where to send the browser to sign in, and the binding token for its cookie.
    public struct Authorization: Sendable {
        public let url: String
        public let bindingToken: String
    }

    /// Starts a sign-in: stores the attempt and returns the provider's authorization URL.
    /// `returnTo` must be a path on this portal (anything else becomes `/`).
    public func begin(redirectURI: String, returnTo: String, now: Date = Date()) async throws -> Authorization {
        let settings = try activeSettings()
        let metadata = try await provider(for: settings).metadata(now: now)
        let state = Crypto.randomBytes(32).base64URL, binding = Crypto.randomBytes(32).base64URL
        let attempt = Attempt(nonce: Crypto.randomBytes(32).base64URL, codeVerifier: Crypto.randomBytes(32).base64URL,
                              bindingHash: Crypto.sha256(Array(binding.utf8)).hexString, redirectURI: redirectURI,
                              returnTo: Self.isLocalPath(returnTo) ? returnTo : "/")
        try await environment.write { [attempts] txn in
            try txn.put(attempts, Self.attemptKey(state), attempt, expiresAt: now.addingTimeInterval(Self.attemptLifetime))
        }
        let query = [
            ("response_type", "code"), ("client_id", settings.clientID), ("redirect_uri", redirectURI),
            ("scope", settings.scopes.joined(separator: " ")), ("state", state), ("nonce", attempt.nonce),
            ("code_challenge", Crypto.sha256(Array(attempt.codeVerifier.utf8)).base64URL), ("code_challenge_method", "S256"),
        ].map { "\($0.0)=\(OutboundHTTP.formEncode($0.1))" }.joined(separator: "&")
        let separator = metadata.authorization_endpoint.contains("?") ? "&" : "?"
        return Authorization(url: metadata.authorization_endpoint + separator + query, bindingToken: binding)
    }

    /// A completed sign-in: the new session and where the browser was going.
    public struct Completed: Sendable {
        public let signedIn: Sessions.SignedIn
        public let returnTo: String
    }

    /// Finishes a sign-in from the provider's redirect: consumes the attempt, exchanges the
    /// code, validates the ID token, provisions the user and opens a session.
    public func complete(code: String, state: String, bindingToken: String?, clientAddress: String, now: Date = Date()) async throws -> Completed {
        let settings = try activeSettings()
        guard !code.isEmpty, code.utf8.count <= 4096, !state.isEmpty, state.utf8.count <= 512 else {
            throw SingleSignOnError.invalidRequest("The sign-in response is missing its code or state.")
        }
        let key = Self.attemptKey(state)
        // Consumed before anything else, so that a replayed response finds nothing.
        let attempt = try await environment.write { [attempts] txn -> Attempt? in
            guard let attempt = try txn.get(attempts, key) else { return nil }
            _ = try txn.delete(attempts, key)
            return attempt
        }
        guard let attempt else { throw SingleSignOnError.invalidRequest("This sign-in has expired or was already used; start again.") }
        guard let bindingToken, Crypto.constantTimeEqual(Array(Crypto.sha256(Array(bindingToken.utf8)).hexString.utf8), Array(attempt.bindingHash.utf8)) else {
            throw SingleSignOnError.invalidRequest("This sign-in was started in another browser; start again here.")
        }
        let provider = provider(for: settings)
        var claims: [String: JSONAny]
        do {
            let tokens = try await provider.exchange(code: code, redirectURI: attempt.redirectURI, codeVerifier: attempt.codeVerifier,
                                                     clientID: settings.clientID, clientSecret: try secrets.get(Self.clientSecretName))
            claims = try await provider.validate(idToken: tokens.idToken, clientID: settings.clientID, nonce: attempt.nonce, now: now)
            // Providers that follow OIDC Core §5.4 put profile claims (and sometimes groups)
            // only in userinfo: ask when the ID token lacks them. What the ID token says wins.
            let profileClaims = ["name", "email", settings.usernameClaim, settings.groupsClaim]
            if let accessToken = tokens.accessToken, profileClaims.contains(where: { claims[$0] == nil }),
               let info = try await provider.userInfo(accessToken: accessToken, subject: claims["sub"]!.string!) {
                claims.merge(info) { fromToken, _ in fromToken }
            }
        } catch let error as SingleSignOnError {
            let detail = "single sign-on from \(clientAddress): \(error.description)"
            try await events.record(SecurityEvent(kind: .signInFailed, userID: nil, username: nil, organizationID: nil, detail: String(detail.prefix(500))))
            throw error
        }
        guard let signedIn = try await provision(claims: claims, settings: settings, clientAddress: clientAddress, now: now) else {
            throw SingleSignOnError.rejected("your identity provider's groups give you no access to this portal; ask an administrator")
        }
        return Completed(signedIn: signedIn, returnTo: attempt.returnTo)
    }

    /// Creates or updates the user of the verified claims, syncs their group memberships, and
    /// opens a session, in one transaction. `nil` when their groups grant no organization: the
    /// user and the withdrawn memberships are committed, and no session is opened.
    private func provision(claims: [String: JSONAny], settings: SingleSignOnSettings, clientAddress: String, now: Date) async throws -> Sessions.SignedIn? {
        let subject = claims["sub"]!.string!
        let groups = Set(claims[settings.groupsClaim]?.strings ?? [])
        // The highest role each organization's mappings grant.
        var highest: [UUID: Role] = [:]
        for mapping in settings.mappings where mapping.group == "*" || groups.contains(mapping.group) {
            guard let organization = try organizations.organization(slug: mapping.organization) else { continue }
            highest[organization.id] = max(highest[organization.id] ?? mapping.role, mapping.role)
        }
        let granted = highest
        let proposedName = Self.username(from: Self.nonEmpty(claims[settings.usernameClaim]) ?? Self.nonEmpty(claims["email"]) ?? subject)
        // A display name only from a `name` claim that says one: an empty or missing claim never
        // replaces the name a person already has (a new person falls back to their user name).
        let claimedName = Self.nonEmpty(claims["name"]).map { String($0.prefix(128)) }
        let identityKey = Crypto.sha256(Array((settings.issuer + "\u{0}" + subject).utf8)).hexString
        let issuer = settings.issuer

        return try await environment.write { [self] txn -> Sessions.SignedIn? in
            var identity = try txn.get(identities, identityKey)
            var user: User
            if let existing = identity, let linked = try txn.get(accounts.users.table, existing.userID) {
                user = linked
                if let claimedName, user.displayName != claimedName {
                    user.displayName = claimedName
                    try txn.put(accounts.users, user.id, user)
                }
            } else {
                user = User(id: UUID(), username: try freeUsername(proposedName, txn: txn), displayName: claimedName ?? Self.nonEmpty(claims[settings.usernameClaim]) ?? proposedName, passwordHash: nil,
                            isAdministrator: false, mustChangePassword: false, createdAt: now)
                try txn.put(accounts.users, user.id, user)
                try events.record(SecurityEvent(kind: .userCreated, userID: user.id, username: user.username, organizationID: nil,
                                                detail: "just in time, by single sign-on"), in: txn)
                identity = nil
            }
            let previouslyManaged = Set(identity?.managedOrganizations ?? [])
            for (organizationID, role) in granted where try organizations.role(of: user.id, in: organizationID, txn: txn) != role {
                try organizations.putRole(role, user: user.id, in: organizationID, grantedBy: nil, at: now, txn: txn)
                try events.record(SecurityEvent(kind: .roleChanged, userID: user.id, username: user.username, organizationID: organizationID,
                                                detail: "\(user.username) → \(role.rawValue), from identity-provider groups"), in: txn)
            }
            for organizationID in previouslyManaged.subtracting(granted.keys) {
                try organizations.putRole(nil, user: user.id, in: organizationID, grantedBy: nil, at: now, txn: txn)
                try events.record(SecurityEvent(kind: .roleChanged, userID: user.id, username: user.username, organizationID: organizationID,
                                                detail: "\(user.username) → no membership, no longer in a mapped group"), in: txn)
            }
            try txn.put(identities, identityKey, ExternalIdentity(issuer: issuer, subject: subject, userID: user.id,
                                                                  managedOrganizations: granted.keys.sorted { $0.uuidString < $1.uuidString }, lastSignInAt: now))
            guard !granted.isEmpty else {
                try events.record(SecurityEvent(kind: .signInFailed, userID: user.id, username: user.username, organizationID: nil,
                                                detail: "single sign-on from \(clientAddress): in no mapped group"), in: txn)
                return nil
            }
            let organizationID = granted.keys.sorted { $0.uuidString < $1.uuidString }.first
            let opened = sessions.newSession(for: user, organizationID: organizationID, now: now)
            try sessions.store(opened, in: txn)
            try events.record(SecurityEvent(kind: .signInSucceeded, userID: user.id, username: user.username, organizationID: organizationID,
                                            detail: "single sign-on, from \(clientAddress)"), in: txn)
            return opened.signedIn
        }
    }

    /// A claim's text when it is a non-blank string.
    static func nonEmpty(_ claim: JSONAny?) -> String? {
        guard let text = claim?.string, text.contains(where: { !$0.isWhitespace }) else { return nil }
        return text
    }

    /// The first of `name`, `name-2`, `name-3`, … that no user has.
    private func freeUsername(_ name: String, txn: borrowing WriteTransaction) throws -> String {
        for suffix in 1...1000 {
            let candidate = suffix == 1 ? name : String(name.prefix(60)) + "-\(suffix)"
            if try txn.get(accounts.users, accounts.byUsername, candidate) == nil { return candidate }
        }
        throw PortalError.conflict("no free user name near '\(name)'")
    }

    /// A user name from a claim: lowercased, characters outside `a-z0-9._-` replaced by `-`,
    /// at most 64 characters, never empty.
    static func username(from claim: String) -> String {
        let mapped = claim.lowercased().unicodeScalars.map { scalar -> Character in
            scalar.isASCII && (("a"..."z").contains(scalar) || ("0"..."9").contains(scalar) || "._-".unicodeScalars.contains(scalar)) ? Character(scalar) : "-"
        }
        let name = String(String(mapped).prefix(64))
        return name.isEmpty ? "user" : name
    }

    static func attemptKey(_ state: String) -> String { Crypto.sha256(Array(state.utf8)).hexString }

    /// A path on this portal: starts with one `/`, no scheme or host, no backslash.
    static func isLocalPath(_ path: String) -> Bool {
        path.hasPrefix("/") && !path.hasPrefix("//") && !path.contains("\\") && path.count <= 512
            && path.unicodeScalars.allSatisfy { $0.value > 0x20 && $0.value < 0x7F }
    }
}
