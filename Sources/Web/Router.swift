public import Hummingbird
public import KV
public import Portal

/// Builds the whole HTTP surface. Middleware runs in this fixed order for every request,
/// outermost first; then one `add…Routes` call per route group, one file per group. Every
/// endpoint the portal serves is registered from here, through `PortalRoutes`, which makes
/// each route state who may call it.
///
/// Two addresses, one behaviour: the routes of the stable groups are served under `/api/v1`
/// (the versioned API other systems use, documented at `/api/v1/openapi.json`) and under
/// `/api` for the web client, which also has the routes only it needs (sign-in, the event
/// stream, single sign-on, the setup checklist; documented at `/api/openapi.json`).
public func buildRouter(core: PortalCore, assets: AssetCatalog, metrics: PortalMetrics = PortalMetrics(), options: WebOptions = WebOptions()) -> Router<PortalContext> {
    buildRoutes(core: core, assets: assets, metrics: metrics, options: options).router
}

/// How the HTTP surface is set up, from the configuration.
public struct WebOptions: Sendable {
    /// The URL people reach the portal at (`server.public_url`), when behind a proxy. Sign-in
    /// cookies are `Secure` and HSTS is sent when it is https; single sign-on's redirect URI
    /// and the same-origin check of state changes are built from it.
    public var publicURL: String?
    /// When set, `GET /metrics` needs it as a bearer token.
    public var metricsToken: String?
    /// `GET /metrics` without a token even though the portal is reachable beyond this host
    /// (`metrics.allow_anonymous`); see `MetricsAccess`.
    public var anonymousMetrics: Bool
    public var rateLimiting: Bool
    /// Reverse proxies whose `X-Forwarded-For` names the client (`server.trusted_proxies`).
    public var trustedProxies: [NetworkRange]
    /// `/readyz` answers not ready below this much free space (`storage.min_free_mb`).
    public var minimumFreeBytes: UInt64
    /// The release, as the MCP server names itself.
    public var version: String

    public init(publicURL: String? = nil, metricsToken: String? = nil, anonymousMetrics: Bool = false, rateLimiting: Bool = true,
                trustedProxies: [NetworkRange] = [], minimumFreeBytes: UInt64 = StorageHealth.defaultMinimumFreeBytes, version: String = "dev") {
        self.version = version
        self.publicURL = publicURL
        self.metricsToken = metricsToken
        self.anonymousMetrics = anonymousMetrics
        self.rateLimiting = rateLimiting
        self.trustedProxies = trustedProxies
        self.minimumFreeBytes = minimumFreeBytes
    }

    var secureCookies: Bool { publicURL?.lowercased().hasPrefix("https://") ?? false }
    /// The origin that sign-in and cookie-authenticated changes must come from.
    var sameOrigin: SameOrigin { SameOrigin(publicURL: publicURL) }
}

/// The router and the list of its routes with their access rules.
public func buildRoutes(core: PortalCore, assets: AssetCatalog, metrics: PortalMetrics = PortalMetrics(), options: WebOptions = WebOptions()) -> PortalRoutes {
    let router = Router(context: PortalContext.self)
    let table = RouteTable()
    router.add(middleware: ClientAddressMiddleware(trustedProxies: options.trustedProxies))
    router.add(middleware: RequestIDMiddleware())
    router.add(middleware: RequestLogMiddleware())
    router.add(middleware: MetricsMiddleware(metrics: metrics))
    router.add(middleware: SecurityHeadersMiddleware(strictTransportSecurity: options.secureCookies))
    router.add(middleware: ProblemMiddleware(routes: table, publicURL: options.publicURL))
    if options.rateLimiting { router.add(middleware: RateLimitMiddleware(limiter: core.rateLimiter, metrics: metrics, routes: table, stage: .address)) }
    router.add(middleware: AuthenticationMiddleware(sessions: core.sessions, apiKeys: core.apiKeys, sameOrigin: options.sameOrigin,
                                                    oauth: core.oauth, publicURL: options.publicURL))
    if options.rateLimiting { router.add(middleware: RateLimitMiddleware(limiter: core.rateLimiter, metrics: metrics, routes: table, stage: .principal)) }

    let routes = PortalRoutes(router: router, table: table, idempotency: core.idempotencyKeys)
    routes.group("Operations") {
        routes.addHealthRoutes(core: core, minimumFreeBytes: options.minimumFreeBytes)
        routes.addMetricsRoutes(core: core, metrics: metrics, access: MetricsAccess(options))
        routes.addOpenAPIRoutes(options: options)
    }
    routes.group("Web client") {
        routes.addUIRoutes(assets: assets)
        routes.addCSPReportRoutes()
    }
    routes.group("Sign-in", stable: true) { routes.addAuthRoutes(core: core, metrics: metrics, options: options) }
    routes.group("Single sign-on") { routes.addSingleSignOnRoutes(core: core, metrics: metrics, options: options) }
    routes.group("Administration", stable: true) {
        routes.addAdminRoutes(core: core)
        routes.addSetupRoutes(core: core)
    }
    routes.group("Webhooks", stable: true) { routes.addWebhookRoutes(core: core) }
    routes.group("Tools", stable: true) { routes.addToolRoutes(core: core) }
    routes.group("Assistant", stable: true) { routes.addChatRoutes(core: core) }
    routes.group("Workflows", stable: true) { routes.addWorkflowRoutes(core: core) }
    routes.group("Incidents", stable: true) { routes.addIncidentRoutes(core: core) }
    routes.group("Assets", stable: true) { routes.addAssetRoutes(core: core) }
    routes.group("Changes", stable: true) { routes.addChangeRoutes(core: core) }
    routes.group("MCP") {
        routes.addMCPRoutes(core: core, options: options)
        routes.addOAuthRoutes(core: core, options: options)
        routes.addMCPServerRoutes(core: core)
    }
    return routes
}
