import FoundationEssentials
import Synchronization

/// One OpenID Connect provider as the portal talks to it: discovery, the JWKS, the token
/// endpoint, and ID-token validation (OpenID Connect Core §3.1.3.7).
///
/// Guarantees: the discovered issuer must equal the configured one and every endpoint must be
/// https (plain http only on loopback); the provider's documents are cached for an hour, and
/// the JWKS is fetched again when a token names a key it does not hold (key rotation).
final class OpenIDProvider: Sendable {
    let issuer: String
    let http: OutboundHTTP
    private let cache = Mutex(Cache())
    static let cacheLifetime: TimeInterval = 3600
    /// Tolerated clock difference with the provider.
    static let clockSkew: TimeInterval = 60

    struct Metadata: Decodable, Sendable {
        let issuer: String
        let authorization_endpoint: String
        let token_endpoint: String
        let jwks_uri: String
        let userinfo_endpoint: String?
        let code_challenge_methods_supported: [String]?
        let token_endpoint_auth_methods_supported: [String]?
    }

    private struct Cache {
        var metadata: (Metadata, fetchedAt: Date)?
        var keys: ([VerificationKey], fetchedAt: Date)?
    }

    init(issuer: String, http: OutboundHTTP) {
        self.issuer = issuer
        self.http = http
    }

    /// The provider's metadata, from the cache or discovery.
    func metadata(now: Date = Date()) async throws(SingleSignOnError) -> Metadata {
        if let (metadata, fetchedAt) = cache.withLock({ $0.metadata }), now.timeIntervalSince(fetchedAt) < Self.cacheLifetime { return metadata }
        let url = (issuer.hasSuffix("/") ? String(issuer.dropLast()) : issuer) + "/.well-known/openid-configuration"
        let metadata: Metadata = try await fetchJSON(url, what: "discovery document")
        guard metadata.issuer == issuer else {
            throw .provider("the discovery document names issuer \(metadata.issuer), not the configured \(issuer)")
        }
        for endpoint in [metadata.authorization_endpoint, metadata.token_endpoint, metadata.jwks_uri] + [metadata.userinfo_endpoint].compactMap({ $0 }) {
            guard let url = URL(string: endpoint), let host = url.host,
                  url.scheme == "https" || (url.scheme == "http" && SingleSignOnSettings.isLoopback(host))
            else { throw .provider("the provider's endpoint \(endpoint) is not an https URL") }
        }
        if let methods = metadata.code_challenge_methods_supported, !methods.contains("S256") {
            throw .provider("the provider does not support PKCE with S256")
        }
        cache.withLock { $0.metadata = (metadata, now) }
        return metadata
    }

    /// What the token endpoint gave: the raw ID token, and the access token for the userinfo
    /// endpoint when there is one.
    struct Tokens: Sendable {
        let idToken: String
        let accessToken: String?
    }

    /// Exchanges an authorization code for the tokens. With a client secret the client
    /// authenticates with HTTP Basic (or in the body when the provider supports only that).
    func exchange(code: String, redirectURI: String, codeVerifier: String, clientID: String, clientSecret: String?) async throws(SingleSignOnError) -> Tokens {
        let metadata = try await metadata()
        var fields = [("grant_type", "authorization_code"), ("code", code), ("redirect_uri", redirectURI), ("code_verifier", codeVerifier)]
        var headers: [(String, String)] = []
        let methods = metadata.token_endpoint_auth_methods_supported ?? ["client_secret_basic"]
        if let clientSecret, !methods.contains("client_secret_basic"), methods.contains("client_secret_post") {
            fields += [("client_id", clientID), ("client_secret", clientSecret)]
        } else if let clientSecret {
            let credentials = OutboundHTTP.formEncode(clientID) + ":" + OutboundHTTP.formEncode(clientSecret)
            headers.append(("Authorization", "Basic " + Self.base64(Array(credentials.utf8))))
        } else {
            fields.append(("client_id", clientID))
        }
        let response: OutboundHTTP.Response
        do {
            response = try await http.postForm(metadata.token_endpoint, fields, headers: headers)
        } catch {
            throw .provider(error.description)
        }
        struct TokenResponse: Decodable {
            let id_token: String?
            let access_token: String?
            let error: String?
            let error_description: String?
        }
        let body = try? JSONDecoder().decode(TokenResponse.self, from: Data(response.body))
        guard response.status == 200 else {
            let reason = [body?.error, body?.error_description].compactMap { $0 }.joined(separator: ": ")
            throw .provider("the token endpoint answered \(response.status)\(reason.isEmpty ? "" : " (\(reason.prefix(200)))")")
        }
        guard let idToken = body?.id_token else { throw .provider("the token endpoint's answer has no id_token") }
        return Tokens(idToken: idToken, accessToken: body?.access_token)
    }

    /// The claims of the userinfo endpoint (OpenID Connect Core §5.3), for providers that put
    /// profile claims there and not in the ID token (§5.4). Its `sub` must be the ID token's
    /// (§5.3.2), else the answer is someone else's and is refused. `nil` when the provider has
    /// no userinfo endpoint.
    func userInfo(accessToken: String, subject: String) async throws(SingleSignOnError) -> [String: JSONAny]? {
        guard let endpoint = try await metadata().userinfo_endpoint else { return nil }
        let response: OutboundHTTP.Response
        do {
            response = try await http.send(url: endpoint, method: "GET", headers: [("Authorization", "Bearer " + accessToken), ("Accept", "application/json")], body: nil)
        } catch {
            throw .provider(error.description)
        }
        guard response.status == 200 else { throw .provider("the provider's userinfo endpoint answered \(response.status)") }
        guard let claims = JSONAny(json: response.body)?.object else { throw .provider("the provider's userinfo answer is not a JSON object") }
        guard claims["sub"]?.string == subject else { throw .rejected("the userinfo answer is about another subject than the ID token") }
        return claims
    }

