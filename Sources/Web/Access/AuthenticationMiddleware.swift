public import Hummingbird
public import Portal

/// Resolves who is calling: an API key (`Authorization: Bearer pk_…`; a wrong, expired or
/// revoked one is refused with 401 at once; other bearer tokens, like the metrics token, are
/// left to their routes) or a session cookie (`portal_session`). An unknown or expired cookie
/// leaves the request anonymous (routes that need a principal answer 401).
///
/// A cookie-authenticated request that changes state (anything but GET, HEAD, OPTIONS) is
/// refused with 403 before any route runs unless it carries the session's CSRF token in
/// `X-CSRF-Token` and comes from this portal's own pages (`SameOrigin`).
public struct AuthenticationMiddleware: RouterMiddleware {
    public typealias Context = PortalContext
    let sessions: Sessions
    let apiKeys: APIKeys
    let sameOrigin: SameOrigin
    /// MCP clients' access tokens (`Bearer mcp_at_…`), good only at `/mcp`; the public URL
    /// names the resource they must have been issued for.
    let oauth: OAuthServer?
    let publicURL: String?

    public init(sessions: Sessions, apiKeys: APIKeys, sameOrigin: SameOrigin, oauth: OAuthServer? = nil, publicURL: String? = nil) {
        self.sessions = sessions
        self.apiKeys = apiKeys
        self.sameOrigin = sameOrigin
        self.oauth = oauth
        self.publicURL = publicURL
    }

    public func handle(_ request: Request, context: Context, next: (Request, Context) async throws -> Response) async throws -> Response {
        var context = context
        if let authorization = request.headers[.authorization], authorization.hasPrefix("Bearer mcp_at_") {
            // The token's audience is the MCP endpoint: it is good there and nowhere else.
            let resource = OAuthAddress.issuer(request, publicURL: publicURL) + "/mcp"
            guard request.uri.path == "/mcp", let oauth,
                  let principal = try await oauth.principal(accessToken: String(authorization.dropFirst(7)), resource: resource) else {
                throw ProblemDetails(.unauthorized, detail: "The access token is unknown, expired or revoked, or not for this address (MCP tokens are good only at /mcp).",
                                     headers: [.wwwAuthenticate: "Bearer error=\"invalid_token\""])
            }
            context.principal = principal
            return try await next(request, context)
        }
        if let authorization = request.headers[.authorization], authorization.hasPrefix("Bearer pk_") {
            guard let principal = try await apiKeys.principal(secret: String(authorization.dropFirst(7))) else {
                throw ProblemDetails(.unauthorized, detail: "The API key is unknown, expired or revoked.", headers: [.wwwAuthenticate: "Bearer"])
            }
            context.principal = principal
            return try await next(request, context)
        }
        if let token = request.cookies[SessionCookie.name]?.value, !token.isEmpty, token.count <= 128,
           let principal = try await sessions.principal(token: token) {
            if ![.get, .head, .options].contains(request.method) {
                let sent = request.headers[.csrfToken] ?? ""
                guard let expected = principal.csrfToken, Crypto.constantTimeEqual(Array(sent.utf8), Array(expected.utf8)) else {
                    throw ProblemDetails(.forbidden, title: "CSRF token missing or wrong", detail: "Send the X-CSRF-Token from GET /api/me with requests that change state.")
                }
                try sameOrigin.check(request)
            }
            context.principal = principal
        }
        return try await next(request, context)
    }
}

/// Whether a browser request comes from the portal's own pages, from the headers browsers
/// set and pages cannot: `Sec-Fetch-Site` must be `same-origin` (or `none`, typed by the
/// person) and `Origin`, when sent, must be the portal's own — `server.public_url`'s origin
/// when it is set, else `http(s)://` plus the request's `Host`. A request with neither header
/// is not from a browser, and passes (it cannot carry a victim's cookie by accident).
public struct SameOrigin: Sendable {
    let publicOrigin: String?

    public init(publicURL: String?) {
        publicOrigin = publicURL.flatMap(Self.origin(of:))
    }

    /// `scheme://host[:port]` of an absolute URL as browsers write an `Origin`: lowercased,
    /// without the scheme's default port or a trailing dot on the host; `nil` when it is not
    /// an absolute URL.
    static func origin(of url: String) -> String? {
        guard let schemeEnd = url.firstRange(of: "://") else { return nil }
        let scheme = url[..<schemeEnd.lowerBound].lowercased()
        var authority = url[schemeEnd.upperBound...].prefix { $0 != "/" && $0 != "?" && $0 != "#" }.lowercased()
        guard !authority.isEmpty else { return nil }
        for (defaultScheme, port) in [("http", ":80"), ("https", ":443")] where scheme == defaultScheme && authority.hasSuffix(port) {
            authority.removeLast(port.count)
        }
        if authority.hasSuffix(".") { authority.removeLast() }
        return scheme + "://" + authority
    }

    /// Throws 403 unless the request may come from the portal's own pages.
    func check(_ request: Request) throws {
        if let site = request.headers[.secFetchSite], site != "same-origin" && site != "none" {
            throw Self.refusal("the request came from another site (Sec-Fetch-Site: \(site.prefix(32)))")
        }
        guard let origin = request.headers[.origin] else { return }
        guard let sent = Self.origin(of: origin) else { throw Self.refusal("the request came from \(origin.prefix(200)), not this portal") }
        if let publicOrigin {
            guard sent == publicOrigin else { throw Self.refusal("the request came from \(origin.prefix(200)), not \(publicOrigin)") }
            return
        }
        guard let host = request.head.authority, sent == Self.origin(of: "http://" + host) || sent == Self.origin(of: "https://" + host) else {
            throw Self.refusal("the request came from \(origin.prefix(200)), not this portal")
        }
    }

    static func refusal(_ reason: String) -> ProblemDetails {
        ProblemDetails(.forbidden, title: "Cross-site request refused", detail: "Only the portal's own pages may do this: \(reason).")
    }
}

/// The session cookie: HttpOnly, SameSite=Lax, Path=/, Secure when the portal is served over
/// TLS (its public URL is https).
enum SessionCookie {
    static let name = "portal_session"

    static func set(_ token: String, maxAge: Int, secure: Bool) -> String {
        "\(name)=\(token); Path=/; HttpOnly; SameSite=Lax; Max-Age=\(maxAge)" + (secure ? "; Secure" : "")
    }

    static func clear(secure: Bool) -> String {
        "\(name)=; Path=/; HttpOnly; SameSite=Lax; Max-Age=0" + (secure ? "; Secure" : "")
    }
}
