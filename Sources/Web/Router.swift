public import Hummingbird
public import Portal

/// Builds the whole HTTP surface. Middleware runs in this fixed order for every request,
/// outermost first; then one `add…Routes` call per route group, one file per group. Every
/// endpoint the portal serves is registered from here.
public func buildRouter(core: PortalCore, assets: AssetCatalog) -> Router<PortalContext> {
    let router = Router(context: PortalContext.self)
    router.add(middleware: RequestIDMiddleware())
    router.add(middleware: RequestLogMiddleware())
    router.add(middleware: SecurityHeadersMiddleware())
    router.add(middleware: ProblemMiddleware())

    router.addHealthRoutes(core: core)
    router.addUIRoutes(assets: assets)
    router.addCSPReportRoutes()
    return router
}
