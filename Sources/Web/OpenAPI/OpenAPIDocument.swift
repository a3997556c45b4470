import FoundationEssentials
import Hummingbird
import Synchronization
public import Portal

/// The OpenAPI 3.1 document of every registered route, built from the route specs: paths with
/// their parameters, request and response bodies (schemas from the Swift types), the problem
/// details every error answers with, the access rule of each operation as its security
/// requirement (`x-portal-access` names the permission), and the two ways to authenticate.
public enum OpenAPIDocument {
    /// The version of the API the document describes (not the binary's).
    public static let apiVersion = "0.1.0"

    /// The document of the stable API: the routes under `/api/v1`.
    public static func stable(_ routes: [RouteSpec], serverURL: String?) -> JSONAny {
        build(routes.filter(\.stable), version: "1.0.0", serverURL: serverURL,
              description: "The portal's stable API, version 1. Conventions, the same on every operation: errors are RFC 9457 problem details whose `type` names the kind of error (see `x-problem-types`); lists are cursor pages (`limit`, `cursor`, and a `next` link in the body and a `Link` header); POSTs that create accept an `Idempotency-Key` (the same key and body within 24 hours answers the first result; another body is 422); records that can be updated carry an `ETag`, and updates honour `If-Match` (412 on a lost update); 201 and 202 carry `Location`; answers carry `RateLimit-*` headers; unknown query parameters are 400.")
    }

    /// The document of the web client's API: everything not under `/api/v1` (the same
    /// operations at `/api/…`, and those only the web client uses).
    public static func web(_ routes: [RouteSpec], serverURL: String?) -> JSONAny {
        build(routes.filter { !$0.stable }, version: apiVersion, serverURL: serverURL,
              description: "The web client's HTTP API: the operations of `/api/v1` at `/api/…` (same behaviour, not versioned), and sign-in, single sign-on, the event stream and the setup checklist. Other systems should use `/api/v1` (its document is at `/api/v1/openapi.json`). Errors are RFC 9457 problem details.")
    }

    static func build(_ routes: [RouteSpec], version: String, serverURL: String?, description: String) -> JSONAny {
        var paths: [String: [String: JSONAny]] = [:]
        for route in routes {
            paths[route.path, default: [:]][route.method.rawValue.lowercased()] = operation(route, links: links(route, in: routes))
        }
        var document: [String: JSONAny] = [
            "openapi": .string("3.1.0"),
            "info": .object([
                "title": .string("Portal"),
                "version": .string(version),
                "description": .string(description),
            ]),
            "x-problem-types": .array(ProblemType.allCases.map { type in
                .object(["type": .string(type.uri), "status": .number(Double(type.status)), "description": .string(type.explanation)])
            }),
            "paths": .object(paths.mapValues { JSONAny.object($0) }),
            "tags": .array(orderedTags(routes).map { .object(["name": .string($0)]) }),
            "components": .object([
                "schemas": .object(SchemaComponents.all.merging(["Problem": problemSchema]) { $1 }),
                "responses": .object(["Problem": .object([
                    "description": .string("The request was refused or failed: a problem-details document."),
                    "content": .object(["application/problem+json": .object(["schema": ref("#/components/schemas/Problem")])]),
                ])]),
                "securitySchemes": .object([
                    "session": .object(["type": .string("apiKey"), "in": .string("cookie"), "name": .string("portal_session"),
                                        "description": .string("The session cookie set by POST /api/auth/login; changes also need the X-CSRF-Token header it returned.")]),
                    "csrf": .object(["type": .string("apiKey"), "in": .string("header"), "name": .string("X-CSRF-Token"),
                                     "description": .string("Sent with the session cookie on every change.")]),
                    "apiKey": .object(["type": .string("http"), "scheme": .string("bearer"),
                                       "description": .string("An API key (`Authorization: Bearer pk_…`).")]),
                ]),
            ]),
        ]
        if let serverURL { document["servers"] = .array([.object(["url": .string(serverURL)])]) }
        return .object(document)
    }

