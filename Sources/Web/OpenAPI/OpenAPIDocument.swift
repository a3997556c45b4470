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

    public static func build(_ routes: [RouteSpec], version: String, serverURL: String?) -> JSONAny {
        var paths: [String: [String: JSONAny]] = [:]
        for route in routes {
            paths[route.path, default: [:]][route.method.rawValue.lowercased()] = operation(route)
        }
        var document: [String: JSONAny] = [
            "openapi": .string("3.1.0"),
            "info": .object([
                "title": .string("Portal"),
                "version": .string(version),
                "description": .string("The self-service operations portal's HTTP API. Errors are RFC 9457 problem details."),
            ]),
            "paths": .object(paths.mapValues { JSONAny.object($0) }),
            "tags": .array(orderedTags(routes).map { .object(["name": .string($0)]) }),
            "components": .object([
                "schemas": .object(["Problem": problemSchema]),
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

    static func operation(_ route: RouteSpec) -> JSONAny {
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
            .object(["name": .string(parameter.name), "in": .string("query"), "required": .bool(false), "schema": parameter.schema,
                     "description": .string(parameter.description)])
        }
        if !parameters.isEmpty { operation["parameters"] = .array(parameters) }
        if let body = route.doc.requestBody {
            operation["requestBody"] = .object(["required": .bool(true), "content": .object(["application/json": .object(["schema": body])])])
        }
        var responses: [String: JSONAny] = [:]
        for response in route.doc.responses {
            var entry: [String: JSONAny] = ["description": .string(response.description)]
            if let contentType = response.contentType {
                entry["content"] = .object([contentType: response.schema.map { .object(["schema": $0]) } ?? .object([:])])
            }
            responses[String(response.status)] = .object(entry)
        }
        responses["default"] = ref("#/components/responses/Problem")
        operation["responses"] = .object(responses)
        switch route.access {
        case .public: operation["security"] = .array([])
        default: operation["security"] = .array([.object(["session": .array([]), "csrf": .array([])]), .object(["apiKey": .array([])])])
        }
        return .object(operation)
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
        let document = LazyDocument { OpenAPIDocument.build(table.all, version: OpenAPIDocument.apiVersion, serverURL: options.publicURL) }
        get("/api/openapi.json", .public, .doc("getOpenAPIDocument", "This API's OpenAPI 3.1 document.")) { _, _ in
            Response(status: .ok, headers: [.contentType: "application/json", .cacheControl: "no-cache"],
                     body: .init(byteBuffer: ByteBuffer(bytes: document.bytes)))
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
