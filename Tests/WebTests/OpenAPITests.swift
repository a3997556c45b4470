import Foundation
import Hummingbird
import HummingbirdTesting
import Portal
import Testing
@testable import Web

/// The OpenAPI document is built from the route specs: every route is in it with its access
/// and body schemas, and a snapshot shows any change to the API in review.
@Suite struct OpenAPITests {
    static let snapshotPath = URL(fileURLWithPath: #filePath).deletingLastPathComponent().appendingPathComponent("Snapshots/openapi.json").path

    static func document() async throws -> (JSONAny, [RouteSpec], [UInt8]) {
        let harness = try await WebTestHarness()
        let routes = buildRoutes(core: harness.core, assets: try AssetCatalog(), options: harness.options)
        let bytes = try await Application(router: routes.router).test(.router) { client in
            try await client.execute(uri: "/api/openapi.json", method: .get) { response in
                #expect(response.status == .ok)
                #expect(response.headers[.contentType] == "application/json")
                return Array(buffer: response.body)
            }
        }
        return (try #require(JSONAny(json: bytes)), routes.all, bytes)
    }

    @Test func everyRouteIsDescribedWithItsAccessAndBodies() async throws {
        let (document, routes, _) = try await Self.document()
        #expect(document["openapi"] == .string("3.1.0"))
        let paths = try #require(document["paths"]?.object)
        var operationIDs: Set<String> = []
        for route in routes {
            let operation = try #require(paths[route.path]?[route.method.rawValue.lowercased()], "\(route.method) \(route.path) is missing")
            let id = try #require(operation["operationId"]?.string)
            #expect(operationIDs.insert(id).inserted, "operation ids are unique: \(id)")
            #expect(operation["x-portal-access"] == .string(OpenAPIDocument.accessName(route.access)))
            #expect(operation["responses"]?["default"]?["$ref"] == .string("#/components/responses/Problem"), "errors are problem details")
            #expect((operation["security"]?.array?.isEmpty == true) == (route.access == .public))
            if route.doc.requestBody != nil {
                #expect(operation["requestBody"]?["content"]?["application/json"]?["schema"]?["type"] == .string("object"), "\(id) has its body schema")
            }
            for name in OpenAPIDocument.pathParameters(route.path) {
                #expect(operation["parameters"]?.array?.contains { $0["name"] == .string(name) && $0["in"] == .string("path") } == true)
            }
        }
        #expect(paths.values.map { $0.object?.count ?? 0 }.reduce(0, +) == routes.count, "nothing but the routes")

        // Bodies come from the Swift types: required fields and enums are right.
        let createKey = try #require(paths["/api/keys"]?["post"]?["requestBody"]?["content"]?["application/json"]?["schema"])
        #expect(Set(createKey["required"]?.strings ?? []) == ["name", "role"])
        #expect(Set(createKey["properties"]?["role"]?["enum"]?.strings ?? []) == Set(Role.allCases.map(\.rawValue)))
        #expect(createKey["properties"]?["expiresAt"]?["format"] == .string("date-time"))
        let run = try #require(paths["/api/tools/{name}/runs"]?["post"])
        #expect(run["x-portal-rate-class"] == .string("tool-run"))
        #expect(run["responses"]?["202"]?["content"]?["application/json"]?["schema"]?["properties"]?["status"] != nil)
        #expect(paths["/healthz"]?["get"]?["x-portal-rate-class"] == nil, "probes are not rate-limited")
        let problem = try #require(document["components"]?["schemas"]?["Problem"])
        let requiredFields = Set(problem["required"]?.strings ?? [])
        #expect(requiredFields.isSuperset(of: ["type", "title", "status", "instance", "requestId"]))
    }

    /// The document as committed in `Snapshots/openapi.json` (validated by
    /// openapi-spec-validator in `make test`). When a route changes, this fails and writes the
    /// new document next to it (`openapi.json.new`) to diff and commit.
    @Test func theDocumentMatchesItsSnapshot() async throws {
        let (document, _, _) = try await Self.document()
        let encoder = JSONEncoder()
        encoder.outputFormatting = [.prettyPrinted, .sortedKeys, .withoutEscapingSlashes]
        let current = try encoder.encode(document) + Data("\n".utf8)
        let committed = FileManager.default.contents(atPath: Self.snapshotPath)
        if committed != current {
            try current.write(to: URL(fileURLWithPath: Self.snapshotPath + ".new"))
            let old = String(decoding: committed ?? Data(), as: UTF8.self).split(separator: "\n", omittingEmptySubsequences: false)
            let new = String(decoding: current, as: UTF8.self).split(separator: "\n", omittingEmptySubsequences: false)
            let first = zip(old, new).enumerated().first { $0.element.0 != $0.element.1 }?.offset ?? min(old.count, new.count)
            Issue.record("""
                The API changed; review and commit the new document: \
                diff -u Tests/WebTests/Snapshots/openapi.json{,.new} && mv Tests/WebTests/Snapshots/openapi.json{.new,}
                First difference at line \(first + 1):
                - \(first < old.count ? old[first] : "(end)")
                + \(first < new.count ? new[first] : "(end)")
                """)
        }
    }
}