    /// Verifies the ID token's signature against the JWKS and its claims against this sign-in;
    /// returns the claims.
    func validate(idToken: String, clientID: String, nonce: String, now: Date = Date()) async throws(SingleSignOnError) -> [String: JSONAny] {
        let token: JSONWebToken
        do { token = try JSONWebToken(compact: idToken) } catch { throw .rejected(error.description) }
        var key = try await signingKey(for: token, refresh: false, now: now)
        if key == nil { key = try await signingKey(for: token, refresh: true, now: now) }
        guard let key else { throw .rejected(TokenError.unknownKey(token.keyID).description) }
        guard token.isSigned(by: key) else { throw .rejected(TokenError.badSignature.description) }
        do {
            try Self.checkClaims(token.claims, issuer: issuer, clientID: clientID, nonce: nonce, now: now)
        } catch {
            throw .rejected(error.description)
        }
        return token.claims
    }

    /// The ID-token claim checks of OpenID Connect Core §3.1.3.7 that do not need the key.
    static func checkClaims(_ claims: [String: JSONAny], issuer: String, clientID: String, nonce: String, now: Date) throws(TokenError) {
        guard claims["iss"]?.string == issuer else { throw .claim("iss is not the configured issuer") }
        guard let audiences = claims["aud"]?.strings, audiences.contains(clientID) else { throw .claim("aud does not include this client") }
        if let party = claims["azp"] {
            guard party.string == clientID else { throw .claim("azp is another client") }
        } else if audiences.count > 1 {
            throw .claim("several audiences and no azp")
        }
        guard let expiry = claims["exp"]?.number else { throw .claim("exp is missing") }
        guard now.timeIntervalSince1970 < expiry + clockSkew else { throw .claim("the token has expired") }
        guard let issuedAt = claims["iat"]?.number else { throw .claim("iat is missing") }
        guard issuedAt <= now.timeIntervalSince1970 + clockSkew else { throw .claim("iat is in the future") }
        if let notBefore = claims["nbf"]?.number, notBefore > now.timeIntervalSince1970 + clockSkew { throw .claim("the token is not valid yet (nbf)") }
        guard let tokenNonce = claims["nonce"]?.string,
              Crypto.constantTimeEqual(Array(tokenNonce.utf8), Array(nonce.utf8))
        else { throw .claim("nonce does not match this sign-in") }
        guard let subject = claims["sub"]?.string, !subject.isEmpty, subject.utf8.count <= 255 else { throw .claim("sub is missing or too long") }
    }

    /// The JWKS key for the token: by `kid`, or the only key of the token's algorithm when the
    /// token names none. `refresh` fetches the JWKS again first.
    private func signingKey(for token: JSONWebToken, refresh: Bool, now: Date) async throws(SingleSignOnError) -> VerificationKey? {
        let keys: [VerificationKey]
        if !refresh, let (cached, fetchedAt) = cache.withLock({ $0.keys }), now.timeIntervalSince(fetchedAt) < Self.cacheLifetime {
            keys = cached
        } else {
            let metadata = try await metadata(now: now)
            struct KeySet: Decodable { let keys: [VerificationKey.JWK] }
            let set: KeySet = try await fetchJSON(metadata.jwks_uri, what: "JWKS")
            // Keys for encryption, or of kinds this portal does not verify, are skipped.
            keys = set.keys.filter { $0.use == nil || $0.use == "sig" }.compactMap { try? VerificationKey(jwk: $0) }
            cache.withLock { $0.keys = (keys, now) }
        }
        let candidates = keys.filter { $0.algorithm == token.algorithm }
        if let kid = token.keyID { return candidates.first { $0.keyID == kid } }
        return candidates.count == 1 ? candidates[0] : nil
    }

    private func fetchJSON<T: Decodable>(_ url: String, what: String) async throws(SingleSignOnError) -> T {
        let response: OutboundHTTP.Response
        do { response = try await http.get(url) } catch { throw .provider(error.description) }
        guard response.status == 200 else { throw .provider("the provider's \(what) answered \(response.status)") }
        do {
            return try JSONDecoder().decode(T.self, from: Data(response.body))
        } catch {
            throw .provider("the provider's \(what) is not valid JSON of the expected shape")
        }
    }

    /// Standard base64 (with padding), for HTTP Basic credentials.
    static func base64(_ bytes: [UInt8]) -> String {
        var encoded = bytes.base64URL.replacing("-", with: "+").replacing("_", with: "/")
        while encoded.count % 4 != 0 { encoded += "=" }
        return encoded
    }
}

/// Why a single sign-on did not complete. Messages are safe to show to the person signing in:
/// they name the failed check, never a token, code or secret.
public enum SingleSignOnError: Error, Equatable, Sendable, CustomStringConvertible {
    /// Single sign-on is not configured or is turned off.
    case notConfigured
    /// The browser's request does not belong to a sign-in in progress (expired, replayed, or
    /// from another browser).
    case invalidRequest(String)
    /// The provider could not be used: unreachable, or an answer that breaks the protocol.
    case provider(String)
    /// The provider answered, and the answer does not let this person in.
    case rejected(String)

    public var description: String {
        switch self {
        case .notConfigured: "Single sign-on is not configured."
        case let .invalidRequest(reason): reason
        case let .provider(reason): "The identity provider could not be used: \(reason)."
        case let .rejected(reason): "Single sign-on refused: \(reason)."
        }
    }
}
