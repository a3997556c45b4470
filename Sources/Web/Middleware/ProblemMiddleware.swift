public import Hummingbird
import Logging

/// The one place where errors become responses. `ProblemDetails` are returned as they are;
/// Hummingbird's own `HTTPError`s (404 for unknown routes, 413 for large bodies, ...) keep their
/// status with a problem-details body; anything else is an opaque 500 whose cause is logged.
public struct ProblemMiddleware: RouterMiddleware {
    public typealias Context = PortalContext
    public init() {}

    public func handle(_ request: Request, context: Context, next: (Request, Context) async throws -> Response) async throws -> Response {
        do {
            return try await next(request, context)
        } catch {
            return Self.problem(for: error, context: context).response(path: request.uri.path, requestID: context.requestID)
        }
    }

    static func problem(for error: any Error, context: Context) -> ProblemDetails {
        switch error {
        case let problem as ProblemDetails:
            return problem
        case let httpError as HTTPError:
            // Hummingbird's messages for client errors are safe ("Not Found", "Payload Too Large").
            return ProblemDetails(httpError.status, detail: httpError.status.code < 500 ? httpError.body : nil, headers: httpError.headers)
        default:
            context.logger.error("unhandled error", metadata: ["error": "\(String(reflecting: error))"])
            return ProblemDetails(.internalServerError, detail: "An unexpected error occurred. Quote the request id when you report it.")
        }
    }
}
