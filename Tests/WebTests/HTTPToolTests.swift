import Foundation
import HTTPTypes
import Hummingbird
import HummingbirdTesting
import KV
@testable import Portal
import Testing

/// The `http` executor against an API this test serves on 127.0.0.1: templates fill the
/// URL (escaped), headers and body; the credential comes from a sealed secret and never
/// appears in the output; redirects are refused, a slow API times out, a large answer is cut.
@Suite struct HTTPToolTests {
    /// A stand-in for an external API.
    static func api() -> Application<RouterResponder<BasicRequestContext>> {
        let router = Router()
        router.post("/tickets/{queue}") { request, context -> Response in
            let body = try await request.body.collect(upTo: 65536)
            let echo: [String: String] = [
                "queue": context.parameters.get("queue") ?? "",
                "authorization": request.headers[.authorization] ?? "",
                "body": String(buffer: body),
                "query": request.uri.query ?? "",
            ]
            return Response(status: .created, headers: [.contentType: "application/json"],
                            body: .init(byteBuffer: ByteBuffer(bytes: try JSONEncoder().encode(echo))))
        }
        router.get("/items/**") { request, _ -> Response in
            Response(status: .ok, headers: [.contentType: "application/json"],
                     body: .init(byteBuffer: ByteBuffer(bytes: try JSONEncoder().encode(["path": request.uri.path]))))
        }
        router.get("/moved") { _, _ in Response(status: .found, headers: [.location: "https://elsewhere.example/"]) }
        router.get("/slow") { _, _ -> Response in
            try await Task.sleep(for: .seconds(3))  // the slow API being simulated
            return Response(status: .ok)
        }
        router.get("/big") { _, _ in Response(status: .ok, body: .init(byteBuffer: ByteBuffer(repeating: UInt8(ascii: "x"), count: 300_000))) }
        return Application(router: router, configuration: .init(address: .hostname("127.0.0.1", port: 0)))
    }

