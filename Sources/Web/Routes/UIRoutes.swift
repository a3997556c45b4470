import Hummingbird

extension PortalRoutes {
    /// The web client: the HTML shell at `/` and its files under the content-hashed prefix.
    func addUIRoutes(assets: AssetCatalog) {
        get("/", .public, .doc("getWebClient", "The web client.", responses: [ResponseSpec(200, "The page.", contentType: "text/html")])) { request, _ in
            assets.indexPage.response(to: request, cacheControl: "no-cache")
        }
        let fileDoc = RouteDoc.doc("getClientFile", "A file of the web client, under the content-hashed prefix the page names (cached for a year).",
                                   responses: [ResponseSpec(200, "The file.", contentType: "application/octet-stream")])
        // `{entry}` is a file of the tree's top level or, with `{file}`, one of its directories
        // (the router needs one name per position).
        get("/assets/{tree}/{entry}", .public, fileDoc) { request, context in
            try Self.asset(assets, tree: context.parameters.get("tree"), path: context.parameters.get("entry")).response(to: request, cacheControl: Self.immutable)
        }
        get("/assets/{tree}/{entry}/{file}", .public, .doc("getAssetInDirectory", fileDoc.summary, responses: fileDoc.responses)) { request, context in
            let path = context.parameters.get("entry").flatMap { directory in context.parameters.get("file").map { "\(directory)/\($0)" } }
            return try Self.asset(assets, tree: context.parameters.get("tree"), path: path).response(to: request, cacheControl: Self.immutable)
        }
    }

    static let immutable = "public, max-age=31536000, immutable"

    /// The file at `path` of this build's tree; a file of another build (a page loaded before
    /// an upgrade) is 404, never today's file under yesterday's name.
    static func asset(_ assets: AssetCatalog, tree: String?, path: String?) throws -> AssetCatalog.Asset {
        guard let tree, "/assets/\(tree)" == assets.prefix, let path, let asset = assets.assets[path] else {
            throw ProblemDetails(.notFound, detail: "No such file of the web client (it may belong to an earlier version of the portal: reload the page).")
        }
        return asset
    }
}
