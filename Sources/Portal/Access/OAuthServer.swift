public import FoundationEssentials
import KV

/// An application registered to sign people in through the portal (RFC 7591 dynamic client
/// registration): a public client (no secret), known by the redirect URIs it registered, each
/// https or http on loopback.
public struct OAuthClient: Codable, Sendable, Equatable {
    public var schemaVersion = 1
    public let id: String
    public let name: String
    public let redirectURIs: [String]
    public let createdAt: Date
}

/// A person's pending consent: what `/oauth/authorize` was asked, checked, waiting for the
/// person to approve or deny it (at most `OAuthServer.requestLifetime`).
public struct AuthorizationRequest: Codable, Sendable, Equatable {
    public var schemaVersion = 1
    public let id: String
    public let clientID: String
    public let redirectURI: String
    let codeChallenge: String
    public let state: String?
    /// The protected resource the tokens will be good for (RFC 8707): the MCP endpoint.
    public let resource: String
    public let expiresAt: Date
}

/// What a token request answers (RFC 6749 §5.1).
public struct TokenGrant: Codable, Sendable, Equatable {
    public let access_token: String
    public let token_type: String
    public let expires_in: Int
    public let refresh_token: String
    public let scope: String
}

/// A refusal in OAuth's terms (RFC 6749 §5.2, RFC 7591 §3.2.2): the `error` code and a
/// description for people.
public struct OAuthError: Error, Equatable, Sendable {
    public let code: String
    public let description: String
    /// 401 for a client that could not be identified, else 400.
    public var status: Int { code == "invalid_client" ? 401 : 400 }

    public init(code: String, description: String) {
        self.code = code
        self.description = description
    }

    static func invalidRequest(_ description: String) -> Self { Self(code: "invalid_request", description: description) }
    static func invalidGrant(_ description: String) -> Self { Self(code: "invalid_grant", description: description) }
    static func invalidClient(_ description: String) -> Self { Self(code: "invalid_client", description: description) }
    static func invalidTarget(_ description: String) -> Self { Self(code: "invalid_target", description: description) }
}

/// The portal as an OAuth 2.1 authorization server for MCP clients.
///
/// Guarantees: authorization code with PKCE S256 only; codes are single use and short-lived;
/// exchanging a consent's code issues an API key bound to the client (so the person and admins
/// list and revoke it with the other keys, and it acts with the lower of the person's role at
/// consent and their current role), and tokens stand for that key: access tokens live an hour and are good
/// only for the resource they were issued for; refresh tokens rotate at each use, and using
/// one that was already rotated revokes the whole grant (it was stolen). Every secret is
/// stored as its SHA-256, never in clear.
public final class OAuthServer: Sendable {
    static let accessPrefix = "mcp_at_"
    static let refreshPrefix = "mcp_rt_"
    static let codePrefix = "mcp_ac_"
    public static let accessLifetime: TimeInterval = 3600
    static let refreshLifetime: TimeInterval = 30 * 24 * 3600
    static let codeLifetime: TimeInterval = 120
    static let requestLifetime: TimeInterval = 600

    /// A consent, waiting to be exchanged: the grant's key is made only then, so a code never
    /// exchanged leaves nothing behind.
    struct IssuedCode: Codable, Sendable {
        let clientID: String
        let clientName: String
        let redirectURI: String
        let codeChallenge: String
        let resource: String
        let userID: UUID
        let organizationID: UUID
        let role: Role
        let expiresAt: Date
    }

    struct IssuedToken: Codable, Sendable {
        let keyID: UUID
        let clientID: String
        let resource: String
        let expiresAt: Date
        let refresh: Bool
        /// For a refresh token: set once it was exchanged for a new one.
        var rotatedAt: Date?
    }

    let environment: Environment
    let clients: Table<StringKey, JSONValue<OAuthClient>>
    let requests: Table<StringKey, JSONValue<AuthorizationRequest>>
    let codes: Table<StringKey, JSONValue<IssuedCode>>
    let tokens: Table<StringKey, JSONValue<IssuedToken>>
    let apiKeys: APIKeys
    let clock: any WallClock