    static func pack(port: Int) throws -> ToolPack {
        let base = "http://127.0.0.1:\(port)"
        let manifest = #"""
        {"name":"acme","title":"Acme","version":"1","description":"","tools":[
          {"name":"acme.open-ticket","title":"Open a ticket","description":"","category":"ITSM","risk":"low",
           "inputSchema":{"type":"object","required":["queue","summary"],"properties":{"queue":{"type":"string"},"summary":{"type":"string"}}},
           "executor":{"type":"http","request":{"method":"POST","url":"\#(base)/tickets/{{input.queue}}",
             "headers":{"Authorization":"Bearer {{secret.acme.token}}"},
             "body":{"summary":"{{input.summary}}","scope":"{{org.cloudScope}}","tags":["portal"]}}}},
          {"name":"acme.item","title":"Item","description":"","category":"ITSM","risk":"read",
           "inputSchema":{"type":"object","required":["id"],"properties":{"id":{"type":"string"}}},
           "executor":{"type":"http","request":{"url":"\#(base)/items/{{input.id}}/{{org.settings.region}}/{{org.cloudScope}}"}}},
          {"name":"acme.moved","title":"Moved","description":"","category":"ITSM","risk":"read","inputSchema":{"type":"object"},
           "executor":{"type":"http","request":{"url":"\#(base)/moved"}}},
          {"name":"acme.slow","title":"Slow","description":"","category":"ITSM","risk":"read","inputSchema":{"type":"object"},
           "executor":{"type":"http","request":{"url":"\#(base)/slow"}},"limits":{"timeoutSeconds":1,"maxOutputBytes":1000}},
          {"name":"acme.big","title":"Big","description":"","category":"ITSM","risk":"read","inputSchema":{"type":"object"},
           "executor":{"type":"http","request":{"url":"\#(base)/big"}},"limits":{"timeoutSeconds":10,"maxOutputBytes":100000}}
        ]}
        """#
        return try JSONDecoder().decode(ToolPack.self, from: Data(manifest.utf8))
    }

    @Test func httpToolsUseSealedCredentialsAndStayWithinBounds() async throws {
        try await Self.api().test(.live) { client in
            let port = try #require(client.port)
            let directory = FileManager.default.temporaryDirectory.appendingPathComponent("portal-http-\(UUID().uuidString)").path
            let core = try await PortalCore(environment: try KV.Environment(directory: directory), passwordHasher: PasswordHasher(iterations: 1_000))
            _ = try await core.bootstrap(adminUsername: "root", adminPassword: "root-password-1")
            let root = try #require(try core.accounts.user(named: "root"))
            let organization = try await core.organizations.create(slug: "acme-corp", displayName: "Acme", cloudScope: "ocid1.compartment.oc1..acme",
                                                                   settings: ["region": "eu/../admin?x"])
            let principal = Principal(user: root, organizationID: organization.id, role: .admin, sessionKey: nil, csrfToken: nil)
            try await core.tools.install(try Self.pack(port: port), by: principal)
            try await core.tools.setEnabled(true, pack: "acme", by: principal)
            let token = "s3cret-api-token-value"
            try await core.toolSecrets.set("acme.token", to: token, in: organization.id, by: principal)

            func run(_ tool: String, _ input: JSONAny = .object([:])) async throws -> ToolRun {
                try await core.runs.request(.init(principal: principal, tool: tool, input: input, entryPoint: .api, requestID: "r"))
            }

            let ticket = try await run("acme.open-ticket", .object(["queue": .string("ops/../admin?x=1"), "summary": .string("disk \"full\"")]))
            #expect(ticket.status == .succeeded, "\(ticket.output?.error ?? "")")
            let echo = try #require(ticket.output?.json)
            // Input in the path is escaped: it stays one segment and cannot climb or add a query.
            #expect(echo["queue"] == .string("ops%2F..%2Fadmin%3Fx%3D1"))
            #expect(echo["query"] == .string(""))
            let body = try #require(JSONAny(json: Array((echo["body"]?.string ?? "").utf8)))
            #expect(body == .object(["summary": .string("disk \"full\""), "scope": .string("ocid1.compartment.oc1..acme"), "tags": .array([.string("portal")])]))
            // The API received the credential; the run's output never shows it.
            #expect(echo["authorization"] == .string("Bearer [secret]"))
            #expect(ticket.output?.text.contains(token) == false)
            let audit = try core.audit.page(limit: 100) { _ in true }
            #expect(!audit.contains { String(decoding: try! JSONEncoder().encode($0), as: UTF8.self).contains(token) })

            // Every value in a URL stays in its segment: input, organization settings and scope,
            // and "." and ".." too (which a client or server would resolve as directories).
            for (id, segment) in [("..", "%2E%2E"), (".", "%2E"), ("a b/c", "a%20b%2Fc")] {
                let item = try await run("acme.item", .object(["id": .string(id)]))
                #expect(item.status == .succeeded, "\(id): \(item.output?.error ?? "")")
                #expect(item.output?.json?["path"] == .string("/items/\(segment)/eu%2F..%2Fadmin%3Fx/ocid1.compartment.oc1..acme"), "\(id): \(item.output?.text ?? "")")
            }

            let moved = try await run("acme.moved")
            #expect(moved.status == .failed && moved.output?.error.contains("redirect") == true)
            let slow = try await run("acme.slow")
            #expect(slow.status == .failed && slow.output?.error.contains("did not answer within 1 s") == true, "\(slow.output?.error ?? "")")
            let big = try await run("acme.big")
            #expect(big.status == .failed && big.output?.error.contains("more than 100000 bytes") == true, "\(big.output?.error ?? "")")

            // Without the secret the tool fails clearly and sends nothing.
            try await core.toolSecrets.delete("acme.token", in: organization.id, by: principal)
            let unsent = try await run("acme.open-ticket", .object(["queue": .string("ops"), "summary": .string("x")]))
            #expect(unsent.status == .failed && unsent.output?.error.contains("secret 'acme.token' is not set for the organization 'acme-corp'") == true)
        }
    }
}
