import Hummingbird

extension PortalRoutes {
    /// The web UI: the HTML shell at `/` and its content-hashed assets.
    func addUIRoutes(assets: AssetCatalog) {
        get("/", .public, .doc("getWebClient", "The web client.", responses: [ResponseSpec(200, "The page.", contentType: "text/html")])) { request, _ in
            assets.indexPage.response(to: request, cacheControl: "no-cache")
        }
        get("/assets/{file}", .public, .doc("getAsset", "A file of the web client (content-hashed, cached for a year).", responses: [ResponseSpec(200, "The file.", contentType: "application/octet-stream")])) { request, context in
            guard let file = context.parameters.get("file"), let asset = assets.assets[file] else {
                throw ProblemDetails(.notFound, detail: "No such asset.")
            }
            return asset.response(to: request, cacheControl: "public, max-age=31536000, immutable")
        }
    }
}
