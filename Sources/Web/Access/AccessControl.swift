public import Hummingbird
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
            throw ProblemDetails(.unauthorized, detail: "Sign in, or send an API key as a bearer token.")
        }
        if case let .permission(permission) = self, !principal.has(permission) {
            throw ProblemDetails(.forbidden, detail: "This needs the \(permission.rawValue) permission in the current organization.")
        }
        if self == .systemAdministrator, !principal.user.isAdministrator {
            throw ProblemDetails(.forbidden, detail: "Only system administrators may do this.")
        }
    }
}

/// One registered route and what it requires.
public struct RegisteredRoute: Sendable, Equatable {
    public let method: HTTPRequest.Method
    public let path: String
    public let access: Access
}

/// The router seen by route groups: registering a route requires its `Access`, which is
/// checked before the handler runs and recorded so tests can enumerate every route.
/// Used while the server is being set up, on one thread.
public final class PortalRoutes {
    public let router: Router<PortalContext>
    /// Every route registered so far, in order.
    public private(set) var all: [RegisteredRoute] = []

    init(router: Router<PortalContext>) {
        self.router = router
    }

    /// What a person who must change their one-time password may still do.
    static let allowedBeforePasswordChange: Set<String> = ["GET /api/me", "POST /api/me/password", "POST /api/auth/logout"]

    public func on(
        _ method: HTTPRequest.Method, _ path: String, _ access: Access,
        _ handler: @escaping @Sendable (Request, PortalContext) async throws -> Response
    ) {
        all.append(RegisteredRoute(method: method, path: path, access: access))
        let mayRunBeforePasswordChange = access == .public || Self.allowedBeforePasswordChange.contains("\(method.rawValue) \(path)")
        router.on(RouterPath(path), method: method) { request, context in
            try access.check(context)
            if !mayRunBeforePasswordChange, context.principal?.user.mustChangePassword == true {
                throw ProblemDetails(.forbidden, title: "Password change required",
                                     detail: "Change your one-time password first (POST /api/me/password with currentPassword and newPassword).")
            }
            return try await handler(request, context)
        }
    }

    public func get(_ path: String, _ access: Access, _ handler: @escaping @Sendable (Request, PortalContext) async throws -> Response) {
        on(.get, path, access, handler)
    }

    public func post(_ path: String, _ access: Access, _ handler: @escaping @Sendable (Request, PortalContext) async throws -> Response) {
        on(.post, path, access, handler)
    }
}
