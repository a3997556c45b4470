import Foundation
import HTTPTypes
import Hummingbird
import HummingbirdTesting
import KV
@testable import Portal
import Testing
@testable import Web

/// The web client's first questions: who is signed in (answered 200 when nobody is, so a
/// signed-out page logs no error), and the administrators' first-run checklist, ticked from
/// the portal's real state.
@Suite struct SetupTests {
    @Test func theSessionProbeAnswers200SignedInOrNot() async throws {
        let (harness, password) = try await AccessTests.harness()
        try await harness.test { client in
            try await client.execute(uri: "/api/auth/session", method: .get) { response throws in
                #expect(response.status == .ok)
                #expect(response.headers[.cacheControl] == "no-store")
                #expect(try ToolRoutesTests.json(response) == .object(["signedIn": .bool(false)]))
            }
            let admin = try await AccessTests.login(client, "admin", password)
            try await client.execute(uri: "/api/auth/session", method: .get, headers: [.cookie: admin.cookie]) { response throws in
                let body = try ToolRoutesTests.json(response)
                #expect(body["signedIn"] == .bool(true))
                #expect(body["me"]?["user"]?["username"] == .string("admin"))
                #expect(body["me"]?["csrfToken"] == .string(admin.csrf))
                #expect(body["me"]?["permissions"]?.strings?.contains("admin") == true)
            }
            // An ended session is signed out, not an error.
            try await client.execute(uri: "/api/auth/logout", method: .post, headers: [.cookie: admin.cookie, HTTPField.Name("X-CSRF-Token")!: admin.csrf]) {
                #expect($0.status == .noContent)
            }
            try await client.execute(uri: "/api/auth/session", method: .get, headers: [.cookie: admin.cookie]) { response throws in
                #expect(response.status == .ok)
                #expect(try ToolRoutesTests.json(response)["signedIn"] == .bool(false))
            }
        }
    }

    @Test func theChecklistTicksFromRealStateAndIsForAdministrators() async throws {
        let harness = try await WebTestHarness()
        // A first start as `portal serve` makes it: the administrator has a one-time password.
        let oneTimePassword = try #require(try await harness.core.bootstrap(adminUsername: "root", adminPassword: nil)?.oneTimePassword)
        try await harness.test { client in
            func items(_ session: ToolRoutesTests.Session) async throws -> [String: Bool] {
                try await client.execute(uri: "/api/setup", method: .get, headers: session.headers) { response throws in
                    #expect(response.status == .ok)
                    var done: [String: Bool] = [:]
                    for item in try ToolRoutesTests.json(response)["items"]?.array ?? [] { done[item["id"]!.string!] = item["done"]?.bool }
                    return done
                }
            }
            let (cookie, csrf) = try await AccessTests.login(client, "root", oneTimePassword)
            var root = ToolRoutesTests.Session(cookie: cookie, csrf: csrf)
            try await client.execute(uri: "/api/setup", method: .get, headers: root.headers) { #expect($0.status == .forbidden, "the one-time password comes first") }
            try await client.execute(uri: "/api/me/password", method: .post, headers: root.headers,
                                     body: ByteBuffer(string: #"{"currentPassword":"\#(oneTimePassword)","newPassword":"root-password-1"}"#)) { #expect($0.status == .ok) }
            root = try await ToolRoutesTests.signIn(client, "root")
            #expect(try await items(root) == ["password": true, "packs": false, "people": false, "model": false, "api-key": false])

            try await client.execute(uri: "/api/packs/host/enabled", method: .post, headers: root.headers, body: ByteBuffer(string: #"{"enabled":true}"#)) { #expect($0.status == .noContent) }
            try await client.execute(uri: "/api/users", method: .post, headers: root.headers,
                                     body: ByteBuffer(string: #"{"username":"vera","password":"vera-password-1","role":"viewer"}"#)) { #expect($0.status == .created) }
            try await client.execute(uri: "/api/keys", method: .post, headers: root.headers, body: ByteBuffer(string: #"{"name":"ci","role":"operator"}"#)) { #expect($0.status == .created) }
            #expect(try await items(root) == ["password": true, "packs": true, "people": true, "model": false, "api-key": true])

            // A viewer gets no checklist.
            let vera = try await ToolRoutesTests.signIn(client, "vera")
            try await client.execute(uri: "/api/setup", method: .get, headers: vera.headers) { #expect($0.status == .forbidden) }

            // Another organization counts its own people; an admin given a one-time password
            // there (a reset) is still to do.
            try await client.execute(uri: "/api/orgs", method: .post, headers: root.headers,
                                     body: ByteBuffer(string: #"{"slug":"acme","displayName":"Acme","cloudScope":""}"#)) { #expect($0.status == .created) }
            let acme = try #require(try harness.core.organizations.organization(slug: "acme"))
            try await client.execute(uri: "/api/me/organization", method: .post, headers: root.headers,
                                     body: ByteBuffer(string: #"{"organizationID":"\#(acme.id)"}"#)) { #expect($0.status == .noContent) }
            #expect(try await items(root)["people"] == false, "vera is in the default organization, not here")
            try await client.execute(uri: "/api/users", method: .post, headers: root.headers,
                                     body: ByteBuffer(string: #"{"username":"ada","password":"ada-password-1","role":"admin"}"#)) { #expect($0.status == .created) }
            let ada = try #require(try harness.core.accounts.user(named: "ada"))
            try await client.execute(uri: "/api/users/\(ada.id)/password-reset", method: .post, headers: root.headers) { #expect($0.status == .ok) }
            let acmeItems = try await items(root)
            #expect(acmeItems["people"] == false, "one member is not yet people")
            #expect(acmeItems["password"] == false, "ada must still choose her own password")
            try await client.execute(uri: "/api/users", method: .post, headers: root.headers,
                                     body: ByteBuffer(string: #"{"username":"olga","password":"olga-password-1","role":"operator"}"#)) { #expect($0.status == .created) }
            #expect(try await items(root)["people"] == true)
        }
    }
}