    init(environment: Environment, apiKeys: APIKeys, clock: any WallClock) throws {
        self.environment = environment
        self.apiKeys = apiKeys
        self.clock = clock
        clients = try environment.table("oauth_clients", key: StringKey.self, value: JSONValue<OAuthClient>.self)
        // Pending requests, codes and tokens leave storage when they expire (the expiry sweep).
        requests = try environment.expiringTable("oauth_requests", key: StringKey.self, value: JSONValue<AuthorizationRequest>.self)
        codes = try environment.expiringTable("oauth_codes", key: StringKey.self, value: JSONValue<IssuedCode>.self)
        tokens = try environment.expiringTable("oauth_tokens", key: StringKey.self, value: JSONValue<IssuedToken>.self)
    }

    static func hash(_ secret: String) -> String { Crypto.sha256(Array(secret.utf8)).hexString }

    // MARK: Registration

    /// Registers a client (RFC 7591). Redirect URIs must be absolute https URLs, or http ones
    /// on loopback (native apps), without a fragment; at most 10.
    public func register(name: String, redirectURIs: [String]) async throws -> OAuthClient {
        let name = String(name.drop { $0.isWhitespace }.reversed().drop { $0.isWhitespace }.reversed())
        guard (1...100).contains(name.count) else { throw OAuthError(code: "invalid_client_metadata", description: "client_name is 1–100 characters") }
        guard (1...10).contains(redirectURIs.count) else { throw OAuthError(code: "invalid_redirect_uri", description: "send 1 to 10 redirect_uris") }
        for uri in redirectURIs where !Self.isAllowedRedirect(uri) {
            throw OAuthError(code: "invalid_redirect_uri", description: "\(uri.prefix(200)) is neither https nor http on loopback (or has a fragment)")
        }
        let client = OAuthClient(id: "oc_" + Crypto.randomBytes(16).base64URL, name: name, redirectURIs: redirectURIs, createdAt: clock.now())
        try await environment.write { [clients] txn in try txn.put(clients, client.id, client) }
        return client
    }

    static func isAllowedRedirect(_ uri: String) -> Bool {
        guard uri.count <= 2000, !uri.contains("#"), uri.allSatisfy({ $0.isASCII && !$0.isWhitespace }),
              let schemeEnd = uri.firstRange(of: "://") else { return false }
        let scheme = uri[..<schemeEnd.lowerBound].lowercased()
        let authority = uri[schemeEnd.upperBound...].prefix { $0 != "/" && $0 != "?" }.lowercased()
        guard !authority.isEmpty, !authority.contains("@") else { return false }
        if scheme == "https" { return true }
        guard scheme == "http" else { return false }
        let host = authority.hasPrefix("[") ? String(authority.dropFirst().prefix { $0 != "]" }) : String(authority.prefix { $0 != ":" })
        return host == "localhost" || host == "::1" || (host.hasPrefix("127.") && host.split(separator: ".").count == 4)
    }

    public func client(_ id: String) throws -> OAuthClient? {
        guard id.count <= 64 else { return nil }
        return try environment.read { txn in try txn.get(clients, id) }
    }

    // MARK: Authorization

    /// Checks an authorization request and keeps it for the person's consent. Throws
    /// `OAuthError` with `redirectable` false for a client or redirect URI that cannot be
    /// trusted (the caller shows the error instead of redirecting).
    public func begin(clientID: String, redirectURI: String, codeChallenge: String?, challengeMethod: String?, state: String?,
                      resource: String?, expectedResource: String) async throws -> AuthorizationRequest {
        guard let client = try client(clientID) else { throw OAuthError.invalidClient("unknown client_id") }
        guard client.redirectURIs.contains(redirectURI) else { throw OAuthError.invalidRequest("redirect_uri is not one the client registered") }
        guard let codeChallenge, challengeMethod == "S256", codeChallenge.count == 43, [UInt8](base64URL: codeChallenge) != nil else {
            throw OAuthError.invalidRequest("PKCE is required: code_challenge (43 characters, base64url) with code_challenge_method=S256")
        }
        if let resource, resource != expectedResource { throw OAuthError.invalidTarget("resource must be \(expectedResource)") }
        let request = AuthorizationRequest(id: "ar_" + Crypto.randomBytes(16).base64URL, clientID: clientID, redirectURI: redirectURI,
                                           codeChallenge: codeChallenge, state: state.map { String($0.prefix(500)) },
                                           resource: expectedResource, expiresAt: clock.now().addingTimeInterval(Self.requestLifetime))
        try await environment.write { [requests] txn in try txn.put(requests, request.id, request, expiresAt: request.expiresAt) }
        return request
    }

