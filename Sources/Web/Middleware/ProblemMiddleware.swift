public import Hummingbird
import Logging
import Portal
import Vector

/// The one place where errors become responses. `ProblemDetails` are returned as they are;
/// domain errors map to their 4xx (`AccessError`, `VectorError`, `ToolError`, `PackError`); Hummingbird's own
/// `HTTPError`s (404 for unknown routes, 413 for large bodies, ...) keep their status with a
/// problem-details body; anything else is an opaque 500 whose cause is logged.
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
        case let access as AccessError:
            switch access {
            case let .invalid(detail): return ProblemDetails(.badRequest, detail: detail)
            case let .conflict(detail): return ProblemDetails(.conflict, detail: detail)
            case let .notFound(what): return ProblemDetails(.notFound, detail: "No such \(what).")
            case .unauthenticated: return ProblemDetails(.unauthorized, detail: "Sign in, or send an API key as a bearer token.")
            case let .forbidden(detail): return ProblemDetails(.forbidden, detail: detail)
            case let .throttled(seconds):
                return ProblemDetails(.tooManyRequests, detail: "Too many failed attempts; try again in \(seconds) s.", headers: [.retryAfter: String(seconds)])
            }
        case let vector as VectorError:
            switch vector {
            case .unknownCollection, .unknownID: return ProblemDetails(.notFound, detail: vector.description)
            case .collectionExists: return ProblemDetails(.conflict, detail: vector.description)
            case .wrongDimension, .notFinite, .zeroVector: return ProblemDetails(.badRequest, detail: vector.description)
            case .corruptRecord:
                context.logger.error("corrupt vector record", metadata: ["error": "\(vector)"])
                return ProblemDetails(.internalServerError, detail: "An unexpected error occurred. Quote the request id when you report it.")
            }
        case let tool as ToolError:
            switch tool {
            case .notFound: return ProblemDetails(.notFound, detail: "No such tool in this organization (or its pack is not enabled here).")
            case let .forbidden(detail): return ProblemDetails(.forbidden, detail: detail)
            case let .invalidInput(input):
                return ProblemDetails(.badRequest, title: "Invalid input", detail: input.description,
                                      fieldErrors: input.problems.map { .init(field: $0.field, message: $0.message) })
            case let .invalidTool(detail): return ProblemDetails(.unprocessableContent, detail: "The tool is misconfigured: \(detail)")
            case let .executionFailed(detail): return ProblemDetails(.badGateway, detail: detail)
            }
        case let pack as PackError:
            return ProblemDetails(.badRequest, detail: pack.description)
        case let httpError as HTTPError:
            // Hummingbird's messages for client errors are safe ("Not Found", "Payload Too Large").
            return ProblemDetails(httpError.status, detail: httpError.status.code < 500 ? httpError.body : nil, headers: httpError.headers)
        default:
            context.logger.error("unhandled error", metadata: ["error": "\(String(reflecting: error))"])
            return ProblemDetails(.internalServerError, detail: "An unexpected error occurred. Quote the request id when you report it.")
        }
    }
}
