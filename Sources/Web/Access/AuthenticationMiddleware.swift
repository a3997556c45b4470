public import Hummingbird
public import Portal

/// Resolves who is calling: an API key (`Authorization: Bearer pk_…`; a wrong or revoked
/// one is refused with 401 at once; other bearer tokens, like the metrics token, are left to
/// their routes) or a session cookie (`portal_session`). A cookie-authenticated
/// request that changes state (anything but GET, HEAD, OPTIONS) must carry the session's
/// CSRF token in `X-CSRF-Token`, or it is refused with 403 before any route runs. An unknown
/// or expired cookie leaves the request anonymous (routes that need a principal answer 401).
public struct AuthenticationMiddleware: RouterMiddleware {
    public typealias Context = PortalContext
    let sessions: Sessions
    let apiKeys: APIKeys

    public init(sessions: Sessions, apiKeys: APIKeys) {
        self.sessions = sessions
        self.apiKeys = apiKeys
    }

    public func handle(_ request: Request, context: Context, next: (Request, Context) async throws -> Response) async throws -> Response {
        var context = context
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
            }
            context.principal = principal
        }
        return try await next(request, context)
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