    /// A request still waiting for consent, with its client.
    public func pending(_ id: String) throws -> (request: AuthorizationRequest, client: OAuthClient)? {
        guard id.count <= 64 else { return nil }
        return try environment.read { txn in
            guard let request = try txn.get(requests, id), request.expiresAt > clock.now(), let client = try txn.get(clients, request.clientID) else { return nil }
            return (request, client)
        }
    }

    /// The person's decision on a pending request; returns where to send the browser: the
    /// client's redirect URI with a code (approved) or `error=access_denied`, and the state.
    /// An approval is for the person's current organization, with their role there.
    public func decide(_ requestID: String, approve: Bool, by principal: Principal, issuer: String) async throws -> String {
        guard principal.apiKeyID == nil else { throw PortalError.forbidden("sign in to approve an application; an API key cannot") }
        let organizationID = principal.organizationID, role = principal.user.isAdministrator ? Role.admin : principal.role
        if approve, organizationID == nil || role == nil { throw PortalError.invalid("choose an organization first") }
        let code = Self.codePrefix + Crypto.randomBytes(32).base64URL, now = clock.now()
        // Answered once: the request is read and removed, and the code stored, in one transaction.
        let request = try await environment.write { [requests, clients, codes] txn -> AuthorizationRequest in
            guard requestID.count <= 64, let request = try txn.get(requests, requestID), request.expiresAt > now,
                  let client = try txn.get(clients, request.clientID) else { throw PortalError.notFound("authorization request") }
            _ = try txn.delete(requests, requestID)
            if approve, let organizationID, let role {
                let issued = IssuedCode(clientID: client.id, clientName: client.name, redirectURI: request.redirectURI, codeChallenge: request.codeChallenge,
                                        resource: request.resource, userID: principal.user.id, organizationID: organizationID, role: role,
                                        expiresAt: now.addingTimeInterval(Self.codeLifetime))
                try txn.put(codes, Self.hash(code), issued, expiresAt: issued.expiresAt)
            }
            return request
        }
        var parameters = [approve ? ("code", code) : ("error", "access_denied")]
        if let state = request.state { parameters.append(("state", state)) }
        parameters.append(("iss", issuer))
        return Self.appending(parameters, to: request.redirectURI)
    }

    /// `uri` with `parameters` added to its query, percent-encoded.
    public static func appending(_ parameters: [(String, String)], to uri: String) -> String {
        let query = parameters.map { "\($0.0)=\(OutboundHTTP.formEncode($0.1))" }.joined(separator: "&")
        return uri + (uri.contains("?") ? "&" : "?") + query
    }

    // MARK: Tokens

    /// Exchanges an authorization code (single use) for tokens, checking the PKCE verifier,
    /// the client, the redirect URI and the resource against the authorization's.
    public func exchange(code: String, verifier: String, clientID: String, redirectURI: String, resource: String?) async throws -> TokenGrant {
        // Unreserved characters only: exactly those form encoding leaves as they are.
        guard (43...128).contains(verifier.count), OutboundHTTP.formEncode(verifier) == verifier else {
            throw OAuthError.invalidRequest("code_verifier is 43–128 unreserved characters")
        }
        let hash = Self.hash(code)
        let issued: IssuedCode? = try await environment.write { [codes] txn in
            guard let issued = try txn.get(codes, hash) else { return nil }
            _ = try txn.delete(codes, hash)  // single use, whatever the outcome
            return issued
        }
        guard let issued, issued.expiresAt > clock.now() else { throw OAuthError.invalidGrant("the code is unknown, used or expired") }
        guard issued.clientID == clientID, issued.redirectURI == redirectURI else { throw OAuthError.invalidGrant("the code was issued to another client or redirect_uri") }
        guard Crypto.sha256(Array(verifier.utf8)).base64URL == issued.codeChallenge else { throw OAuthError.invalidGrant("code_verifier does not match the code_challenge") }
        if let resource, resource != issued.resource { throw OAuthError.invalidTarget("resource must be \(issued.resource)") }
        let key = try await apiKeys.createForClient(userID: issued.userID, name: "\(issued.clientName) (MCP sign-in)", organizationID: issued.organizationID,
                                                    role: issued.role, clientID: clientID)
        return try await issueTokens(keyID: key.id, clientID: clientID, resource: issued.resource)
    }

