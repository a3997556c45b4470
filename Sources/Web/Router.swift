public import Hummingbird
public import Portal

/// Builds the whole HTTP surface. Middleware runs in this fixed order for every request,
/// outermost first; then one `add…Routes` call per route group, one file per group. Every
/// endpoint the portal serves is registered from here, through `PortalRoutes`, which makes
/// each route state who may call it.
public func buildRouter(
    core: PortalCore, assets: AssetCatalog, metrics: PortalMetrics = PortalMetrics(), secureCookies: Bool = false,
    metricsToken: String? = nil, rateLimiting: Bool = true
) -> Router<PortalContext> {
    buildRoutes(core: core, assets: assets, metrics: metrics, secureCookies: secureCookies, metricsToken: metricsToken, rateLimiting: rateLimiting).router
}

/// The router and the list of its routes with their access rules.
public func buildRoutes(
    core: PortalCore, assets: AssetCatalog, metrics: PortalMetrics = PortalMetrics(), secureCookies: Bool = false,
    metricsToken: String? = nil, rateLimiting: Bool = true
) -> PortalRoutes {
    let router = Router(context: PortalContext.self)
    router.add(middleware: RequestIDMiddleware())
    router.add(middleware: RequestLogMiddleware())
    router.add(middleware: MetricsMiddleware(metrics: metrics))
    router.add(middleware: SecurityHeadersMiddleware())
    router.add(middleware: ProblemMiddleware())
    router.add(middleware: AuthenticationMiddleware(sessions: core.sessions, apiKeys: core.apiKeys))
    if rateLimiting { router.add(middleware: RateLimitMiddleware(limiter: core.rateLimiter, metrics: metrics)) }

    let routes = PortalRoutes(router: router)
    routes.addHealthRoutes(core: core)
    routes.addUIRoutes(assets: assets)
    routes.addCSPReportRoutes()
    routes.addAuthRoutes(core: core, metrics: metrics, secureCookies: secureCookies)
    routes.addMetricsRoutes(core: core, metrics: metrics, token: metricsToken)
    routes.addAdminRoutes(core: core)
    return routes
}
