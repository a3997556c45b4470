import FoundationEssentials
import Hummingbird
import KV
import Portal

struct AssetPage: Codable {
    let assets: [Asset]
    let next: String?
    let limit: Int
}

/// A configuration item, its relations both ways, and the newest incidents on it.
struct AssetView: Codable {
    let asset: Asset
    let relations: [AssetRelation]
    let dependents: [AssetRelation]
    let incidents: [Incident]
    /// The newest changes on it.
    let changes: [Change]
}

/// An import from an inventory tool's run.
struct AssetRunImport: Codable {
    /// A succeeded run of oci.compute.instance.list or host.kernel in this organization.
    let runID: String
    /// Remove the source's items the run no longer lists (a refresh); false when absent.
    let removeMissing: Bool?
}

struct AssetImpact: Codable {
    let name: String
    /// What fails with it, nearest first.
    let impacted: [ImpactedAsset]
}

extension PortalRoutes {
    /// The CMDB: assets:read to read, assets:manage to change.
    func addAssetRoutes(core: PortalCore) {
        let assets = core.assets
        let incidents = core.incidents

        @Sendable func view(_ name: String, _ organizationID: UUID) throws -> AssetView {
            let detail = try assets.detail(name, in: organizationID)
            return AssetView(asset: detail.asset, relations: detail.relations, dependents: detail.dependents,
                             incidents: try incidents.incidents(onService: name, in: organizationID, limit: 20),
                             changes: try core.changes.changes(onAsset: name, in: organizationID, limit: 20))
        }
        @Sendable func pathName(_ context: PortalContext, _ parameter: String = "name") throws -> String {
            let name = context.parameters.get(parameter) ?? ""
            guard Assets.isValidName(name) else { throw PortalError.notFound("configuration item") }
            return name
        }

        get("/api/assets", .permission(.assetsRead), .doc("listAssets", "The organization's configuration items in name order.", returns: APISchema.of(AssetPage.self), query: QueryParameter.paging + [.choice("type", AssetType.allCases.map(\.rawValue), "Only items of this type.")])) { request, context in
            let organizationID = try Self.requireOrganization(context.principal!)
            var type: AssetType?
            if let text = request.uri.queryParameters.get("type") {
                guard let parsed = AssetType(rawValue: text) else {
                    throw ProblemDetails(.badRequest, detail: "type must be one of \(AssetType.allCases.map(\.rawValue).joined(separator: ", ")).")
                }
                type = parsed
            }
            let cursor = request.uri.queryParameters.get("cursor").map { String($0) }
            if let cursor, !Assets.isValidName(cursor) { throw ProblemDetails(.badRequest, detail: "cursor must come from the previous page's next link.") }
            let limit = try APIConventions.pageSize(request)
            let page = try assets.list(in: organizationID, type: type, limit: limit, after: cursor)
            let next = APIConventions.nextLink(request, cursor: page.count == limit ? page.last?.name : nil)
            return try APIConventions.pageResponse(AssetPage(assets: page, next: next, limit: limit), next: next)
        }

        get("/api/assets/{name}", .permission(.assetsRead), .doc("getAsset", "A configuration item, its relations both ways, and the newest incidents on it.", returns: APISchema.of(AssetView.self))) { _, context in
            try Self.jsonResponse(.ok, try view(try pathName(context), try Self.requireOrganization(context.principal!)))
        }

        on(.put, "/api/assets/{name}", .permission(.assetsManage), .doc("saveAsset", "Creates or replaces a configuration item's type, description, owner and attributes (at most 64); its relations stay. An item saved by hand is no longer kept by an import.", body: AssetDraft.self, returns: APISchema.of(Asset.self))) { request, context in
            let body = try await Self.decode(AssetDraft.self, request, context)
            let name = context.parameters.get("name") ?? ""
            return try Self.jsonResponse(.ok, try await semantic { try await assets.save(name, body, by: context.principal!) })
        }

        on(.delete, "/api/assets/{name}", .permission(.assetsManage), .doc("removeAsset", "Removes a configuration item and every relation to or from it.", status: 204)) { _, context in
            try await assets.remove(try pathName(context), by: context.principal!)
            return Response(status: .noContent)
        }

        get("/api/assets/{name}/impact", .permission(.assetsRead), .doc("getAssetImpact", "What fails with this item: the items that run on or depend on it, transitively, nearest first, each once (cycles in the relations end there).", returns: APISchema.of(AssetImpact.self))) { _, context in
            let name = try pathName(context)
            return try Self.jsonResponse(.ok, AssetImpact(name: name, impacted: try assets.impact(of: name, in: try Self.requireOrganization(context.principal!))))
        }

        post("/api/asset-relations", .permission(.assetsManage), .doc("relateAssets", "Sets how one item stands to another (runs-on, depends-on, connects-to); one relation per ordered pair, a new kind replaces the old. Both items must exist.", body: AssetRelation.self, returns: APISchema.of(AssetView.self))) { request, context in
            let body = try await Self.decode(AssetRelation.self, request, context)
            let detail = try await semantic { try await assets.relate(body, by: context.principal!) }
            return try Self.jsonResponse(.ok, try view(detail.asset.name, try Self.requireOrganization(context.principal!)))
        }

        on(.delete, "/api/assets/{name}/relations/{to}", .permission(.assetsManage), .doc("unrelateAssets", "Removes the relation from this item to another, whatever its kind.", status: 204)) { _, context in
            try await assets.unrelate(try pathName(context), try pathName(context, "to"), by: context.principal!)
            return Response(status: .noContent)
        }

        post("/api/asset-imports", .permission(.assetsManage), .doc("importAssets", "Saves up to 10,000 items and their relations from one source in one transaction (all or nothing). Items kept by hand or by another source are left as they are; with removeMissing, the source's items the import no longer holds are removed.", body: AssetImport.self, returns: APISchema.of(AssetImportResult.self))) { request, context in
            let body = try await Self.decode(AssetImport.self, request, context)
            return try Self.jsonResponse(.ok, try await semantic { try await assets.importItems(body, by: context.principal!) })
        }

        post("/api/asset-imports/from-run", .permission(.assetsManage), .doc("importAssetsFromRun", "Imports the items an inventory tool's succeeded run lists: oci.compute.instance.list (source oci-instances: each instance but the terminated, with its OCID, shape, state, availability domain, compartment and free-form tags) or host.kernel (source host). With removeMissing, a refresh: the source's items the run no longer lists are removed.", body: AssetRunImport.self, returns: APISchema.of(AssetImportResult.self))) { request, context in
            let body = try await Self.decode(AssetRunImport.self, request, context)
            let organizationID = try Self.requireOrganization(context.principal!)
            guard let id = TimeOrderedID(body.runID), let run = try core.runs.run(id, in: organizationID) else { throw PortalError.notFound("run") }
            return try Self.jsonResponse(.ok, try await semantic {
                try await assets.importItems(try AssetInventory.batch(from: run, removeMissing: body.removeMissing ?? false), by: context.principal!)
            })
        }
    }
}
