public import Hummingbird
import Prometheus

/// Counts every request by route pattern, method and status, times it, and tracks how many
/// are in flight. Sits outside `ProblemMiddleware`, so refusals are counted with their status.
public struct MetricsMiddleware: RouterMiddleware {
    public typealias Context = PortalContext
    let metrics: PortalMetrics

    public init(metrics: PortalMetrics) {
        self.metrics = metrics
    }

    public func handle(_ request: Request, context: Context, next: (Request, Context) async throws -> Response) async throws -> Response {
        let started = ContinuousClock.now
        metrics.inFlight.increment()
        defer { metrics.inFlight.decrement() }
        let response = try await next(request, context)
        metrics.recordRequest(route: context.endpointPath ?? "unmatched", method: request.method.rawValue, status: response.status.code, duration: ContinuousClock.now - started)
        return response
    }
}