    /// For a creation: links from its answer to the operations on the created record (the
    /// record's path and those under it whose only parameter is its `{id}`).
    static func links(_ route: RouteSpec, in routes: [RouteSpec]) -> [String: JSONAny] {
        guard route.doc.createsResource(route.method) else { return [:] }
        let resource = route.doc.created?.path.map { route.stable ? APIConventions.stablePath($0) : $0 } ?? route.path + "/{id}"
        let pointer = route.doc.created?.idPointer ?? "/id"
        var links: [String: JSONAny] = [:]
        for target in routes where (target.path == resource || target.path.hasPrefix(resource + "/")) && pathParameters(target.path) == ["id"] {
            links[target.doc.operationID] = .object(["operationId": .string(target.doc.operationID),
                                                     "parameters": .object(["id": .string("$response.body#" + pointer)])])
        }
        return links
    }

    static func operation(_ route: RouteSpec, links: [String: JSONAny] = [:]) -> JSONAny {
        var operation: [String: JSONAny] = [
            "operationId": .string(route.doc.operationID),
            "summary": .string(route.doc.summary),
            "tags": .array([.string(route.tag)]),
            "x-portal-access": .string(accessName(route.access)),
        ]
        if case let .limited(rateClass) = route.rate { operation["x-portal-rate-class"] = .string(rateClass.rawValue) }
        var parameters: [JSONAny] = pathParameters(route.path).map { name in
            .object(["name": .string(name), "in": .string("path"), "required": .bool(true), "schema": .object(["type": .string("string")])])
        }
        parameters += route.doc.query.map { parameter in
            .object(["name": .string(parameter.name), "in": .string("query"), "required": .bool(parameter.required), "schema": parameter.schema,
                     "description": .string(parameter.description)])
        }
        if route.doc.createsResource(route.method) {
            parameters.append(.object(["name": .string("Idempotency-Key"), "in": .string("header"), "required": .bool(false),
                                       "schema": .object(["type": .string("string"), "minLength": .number(1), "maxLength": .number(255), "pattern": .string("^[!-~]+$")]),
                                       "description": .string("Makes a retry safe: the same key and body within 24 hours answers the first result (with `Idempotent-Replayed: true`) instead of creating again.")]))
        }
        if route.doc.revision == .conditional {
            parameters.append(.object(["name": .string("If-Match"), "in": .string("header"), "required": .bool(false),
                                       "schema": .object(["type": .string("string"), "pattern": .string(APIConventions.ifMatchPattern)]),
                                       "description": .string("The `ETag` the record had when you read it: the change applies only if it is still current (else 412).")]))
        }
        if !parameters.isEmpty { operation["parameters"] = .array(parameters) }
        if let body = route.doc.requestBody {
            operation["requestBody"] = .object(["required": .bool(true), "content": .object(["application/json": .object(["schema": body, "example": Example.of(body, components: SchemaComponents.all)])])])
        }
        var responses: [String: JSONAny] = [:]
        for response in route.doc.responses {
            var entry: [String: JSONAny] = ["description": .string(response.description)]
            if let contentType = response.contentType {
                var media: [String: JSONAny] = [:]
                if let schema = response.schema {
                    media["schema"] = schema
                    if contentType == "application/json" { media["example"] = Example.of(schema, components: SchemaComponents.all) }
                }
                entry["content"] = .object([contentType: .object(media)])
            }
            let headers = responseHeaders(route, status: response.status)
            if !headers.isEmpty { entry["headers"] = .object(headers) }
            if response.status == 201 || response.status == 202, !links.isEmpty { entry["links"] = .object(links) }
            responses[String(response.status)] = .object(entry)
        }
        responses["default"] = ref("#/components/responses/Problem")
        operation["responses"] = .object(responses)
        switch route.access {
        case .public: operation["security"] = .array([])
        // v1 is for other systems: API keys (its routes also take the web client's session, undocumented).
        case _ where route.stable: operation["security"] = .array([.object(["apiKey": .array([])])])
        default: operation["security"] = .array([.object(["session": .array([]), "csrf": .array([])]), .object(["apiKey": .array([])])])
        }
        return .object(operation)
    }

