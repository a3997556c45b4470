public import Hummingbird
public import Portal

/// Builds the whole HTTP surface. Middleware runs in this fixed order for every request,
/// outermost first; then one `add…Routes` call per route group, one file per group. Every
/// endpoint the portal serves is registered from here, through `PortalRoutes`, which makes
/// each route state who may call it.
public func buildRouter(core: PortalCore, assets: AssetCatalog, secureCookies: Bool = false) -> Router<PortalContext> {
    buildRoutes(core: core, assets: assets, secureCookies: secureCookies).router
}

/// The router and the list of its routes with their access rules.
public func buildRoutes(core: PortalCore, assets: AssetCatalog, secureCookies: Bool = false) -> PortalRoutes {
    let router = Router(context: PortalContext.self)
    router.add(middleware: RequestIDMiddleware())
    router.add(middleware: RequestLogMiddleware())
    router.add(middleware: SecurityHeadersMiddleware())
    router.add(middleware: ProblemMiddleware())
    router.add(middleware: AuthenticationMiddleware(sessions: core.sessions, apiKeys: core.apiKeys))
    router.add(middleware: RateLimitMiddleware(limiter: core.rateLimiter))

    let routes = PortalRoutes(router: router)
    routes.addHealthRoutes(core: core)
    routes.addUIRoutes(assets: assets)
    routes.addCSPReportRoutes()
    routes.addAuthRoutes(core: core, secureCookies: secureCookies)
    routes.addAdminRoutes(core: core)
    return routes
}
