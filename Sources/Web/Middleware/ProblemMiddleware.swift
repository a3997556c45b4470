public import Hummingbird
import Logging
import NIOCore
import Portal

/// The one place where errors become responses. `ProblemDetails` are returned as they are;
/// the domain's `PortalError` (and the narrower errors that convert to it) maps to its status
/// in `problem(for:)`; Hummingbird's own
/// `HTTPError`s (404 for unknown routes, 413 for large bodies, ...) keep their status with a
/// problem-details body; anything else is an opaque 500 whose cause is logged.
public struct ProblemMiddleware: RouterMiddleware {
    public typealias Context = PortalContext
    let routes: RouteTable
    /// `server.public_url`, for the OAuth challenge of a protected resource's 401.
    let publicURL: String?

    public init(routes: RouteTable, publicURL: String? = nil) {
        self.routes = routes
        self.publicURL = publicURL
    }

    public func handle(_ request: Request, context: Context, next: (Request, Context) async throws -> Response) async throws -> Response {
        do {
            return try await next(request, context)
        } catch let error as HTTPError where error.status == .notFound {
            // No route for this method; if the path is served with others, that is a 405.
            let served = routes.routes(matching: request.uri.path)
            guard !served.isEmpty, !served.contains(where: { $0.method == request.method }) else {
                return Self.problem(for: error, context: context).response(path: request.uri.path, requestID: context.requestID)
            }
            let methods = Set(served.map(\.method.rawValue))
            let allow = (methods.contains("GET") ? methods.union(["HEAD"]) : methods).sorted().joined(separator: ", ")
            return ProblemDetails(.methodNotAllowed, detail: "\(request.method.rawValue) is not supported here; use \(allow).", headers: [.allow: allow])
                .response(path: request.uri.path, requestID: context.requestID)
        } catch {
            let problem = Self.problem(for: error, context: context)
            var response = problem.response(path: request.uri.path, requestID: context.requestID)
            if problem.status == .unauthorized, routes.routes(matching: request.uri.path).contains(where: \.doc.oauthResource) {
                response.headers[.wwwAuthenticate] = OAuthAddress.challenge(request, publicURL: publicURL)
            }
            if problem.status == .contentTooLarge {
                // The client may still be sending the body: close the connection once the answer
                // is written, rather than read (or wait for) the rest.
                let body = response.body, channel = context.channel
                response.headers[.connection] = "close"
                response.body = ResponseBody(contentLength: body.contentLength) { writer in
                    try await body.write(writer)
                    channel.close(promise: nil)
                }
            }
            return response
        }
    }

    static func problem(for error: any Error, context: Context) -> ProblemDetails {
        switch error {
        case let problem as ProblemDetails:
            return problem
        case let portal as PortalError:
            return problem(for: portal)
        case let convertible as any PortalErrorConvertible:
            if let portal = convertible.portalError { return problem(for: portal) }
            context.logger.error("internal fault", metadata: ["error": "\(String(reflecting: error))"])
            return unexpected
        case let httpError as HTTPError:
            // Hummingbird's messages for client errors are safe ("Not Found", "Payload Too Large").
            return ProblemDetails(httpError.status, detail: httpError.status.code < 500 ? httpError.body : nil, headers: httpError.headers)
        default:
            context.logger.error("unhandled error", metadata: ["error": "\(String(reflecting: error))"])
            return unexpected
        }
    }

    static let unexpected = ProblemDetails(.internalServerError, detail: "An unexpected error occurred. Quote the request id when you report it.")

    /// The one mapping of the domain's errors to HTTP.
    static func problem(for error: PortalError) -> ProblemDetails {
        switch error {
        case let .invalid(detail): ProblemDetails(.badRequest, detail: detail)
        case let .invalidInput(input):
            ProblemDetails(.badRequest, title: "Invalid input", detail: input.description, fieldErrors: input.problems.map { .init(field: $0.field, message: $0.message) })
        case .unauthenticated: ProblemDetails(.unauthorized, detail: "Sign in, or send an API key as a bearer token.")
        case let .forbidden(detail): ProblemDetails(.forbidden, detail: detail)
        case let .notFound(what): ProblemDetails(.notFound, detail: "No such \(what).")
        case let .conflict(detail): ProblemDetails(.conflict, detail: detail)
        case let .unprocessable(detail): ProblemDetails(.unprocessableContent, detail: detail)
        case let .tooLarge(detail): ProblemDetails(.contentTooLarge, detail: detail)
        case let .throttled(seconds):
            ProblemDetails(.tooManyRequests, detail: "Too many failed attempts; try again in \(seconds) s.", headers: [.retryAfter: String(seconds)])
        case let .upstreamFailed(detail): ProblemDetails(.badGateway, detail: detail)
        case let .unavailable(detail): ProblemDetails(.serviceUnavailable, detail: detail)
        }
    }
}
