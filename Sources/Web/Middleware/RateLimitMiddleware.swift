public import Hummingbird
import Prometheus
public import Portal

/// Refuses requests over budget with 429, `Retry-After` and the `RateLimit-*` headers
/// (draft-ietf-httpapi-ratelimit-headers); answers within budget carry the headers too.
///
/// It runs twice around authentication: the `.address` stage, before it, takes a token from
/// the client address's bucket (an IPv6 client's /64) — so requests with unknown API keys or cookies are paid for
/// before they are looked up — and the `.principal` stage, after it, from the authenticated
/// principal's. The class is the one the route's spec states (`RouteDoc.rate`: sign-in, single
/// sign-on, tool runs, exempt for probes and metrics), else reads or writes by method.
public struct RateLimitMiddleware: RouterMiddleware {
    public typealias Context = PortalContext

    public enum Stage: Sendable {
        /// Before authentication: the client address's bucket.
        case address
        /// After authentication: the principal's bucket, when there is one.
        case principal
    }

    let limiter: RateLimiter
    let metrics: PortalMetrics
    let routes: RouteTable
    let stage: Stage

    public init(limiter: RateLimiter, metrics: PortalMetrics, routes: RouteTable, stage: Stage) {
        self.limiter = limiter
        self.metrics = metrics
        self.routes = routes
        self.stage = stage
    }

    public func handle(_ request: Request, context: Context, next: (Request, Context) async throws -> Response) async throws -> Response {
        // Looked up once, at the address stage, for both.
        var context = context
        let rule = context.rateRule ?? routes.rate(for: request)
        context.rateRule = rule
        guard case let .limited(rateClass) = rule else { return try await next(request, context) }
        let decision: RateDecision
        switch stage {
        case .address:
            decision = limiter.take(rateClass, subject: "ip:" + NetworkRange.subject(context.clientAddress))
        case .principal:
            guard let principal = context.principal else { return try await next(request, context) }
            decision = limiter.take(rateClass, subject: principal.id)
        }
        var headers: HTTPFields = [
            .rateLimitLimit: String(decision.limit),
            .rateLimitRemaining: String(decision.remaining),
            .rateLimitReset: String(decision.retryAfter),
        ]
        if !decision.allowed {
            headers[.retryAfter] = String(decision.retryAfter)
            headers[.rateLimitRemaining] = "0"
            metrics.rateLimited.increment()
            throw ProblemDetails(.tooManyRequests, detail: "Too many \(rateClass.rawValue) requests; retry after \(decision.retryAfter) s.", headers: headers)
        }
        // The stage closer to the route ran last; the budget with fewer tokens left is the one
        // the headers report.
        do {
            var response = try await next(request, context)
            Self.report(headers, decision, into: &response.headers)
            return response
        } catch let problem as ProblemDetails {
            // Refusals further in (401, 403, 404, ...) carry the budget too.
            var merged = problem.headers
            Self.report(headers, decision, into: &merged)
            throw problem.replacingHeaders(merged)
        }
    }

    /// Puts `headers` into `fields` unless they already report a budget with fewer tokens left.
    static func report(_ headers: HTTPFields, _ decision: RateDecision, into fields: inout HTTPFields) {
        if let reported = fields[.rateLimitRemaining].flatMap(Int.init), reported <= decision.remaining { return }
        for field in headers { fields[field.name] = field.value }
    }
}
