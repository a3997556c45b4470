public import Hummingbird
import FoundationEssentials
public import Portal

/// What a route requires of the caller. Every route states one when it is registered
/// (`PortalRoutes`), so that no route can be added without deciding who may call it.
public enum Access: Sendable, Equatable {
    /// Anyone: health, sign-in, static assets.
    case `public`
    /// Any signed-in principal.
    case authenticated
    /// A principal whose role in its current organization grants the permission.
    case permission(Permission)
    /// A system administrator (portal-wide changes, such as creating organizations).
    case systemAdministrator

    /// Throws 401 without a principal and 403 without the permission.
    func check(_ context: PortalContext) throws {
        guard self != .public else { return }
        guard let principal = context.principal else {
            throw ProblemDetails(.unauthorized, detail: "Sign in, or send an API key as a bearer token.", headers: [.wwwAuthenticate: "Bearer"])
        }
        if case let .permission(permission) = self, !principal.has(permission) {
            throw ProblemDetails(.forbidden, detail: "This needs the \(permission.rawValue) permission in the current organization.")
        }
        if self == .systemAdministrator, !principal.user.isAdministrator {
            throw ProblemDetails(.forbidden, detail: "Only system administrators may do this.")
        }
    }
}

/// The router seen by route groups: registering a route requires its `Access` and its
/// `RouteDoc`, so no route can be added without deciding who may call it and describing it.
/// The access rule is checked before the handler runs; the spec is recorded in `table` (the
/// access tests' list, the rate limiter's classes, the OpenAPI document). Used while the
/// server is being set up, on one thread.
public final class PortalRoutes {
    public let router: Router<PortalContext>
    public let table: RouteTable
    /// Where creations sent with an `Idempotency-Key` keep their first answer.
    let idempotency: IdempotencyKeys?
    /// The tag of the routes being registered (one per route group).
    var tag = "Portal"
    /// Whether the group being registered is part of the stable API: each of its `/api/…`
    /// routes is served at `/api/v1/…` too, with the same handler.
    var publishesStable = false

    init(router: Router<PortalContext>, table: RouteTable, idempotency: IdempotencyKeys?) {
        self.router = router
        self.table = table
        self.idempotency = idempotency
    }

    /// Every route registered so far, in order.
    public var all: [RouteSpec] { table.all }

    /// What a person who must change their one-time password may still do.
    static let allowedBeforePasswordChange: Set<String> = ["GET /api/me", "POST /api/me/password", "POST /api/auth/logout"]

    /// Registers the routes `add` adds under `tag`; with `stable`, in API v1 too.
    func group(_ tag: String, stable: Bool = false, _ add: () -> Void) {
        self.tag = tag
        publishesStable = stable
        add()
        publishesStable = false
    }

    /// Registers a route. In a stable group, an `/api/…` route (unless `doc.webOnly`) is
    /// registered at `/api/v1/…` as well: one handler, one behaviour, two addresses (the web
    /// client's and the versioned one). The API's conventions (`APIConventions`) apply to both.
    public func on(
        _ method: HTTPRequest.Method, _ path: String, _ access: Access, _ doc: RouteDoc,
        _ handler: @escaping @Sendable (Request, PortalContext) async throws -> Response
    ) {
        let handle = guarded(method, path, access, doc, handler)
        register(RouteSpec(method: method, path: path, access: access, tag: tag, doc: doc, stable: path.hasPrefix(APIConventions.stablePrefix)), handle)
        if publishesStable, !doc.webOnly, path.hasPrefix("/api/"), !path.hasPrefix(APIConventions.stablePrefix) {
            register(RouteSpec(method: method, path: APIConventions.stablePath(path), access: access, tag: tag, doc: doc, stable: true), handle)
        }
    }

    private func register(_ spec: RouteSpec, _ handle: @escaping @Sendable (Request, PortalContext) async throws -> Response) {
        table.add(spec)
        router.on(RouterPath(spec.path), method: spec.method, use: handle)
    }

    /// The handler behind the route's checks: access, the password-change gate, the query's
    /// names, the body's size and type, and an `Idempotency-Key` on a creation.
    private func guarded(
        _ method: HTTPRequest.Method, _ path: String, _ access: Access, _ doc: RouteDoc,
        _ handler: @escaping @Sendable (Request, PortalContext) async throws -> Response
    ) -> @Sendable (Request, PortalContext) async throws -> Response {
        let mayRunBeforePasswordChange = access == .public || Self.allowedBeforePasswordChange.contains("\(method.rawValue) \(path)")
        let maxBodyBytes = doc.maxBodyBytes, expectsBody = doc.requestBody != nil
        let query = doc.query, checksQuery = path.hasPrefix("/api/")
        let idempotency = doc.createsResource(method) ? idempotency : nil
        return { request, context in
            try access.check(context)
            if !mayRunBeforePasswordChange, context.principal?.user.mustChangePassword == true {
                throw ProblemDetails(.forbidden, type: .passwordChangeRequired, title: "Password change required",
                                     detail: "Change your one-time password first (POST /api/me/password with currentPassword and newPassword).")
            }
            if checksQuery { try APIConventions.checkQuery(request, parameters: query) }
            var context = context
            context.maxUploadSize = maxBodyBytes
            if expectsBody { try RequestBodyRules.check(request, limit: maxBodyBytes) }
            let response: Response
            if let idempotency, let key = request.headers[.idempotencyKey] {
                response = try await APIConventions.idempotent(request, key: key, context: context, store: idempotency, limit: maxBodyBytes, handler)
            } else {
                response = try await handler(request, context)
            }
            return APIConventions.addressed(response, for: request)
        }
    }

    public func get(_ path: String, _ access: Access, _ doc: RouteDoc, _ handler: @escaping @Sendable (Request, PortalContext) async throws -> Response) {
        on(.get, path, access, doc, handler)
    }

    public func post(_ path: String, _ access: Access, _ doc: RouteDoc, _ handler: @escaping @Sendable (Request, PortalContext) async throws -> Response) {
        on(.post, path, access, doc, handler)
    }
}

/// What a JSON request body must be before it is read: no larger than the route's limit
/// (413, naming it, and the connection is closed so a client still sending is not left
/// waiting) and sent as JSON (415).
enum RequestBodyRules {
    static func check(_ request: Request, limit: Int) throws {
        let length = request.headers[.contentLength].flatMap(Int.init)
        if let length, length > limit { throw tooLarge(limit) }
        let contentType = request.headers[.contentType]?.split(separator: ";").first.map { String($0.filter { !$0.isWhitespace }).lowercased() }
        let hasBody = (length ?? 0) > 0 || request.headers[.transferEncoding] != nil
        if hasBody, let contentType, contentType != "application/json", !contentType.hasSuffix("+json") {
            throw ProblemDetails(.unsupportedMediaType, detail: "Send the body as application/json (got \(contentType)).", headers: [.accept: "application/json"])
        }
        if hasBody, contentType == nil {
            throw ProblemDetails(.unsupportedMediaType, detail: "Send the body as application/json (the Content-Type header is missing).")
        }
    }

    static func tooLarge(_ limit: Int) -> PortalError {
        .tooLarge("The body is larger than this route's limit of \(limit) bytes (\(limit >> 10) KiB).")
    }
}
