public import Hummingbird
import Logging
import Portal

/// Logs one line per request (and, at debug level, one when it starts): method, route (the registered pattern, not the raw path, so that
/// ids and tokens in paths never reach the log), status, duration and, when known, the
/// principal's id (never a credential). The request id comes from
/// the logger's metadata.
public struct RequestLogMiddleware: RouterMiddleware {
    public typealias Context = PortalContext
    public init() {}

    public func handle(_ request: Request, context: Context, next: (Request, Context) async throws -> Response) async throws -> Response {
        let started = ContinuousClock.now
        context.logger.debug("request started", metadata: [
            "method": .string(request.method.rawValue),
            "route": .string(context.endpointPath ?? "unmatched"),
        ])
        let response = try await next(request, context)
        var metadata: Logger.Metadata = [
            "method": .string(request.method.rawValue),
            "route": .string(context.endpointPath ?? "unmatched"),
            "status": .stringConvertible(response.status.code),
            "duration_ms": .stringConvertible(started.elapsedMilliseconds),
        ]
        if let principal = context.outcome.principalID { metadata["principal"] = .string(principal) }
        context.logger.info("request", metadata: metadata)
        return response
    }
}
