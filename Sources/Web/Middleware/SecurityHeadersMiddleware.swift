public import Hummingbird

/// Adds the security headers to every response, errors included: a strict
/// Content-Security-Policy (no inline script or style, no framing), `nosniff`, a referrer
/// policy that never leaks paths to other sites, and, when the portal is served over https
/// (`server.public_url`), `Strict-Transport-Security` for a year.
public struct SecurityHeadersMiddleware: RouterMiddleware {
    public typealias Context = PortalContext

    public static let contentSecurityPolicy = [
        "default-src 'none'",
        "script-src 'self'",
        "style-src 'self'",
        "img-src 'self' data:",
        "font-src 'self'",
        "connect-src 'self'",
        "manifest-src 'self'",
        "base-uri 'none'",
        "form-action 'self'",
        "frame-ancestors 'none'",
        "report-uri /api/csp-report",
    ].joined(separator: "; ")

    let strictTransportSecurity: Bool

    public init(strictTransportSecurity: Bool = false) {
        self.strictTransportSecurity = strictTransportSecurity
    }

    public func handle(_ request: Request, context: Context, next: (Request, Context) async throws -> Response) async throws -> Response {
        var response = try await next(request, context)
        if strictTransportSecurity { response.headers[.strictTransportSecurity] = "max-age=31536000" }
        response.headers[.contentSecurityPolicy] = Self.contentSecurityPolicy
        response.headers[.xContentTypeOptions] = "nosniff"
        response.headers[.referrerPolicy] = "strict-origin-when-cross-origin"
        response.headers[.xFrameOptions] = "DENY"
        response.headers[.crossOriginOpenerPolicy] = "same-origin"
        return response
    }
}