    /// The headers a success answer of `route` carries.
    static func responseHeaders(_ route: RouteSpec, status: Int) -> [String: JSONAny] {
        func header(_ description: String, _ type: String = "string") -> JSONAny {
            .object(["description": .string(description), "schema": .object(["type": .string(type)])])
        }
        var headers: [String: JSONAny] = [:]
        if case .limited = route.rate {
            headers["RateLimit-Limit"] = header("Requests of this kind allowed per window.", "integer")
            headers["RateLimit-Remaining"] = header("Requests of this kind left in the window.", "integer")
            headers["RateLimit-Reset"] = header("Seconds until the budget is full again.", "integer")
        }
        if status == 201 || status == 202, route.method == .post { headers["Location"] = header("Where the created record (or the run) can be read.") }
        if route.doc.revision != .none, route.method != .delete { headers["ETag"] = header("The record's version, for `If-Match`.") }
        if route.doc.query.contains(where: { $0.name == "cursor" }) { headers["Link"] = header("`<…>; rel=\"next\"`: the next page, absent on the last.") }
        return headers
    }

    static func accessName(_ access: Access) -> String {
        switch access {
        case .public: "public"
        case .authenticated: "authenticated"
        case let .permission(permission): "permission:" + permission.rawValue
        case .systemAdministrator: "system-administrator"
        }
    }

    static func pathParameters(_ path: String) -> [String] {
        path.split(separator: "/").filter { $0.first == "{" && $0.last == "}" }.map { String($0.dropFirst().dropLast()) }
    }

    static func orderedTags(_ routes: [RouteSpec]) -> [String] {
        var seen: [String] = []
        for route in routes where !seen.contains(route.tag) { seen.append(route.tag) }
        return seen
    }

    static func ref(_ target: String) -> JSONAny { .object(["$ref": .string(target)]) }

    /// RFC 9457, as `ProblemDetails` writes it.
    static var problemSchema: JSONAny {
        var schema = APISchema.of(ProblemDetails.Body.self)
        if case var .object(members) = schema {
            members["description"] = .string("RFC 9457 problem details; `errors` names each invalid field.")
            schema = .object(members)
        }
        return schema
    }
}

extension PortalRoutes {
    /// `GET /api/openapi.json`: the document of every route registered (built once, at the
    /// first request, when every route is in).
    func addOpenAPIRoutes(options: WebOptions) {
        let table = table
        let web = LazyDocument { OpenAPIDocument.web(table.all, serverURL: options.publicURL) }
        let stable = LazyDocument { OpenAPIDocument.stable(table.all, serverURL: options.publicURL) }
        get("/api/openapi.json", .public, .doc("getOpenAPIDocument", "The web client's API: its OpenAPI 3.1 document.")) { _, _ in
            Response(status: .ok, headers: [.contentType: "application/json", .cacheControl: "no-cache"], body: .init(byteBuffer: ByteBuffer(bytes: web.bytes)))
        }
        get("/api/v1/openapi.json", .public, .doc("getOpenAPIDocument", "API v1: its OpenAPI 3.1 document.")) { _, _ in
            Response(status: .ok, headers: [.contentType: "application/json", .cacheControl: "no-cache"], body: .init(byteBuffer: ByteBuffer(bytes: stable.bytes)))
        }
    }
}

/// A document built once, on first use.
final class LazyDocument: Sendable {
    private let build: @Sendable () -> JSONAny
    private let cached = Mutex<[UInt8]?>(nil)

    init(_ build: @escaping @Sendable () -> JSONAny) { self.build = build }

    var bytes: [UInt8] {
        cached.withLock { cached in
            if let cached { return cached }
            let bytes = build().canonicalJSON
            cached = bytes
            return bytes
        }
    }
}