    /// Exchanges a refresh token for new tokens; the old one stops working. A refresh token
    /// used a second time revokes the grant (its key), since one of its holders stole it.
    public func refresh(token: String, clientID: String) async throws -> TokenGrant {
        let hash = Self.hash(token), now = clock.now()
        enum Outcome: Sendable { case rotated(IssuedToken), unknown, reused(UUID) }
        let outcome: Outcome = try await environment.write { [tokens] txn in
            guard var issued = try txn.get(tokens, hash), issued.refresh, issued.clientID == clientID, issued.expiresAt > now else { return .unknown }
            guard issued.rotatedAt == nil else { return .reused(issued.keyID) }
            issued.rotatedAt = now
            try txn.put(tokens, hash, issued, expiresAt: issued.expiresAt)
            return .rotated(issued)
        }
        switch outcome {
        case .unknown:
            throw OAuthError.invalidGrant("the refresh token is unknown or expired")
        case let .reused(keyID):
            try await apiKeys.revokeForClient(keyID, reason: "a refresh token was used twice")
            throw OAuthError.invalidGrant("the refresh token was already used: the grant is revoked")
        case let .rotated(issued):
            guard try await apiKeys.principal(keyID: issued.keyID) != nil else { throw OAuthError.invalidGrant("the grant was revoked") }
            return try await issueTokens(keyID: issued.keyID, clientID: clientID, resource: issued.resource)
        }
    }

    private func issueTokens(keyID: UUID, clientID: String, resource: String) async throws -> TokenGrant {
        let now = clock.now()
        let access = Self.accessPrefix + Crypto.randomBytes(32).base64URL, refresh = Self.refreshPrefix + Crypto.randomBytes(32).base64URL
        let accessExpiry = now.addingTimeInterval(Self.accessLifetime), refreshExpiry = now.addingTimeInterval(Self.refreshLifetime)
        try await environment.write { [tokens] txn in
            try txn.put(tokens, Self.hash(access), IssuedToken(keyID: keyID, clientID: clientID, resource: resource, expiresAt: accessExpiry, refresh: false, rotatedAt: nil),
                        expiresAt: accessExpiry)
            try txn.put(tokens, Self.hash(refresh), IssuedToken(keyID: keyID, clientID: clientID, resource: resource, expiresAt: refreshExpiry, refresh: true, rotatedAt: nil),
                        expiresAt: refreshExpiry)
        }
        return TokenGrant(access_token: access, token_type: "Bearer", expires_in: Int(Self.accessLifetime), refresh_token: refresh, scope: "mcp")
    }

    /// Revokes a token (RFC 7009): an access or refresh token stops working; revoking a refresh
    /// token revokes the grant. Unknown tokens are not an error.
    public func revoke(token: String) async throws {
        let hash = Self.hash(token)
        guard let issued = try environment.read({ txn in try txn.get(tokens, hash) }) else { return }
        try await environment.write { [tokens] txn in _ = try txn.delete(tokens, hash) }
        if issued.refresh { try await apiKeys.revokeForClient(issued.keyID, reason: "the client revoked its refresh token") }
    }

    /// Who an access token acts for, when it is live, was issued for `resource` and its grant
    /// (key) stands; else `nil`.
    public func principal(accessToken: String, resource: String) async throws -> Principal? {
        guard accessToken.hasPrefix(Self.accessPrefix), accessToken.count <= 128 else { return nil }
        guard let issued = try environment.read({ txn in try txn.get(tokens, Self.hash(accessToken)) }),
              !issued.refresh, issued.expiresAt > clock.now(), issued.resource == resource else { return nil }
        return try await apiKeys.principal(keyID: issued.keyID)
    }
}
