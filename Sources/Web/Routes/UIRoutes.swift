import Hummingbird

extension PortalRoutes {
    /// The web UI: the HTML shell at `/` and its content-hashed assets.
    func addUIRoutes(assets: AssetCatalog) {
        get("/", .public) { request, _ in
            assets.indexPage.response(to: request, cacheControl: "no-cache")
        }
        get("/assets/{file}", .public) { request, context in
            guard let file = context.parameters.get("file"), let asset = assets.assets[file] else {
                throw ProblemDetails(.notFound, detail: "No such asset.")
            }
            return asset.response(to: request, cacheControl: "public, max-age=31536000, immutable")
        }
    }
}
