public import Hummingbird
public import Portal

/// Builds the whole HTTP surface. Middleware runs in this fixed order for every request,
/// outermost first; then one `add…Routes` call per route group, one file per group. Every
/// endpoint the portal serves is registered from here, through `PortalRoutes`, which makes
/// each route state who may call it.
public func buildRouter(core: PortalCore, assets: AssetCatalog, metrics: PortalMetrics = PortalMetrics(), options: WebOptions = WebOptions()) -> Router<PortalContext> {
    buildRoutes(core: core, assets: assets, metrics: metrics, options: options).router
}

/// How the HTTP surface is set up, from the configuration.
public struct WebOptions: Sendable {
    /// The URL people reach the portal at (`server.public_url`), when behind a proxy. Sign-in
    /// cookies are `Secure` when it is https; single sign-on's redirect URI is built from it.
    public var publicURL: String?
    /// When set, `GET /metrics` needs it as a bearer token.
    public var metricsToken: String?
    public var rateLimiting: Bool

    public init(publicURL: String? = nil, metricsToken: String? = nil, rateLimiting: Bool = true) {
        self.publicURL = publicURL
        self.metricsToken = metricsToken
        self.rateLimiting = rateLimiting
    }

    var secureCookies: Bool { publicURL?.hasPrefix("https://") ?? false }
}

/// The router and the list of its routes with their access rules.
public func buildRoutes(core: PortalCore, assets: AssetCatalog, metrics: PortalMetrics = PortalMetrics(), options: WebOptions = WebOptions()) -> PortalRoutes {
    let router = Router(context: PortalContext.self)
    router.add(middleware: RequestIDMiddleware())
    router.add(middleware: RequestLogMiddleware())
    router.add(middleware: MetricsMiddleware(metrics: metrics))
    router.add(middleware: SecurityHeadersMiddleware())
    router.add(middleware: ProblemMiddleware())
    router.add(middleware: AuthenticationMiddleware(sessions: core.sessions, apiKeys: core.apiKeys))
    if options.rateLimiting { router.add(middleware: RateLimitMiddleware(limiter: core.rateLimiter, metrics: metrics)) }

    let routes = PortalRoutes(router: router)
    routes.addHealthRoutes(core: core)
    routes.addUIRoutes(assets: assets)
    routes.addCSPReportRoutes()
    routes.addAuthRoutes(core: core, metrics: metrics, secureCookies: options.secureCookies)
    routes.addSingleSignOnRoutes(core: core, metrics: metrics, options: options)
    routes.addMetricsRoutes(core: core, metrics: metrics, token: options.metricsToken)
    routes.addAdminRoutes(core: core)
    routes.addToolRoutes(core: core)
    routes.addChatRoutes(core: core)
    return routes
}
