public import Hummingbird
import Prometheus

/// Counts every request by route pattern, method and status, times it, and tracks how many
/// are in flight, each until its body was written to the end. Sits outside `ProblemMiddleware`, so refusals are counted with their status.
public struct MetricsMiddleware: RouterMiddleware {
    public typealias Context = PortalContext
    let metrics: PortalMetrics

    public init(metrics: PortalMetrics) {
        self.metrics = metrics
    }

    public func handle(_ request: Request, context: Context, next: (Request, Context) async throws -> Response) async throws -> Response {
        let started = ContinuousClock.now
        metrics.inFlight.increment()
        var response: Response
        do {
            response = try await next(request, context)
        } catch {
            metrics.inFlight.decrement()
            throw error
        }
        // Timed until the body's last byte is written (a stream may stay open for minutes).
        let metrics = metrics, route = context.endpointPath ?? "unmatched", method = request.method.rawValue, status = response.status.code
        let body = response.body
        response.body = ResponseBody(contentLength: body.contentLength) { writer in
            defer {
                metrics.inFlight.decrement()
                metrics.recordRequest(route: route, method: method, status: status, duration: ContinuousClock.now - started)
            }
            try await body.write(writer)
        }
        return response
    }
}
