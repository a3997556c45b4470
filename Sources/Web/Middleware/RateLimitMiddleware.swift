public import Hummingbird
import Prometheus
public import Portal

/// Refuses requests over budget with 429, `Retry-After` and the `RateLimit-*` headers
/// (draft-ietf-httpapi-ratelimit-headers); answers within budget carry the headers too.
/// Every request draws from its client address's bucket and, when authenticated, from its
/// principal's, in the class of the route: sign-in, tool runs, other writes, reads. Health
/// probes and metrics are exempt.
public struct RateLimitMiddleware: RouterMiddleware {
    public typealias Context = PortalContext
    let limiter: RateLimiter
    let metrics: PortalMetrics

    public init(limiter: RateLimiter, metrics: PortalMetrics) {
        self.limiter = limiter
        self.metrics = metrics
    }

    static func rateClass(_ request: Request) -> RateClass? {
        let path = request.uri.path
        if path == "/healthz" || path == "/readyz" || path == "/metrics" { return nil }
        if request.method == .post && path == "/api/auth/login" { return .signIn }
        // The callback is where single sign-on does its work (a token exchange); starting
        // one stores an attempt, so it counts as a write.
        if path == "/api/auth/oidc/callback" { return .signIn }
        if path == "/api/auth/oidc/login" { return .write }
        if request.method == .post && path.hasPrefix("/api/tools/") && path.hasSuffix("/runs") { return .toolRun }
        return [.get, .head, .options].contains(request.method) ? .read : .write
    }

    public func handle(_ request: Request, context: Context, next: (Request, Context) async throws -> Response) async throws -> Response {
        guard let rateClass = Self.rateClass(request) else { return try await next(request, context) }
        var decisions = [limiter.take(rateClass, subject: "ip:" + context.clientAddress)]
        if let principal = context.principal {
            decisions.append(limiter.take(rateClass, subject: principal.id))
        }
        let binding = decisions.min { $0.remaining < $1.remaining }!
        var headers: HTTPFields = [
            .rateLimitLimit: String(binding.limit),
            .rateLimitRemaining: String(binding.remaining),
            .rateLimitReset: String(binding.retryAfter),
        ]
        if let refused = decisions.filter({ !$0.allowed }).max(by: { $0.retryAfter < $1.retryAfter }) {
            headers[.retryAfter] = String(refused.retryAfter)
            headers[.rateLimitReset] = String(refused.retryAfter)
            headers[.rateLimitRemaining] = "0"
            metrics.rateLimited.increment()
            throw ProblemDetails(.tooManyRequests, detail: "Too many \(rateClass.rawValue) requests; retry after \(refused.retryAfter) s.", headers: headers)
        }
        do {
            var response = try await next(request, context)
            response.headers.append(contentsOf: headers)
            return response
        } catch let problem as ProblemDetails {
            // Refusals further in (401, 403, 404, ...) carry the budget too.
            throw problem.adding(headers)
        }
    }
}
