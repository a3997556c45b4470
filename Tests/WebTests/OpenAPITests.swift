import Foundation
import Hummingbird
import HummingbirdTesting
import Portal
import Testing
@testable import Web

/// The OpenAPI document is built from the route specs: every route is in it with its access
/// and body schemas, and a snapshot shows any change to the API in review.
@Suite struct OpenAPITests {
    static func snapshotPath(_ name: String) -> String {
        URL(fileURLWithPath: #filePath).deletingLastPathComponent().appendingPathComponent("Snapshots/\(name)").path
    }

    /// The two documents as served: the web client's and v1's.
    static func documents() async throws -> (web: JSONAny, stable: JSONAny, routes: [RouteSpec]) {
        let harness = try await WebTestHarness()
        let routes = buildRoutes(core: harness.core, assets: try AssetCatalog(), options: harness.options)
        let (web, stable) = try await Application(router: routes.router).test(.router) { client in
            var documents: [JSONAny] = []
            for uri in ["/api/openapi.json", "/api/v1/openapi.json"] {
                try await client.execute(uri: uri, method: .get) { response in
                    #expect(response.status == .ok)
                    #expect(response.headers[.contentType] == "application/json")
                    documents.append(try #require(JSONAny(json: Array(buffer: response.body))))
                }
            }
            return (documents[0], documents[1])
        }
        return (web, stable, routes.all)
    }

    @Test func everyRouteIsDescribedWithItsAccessAndBodies() async throws {
        let (web, stable, routes) = try await Self.documents()
        for document in [web, stable] { #expect(document["openapi"] == .string("3.1.0")) }
        let webPaths = try #require(web["paths"]?.object), stablePaths = try #require(stable["paths"]?.object)
        var operationIDs: [Bool: Set<String>] = [:]
        for route in routes {
            let paths = route.stable ? stablePaths : webPaths
            let operation = try #require(paths[route.path]?[route.method.rawValue.lowercased()], "\(route.method) \(route.path) is missing")
            let id = try #require(operation["operationId"]?.string)
            #expect(operationIDs[route.stable, default: []].insert(id).inserted, "operation ids are unique in a document: \(id)")
            #expect(operation["x-portal-access"] == .string(OpenAPIDocument.accessName(route.access)))
            #expect(operation["responses"]?["default"]?["$ref"] == .string("#/components/responses/Problem"), "errors are problem details")
            #expect((operation["security"]?.array?.isEmpty == true) == (route.access == .public))
            if route.doc.requestBody != nil {
                #expect(operation["requestBody"]?["content"]?["application/json"]?["schema"]?["type"] == .string("object"), "\(id) has its body schema")
                #expect(operation["requestBody"]?["content"]?["application/json"]?["example"] != nil, "\(id) has an example request")
            }
            for name in OpenAPIDocument.pathParameters(route.path) {
                #expect(operation["parameters"]?.array?.contains { $0["name"] == .string(name) && $0["in"] == .string("path") } == true)
            }
            let idempotencyHeader = operation["parameters"]?.array?.contains { $0["name"] == .string("Idempotency-Key") && $0["in"] == .string("header") } == true
            #expect(idempotencyHeader == route.doc.createsResource(route.method), "\(id): Idempotency-Key on creations only")
        }
        #expect(stablePaths.keys.allSatisfy { $0.hasPrefix("/api/v1/") } && webPaths.keys.allSatisfy { !$0.hasPrefix("/api/v1/") })
        let operationCount: Int = [webPaths, stablePaths].flatMap(\.values).map { $0.object?.count ?? 0 }.reduce(0, +)
        #expect(operationCount == routes.count, "nothing but the routes")
        // v1 is the web client's API less what only the web client uses.
        for webOnly in ["/api/v1/auth/login", "/api/v1/events", "/api/v1/setup", "/api/v1/auth/oidc/login"] { #expect(stablePaths[webOnly] == nil, "\(webOnly)") }
        for path in ["/api/v1/runs", "/api/v1/runs/{id}", "/api/v1/tools/{name}/runs", "/api/v1/approvals/{id}/decision", "/api/v1/audit/verification",
                     "/api/v1/users", "/api/v1/orgs", "/api/v1/keys", "/api/v1/webhooks", "/api/v1/search", "/api/v1/sessions"] {
            #expect(stablePaths[path] != nil, "\(path) is in v1")
        }
        // Stateful links: a created run leads to reading it.
        let runCreated = try #require(stablePaths["/api/v1/tools/{name}/runs"]?["post"]?["responses"]?["201"]?["links"]?["getRun"])
        #expect(runCreated["parameters"]?["id"] == .string("$response.body#/id"))
        #expect(stablePaths["/api/v1/webhooks/{id}"]?["put"]?["parameters"]?.array?.contains { $0["name"] == .string("If-Match") } == true)
        #expect(stablePaths["/api/v1/runs"]?["get"]?["responses"]?["200"]?["headers"]?["Link"] != nil)
        #expect(stable["x-problem-types"]?.array?.count == ProblemType.allCases.count)
        let paths = webPaths

        // Bodies come from the Swift types: required fields and enums are right.
        let createKey = try #require(paths["/api/keys"]?["post"]?["requestBody"]?["content"]?["application/json"]?["schema"])
        #expect(Set(createKey["required"]?.strings ?? []) == ["name", "role"])
        #expect(Set(createKey["properties"]?["role"]?["enum"]?.strings ?? []) == Set(Role.allCases.map(\.rawValue)))
        #expect(createKey["properties"]?["expiresAt"]?["format"] == .string("date-time"))
        let run = try #require(paths["/api/tools/{name}/runs"]?["post"])
        #expect(run["x-portal-rate-class"] == .string("tool-run"))
        // Records that several operations answer with are named components, one type for clients.
        #expect(run["responses"]?["202"]?["content"]?["application/json"]?["schema"]?["$ref"] == .string("#/components/schemas/Run"))
        #expect(stablePaths["/api/v1/runs/{id}"]?["get"]?["responses"]?["200"]?["content"]?["application/json"]?["schema"]?["$ref"] == .string("#/components/schemas/Run"))
        #expect(stable["components"]?["schemas"]?["Run"]?["properties"]?["status"] != nil)
        #expect(stablePaths["/api/v1/runs"]?["get"]?["responses"]?["200"]?["content"]?["application/json"]?["schema"]?["properties"]?["runs"]?["items"]?["$ref"]
            == .string("#/components/schemas/Run"))
        #expect(paths["/healthz"]?["get"]?["x-portal-rate-class"] == nil, "probes are not rate-limited")
        let problem = try #require(web["components"]?["schemas"]?["Problem"])
        let requiredFields = Set(problem["required"]?.strings ?? [])
        #expect(requiredFields.isSuperset(of: ["type", "title", "status", "instance", "requestId"]))
    }

    /// The documents as committed in `Snapshots/openapi.json` (the web client's) and
    /// `Snapshots/openapi-v1.json` (validated by openapi-spec-validator in `make test`; the
    /// Swift SDK is generated from the v1 one). When a route changes, this fails and writes
    /// the new document next to it (`….json.new`) to diff and commit.
    @Test func theDocumentsMatchTheirSnapshots() async throws {
        let (web, stable, _) = try await Self.documents()
        let encoder = JSONEncoder()
        encoder.outputFormatting = [.prettyPrinted, .sortedKeys, .withoutEscapingSlashes]
        for (name, document) in [("openapi.json", web), ("openapi-v1.json", stable)] {
            let path = Self.snapshotPath(name)
            let current = try encoder.encode(document) + Data("\n".utf8)
            let committed = FileManager.default.contents(atPath: path)
            if committed != current {
                try current.write(to: URL(fileURLWithPath: path + ".new"))
                let old = String(decoding: committed ?? Data(), as: UTF8.self).split(separator: "\n", omittingEmptySubsequences: false)
                let new = String(decoding: current, as: UTF8.self).split(separator: "\n", omittingEmptySubsequences: false)
                let first = zip(old, new).enumerated().first { $0.element.0 != $0.element.1 }?.offset ?? min(old.count, new.count)
                Issue.record("""
                    The API changed; review and commit the new document: \
                    diff -u Tests/WebTests/Snapshots/\(name){,.new} && mv Tests/WebTests/Snapshots/\(name){.new,}
                    First difference at line \(first + 1):
                    - \(first < old.count ? old[first] : "(end)")
                    + \(first < new.count ? new[first] : "(end)")
                    """)
            }
        }
    }
}
