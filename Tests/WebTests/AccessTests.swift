import Foundation
import HTTPTypes
import Hummingbird
import HummingbirdTesting
import KV
@testable import Portal
import Testing
@testable import Web

/// Sign-in, sessions, CSRF, throttling, and the rule that every route declares who may call
/// it: anonymous callers get 401 and under-privileged ones 403 on every non-public route.
@Suite struct AccessTests {
    struct Me: Decodable {
        struct UserBody: Decodable { let username: String; let isAdministrator: Bool }
        let user: UserBody
        let permissions: [String]
        let csrfToken: String?
    }

    static let adminPassword = "admin-password-1"

    /// A portal with the first administrator (`admin`, with a configured password) and a
    /// viewer (`vera`) in `default`.
    static func harness(options: WebOptions = WebOptions(), signInPolicy: SignInPolicy = SignInPolicy()) async throws -> (WebTestHarness, adminPassword: String) {
        let harness = try await WebTestHarness(options: options, signInPolicy: signInPolicy)
        _ = try #require(try await harness.core.bootstrap(adminUsername: "admin", adminPassword: adminPassword))
        let vera = try await harness.core.accounts.create(username: "vera", displayName: "Vera", password: "vera-password-1")
        let organization = try #require(try harness.core.organizations.organization(slug: "default"))
        try await harness.core.organizations.setRole(.viewer, user: vera.id, in: organization.id)
        return (harness, adminPassword)
    }

    static func login(_ client: some TestClientProtocol, _ username: String, _ password: String, headers: HTTPFields = [:]) async throws -> (cookie: String, csrf: String) {
        var headers = headers
        headers[.contentType] = "application/json"
        return try await client.execute(uri: "/api/auth/login", method: .post, headers: headers,
                                 body: ByteBuffer(string: #"{"username":"\#(username)","password":"\#(password)"}"#)) { response throws in
            #expect(response.status == .ok)
            let setCookie = try #require(response.headers[.setCookie])
            #expect(setCookie.contains("HttpOnly") && setCookie.contains("SameSite=Lax") && setCookie.contains("Path=/"))
            let cookie = String(setCookie.split(separator: ";")[0])
            let me = try JSONDecoder().decode(Me.self, from: Data(buffer: response.body))
            return (cookie, try #require(me.csrfToken))
        }
    }

    /// The explicit public allow-list; everything else must refuse anonymous callers.
    /// (`/metrics` is public unless `metrics.token` is configured; `MetricsTests` covers that.)
    static let publicRoutes: Set<String> = ["GET /healthz", "GET /readyz", "GET /", "GET /assets/{tree}/{entry}", "GET /assets/{tree}/{entry}/{file}", "POST /api/csp-report", "POST /api/auth/login", "GET /api/auth/session", "GET /metrics",
        "GET /api/auth/oidc", "GET /api/auth/oidc/login", "GET /api/auth/oidc/callback", "GET /api/openapi.json", "GET /api/v1/openapi.json",
        // OAuth for MCP clients: metadata, registration, the authorization step, tokens.
        "GET /.well-known/oauth-protected-resource", "GET /.well-known/oauth-protected-resource/mcp", "GET /.well-known/oauth-authorization-server",
        "POST /oauth/register", "GET /oauth/authorize", "POST /oauth/token", "POST /oauth/revoke",
        // Incoming workflow webhooks: a Standard Webhooks signature instead of a principal.
        "POST /api/hooks/workflows/{id}", "POST /api/v1/hooks/workflows/{id}"]

    @Test func everyRouteDeclaresItsAccessAndEnforcesIt() async throws {
        let (harness, _) = try await Self.harness()
        // Every route twice (web client and v1): this test is about access, not request budgets.
        let routes = buildRoutes(core: harness.core, assets: try AssetCatalog(), options: WebOptions(rateLimiting: false))
        let declaredPublic = Set(routes.all.filter { $0.access == .public }.map { "\($0.method.rawValue) \($0.path)" })
        #expect(declaredPublic == Self.publicRoutes)
        #expect(routes.all.count > Self.publicRoutes.count)

        let registered = routes.all
        try await Application(router: routes.router).test(.router) { client in
            let vera = try await Self.login(client, "vera", "vera-password-1")
            for route in registered where route.access != .public {
                let uri = route.path.replacingOccurrences(of: "{file}", with: "x").replacingOccurrences(of: "{id}", with: UUID().uuidString)
                try await client.execute(uri: uri, method: route.method, headers: [.contentType: "application/json"], body: ByteBuffer(string: "{}")) { response throws in
                    #expect(response.status == .unauthorized, "anonymous \(route.method) \(route.path)")
                    #expect(response.headers[.contentType] == "application/problem+json")
                }
                switch route.access {
                case let .permission(permission) where !Role.viewer.permissions.contains(permission): break
                case .systemAdministrator: break
                default: continue
                }
                try await client.execute(uri: uri, method: route.method, headers: [.cookie: vera.cookie, .init("X-CSRF-Token")!: vera.csrf, .contentType: "application/json"], body: ByteBuffer(string: "{}")) { response throws in
                    #expect(response.status == .forbidden, "viewer \(route.method) \(route.path)")
                }
            }
        }
    }

    /// Without a configured provider the single sign-on routes say so: the sign-in page hides
    /// the button, and a browser sent to the flow comes back to the sign-in page with the reason.
    @Test func singleSignOnRoutesBeforeConfiguration() async throws {
        let (harness, _) = try await Self.harness()
        try await harness.test { client in
            try await client.execute(uri: "/api/auth/oidc", method: .get) { response throws in
                #expect(response.status == .ok)
                #expect(String(buffer: response.body) == #"{"enabled":false}"#)
            }
            for uri in ["/api/auth/oidc/login?return_to=/", "/api/auth/oidc/callback?code=c&state=s"] {
                try await client.execute(uri: uri, method: .get) { response throws in
                    #expect(response.status == .found)
                    #expect(response.headers[.location] == "/?sso_error=Single%20sign-on%20is%20not%20configured.")
                    #expect(response.headers[.setCookie] == nil || !response.headers[.setCookie]!.contains("portal_session=") )
                }
            }
        }
    }

    @Test func signInSessionCSRFAndSignOut() async throws {
        let (harness, password) = try await Self.harness()
        try await harness.test { client in
            try await client.execute(uri: "/api/auth/login", method: .post, headers: [.contentType: "application/json"], body: ByteBuffer(string: #"{"username":"admin","password":"wrong"}"#)) { response throws in
                #expect(response.status == .unauthorized)
                #expect(response.headers[.setCookie] == nil)
            }
            try await client.execute(uri: "/api/auth/login", method: .post, headers: [.contentType: "application/json"], body: ByteBuffer(string: "not json")) { response throws in
                #expect(response.status == .badRequest)
            }
            let admin = try await Self.login(client, "admin", password)
            try await client.execute(uri: "/api/me", method: .get, headers: [.cookie: admin.cookie]) { response throws in
                #expect(response.status == .ok)
                let me = try JSONDecoder().decode(Me.self, from: Data(buffer: response.body))
                #expect(me.user.username == "admin" && me.user.isAdministrator)
                #expect(me.permissions.contains("users:manage"))
                #expect(!String(buffer: response.body).contains("pbkdf2"), "no password hash in answers")
            }
            try await client.execute(uri: "/api/users", method: .get, headers: [.cookie: admin.cookie]) { response throws in
                #expect(response.status == .ok)
                #expect(String(buffer: response.body).contains("vera"))
            }
            // A cookie-authenticated state change needs the CSRF token.
            try await client.execute(uri: "/api/auth/logout", method: .post, headers: [.cookie: admin.cookie]) { response throws in
                #expect(response.status == .forbidden)
            }
            try await client.execute(uri: "/api/auth/logout", method: .post, headers: [.cookie: admin.cookie, .init("X-CSRF-Token")!: "forged"]) { response throws in
                #expect(response.status == .forbidden)
            }
            try await client.execute(uri: "/api/auth/logout", method: .post, headers: [.cookie: admin.cookie, .init("X-CSRF-Token")!: admin.csrf]) { response throws in
                #expect(response.status == .noContent)
                #expect(response.headers[.setCookie]?.contains("Max-Age=0") == true)
            }
            try await client.execute(uri: "/api/me", method: .get, headers: [.cookie: admin.cookie]) { response throws in
                #expect(response.status == .unauthorized, "the session ended")
            }
            // Each sign-in gets a new token.
            let first = try await Self.login(client, "vera", "vera-password-1")
            let second = try await Self.login(client, "vera", "vera-password-1")
            #expect(first.cookie != second.cookie)
        }
        // Only hashes of tokens are stored.
        let stored = try harness.environment.read { txn in
            var keys: [String] = []
            try txn.forEach(try harness.environment.expiringTable("sessions", key: StringKey.self, value: RawBytes.self)) { key, _ in
                keys.append(key)
                return true
            }
            return keys
        }
        #expect(stored.count >= 2)
        #expect(stored.allSatisfy { $0.count == 64 && $0.allSatisfy(\.isHexDigit) })
    }

    @Test func repeatedFailuresAreThrottledEvenWithTheRightPassword() async throws {
        let (harness, _) = try await Self.harness()
        try await harness.test { client in
            for _ in 0..<5 {
                try await client.execute(uri: "/api/auth/login", method: .post, headers: [.contentType: "application/json"], body: ByteBuffer(string: #"{"username":"vera","password":"nope"}"#)) { response throws in
                    #expect(response.status == .unauthorized)
                }
            }
            try await client.execute(uri: "/api/auth/login", method: .post, headers: [.contentType: "application/json"], body: ByteBuffer(string: #"{"username":"vera","password":"vera-password-1"}"#)) { response throws in
                #expect(response.status == .tooManyRequests)
                let retry = try #require(response.headers[.retryAfter].flatMap { Int($0) })
                #expect(retry > 0 && retry <= 900)
            }
        }
    }

    static func json(_ client: some TestClientProtocol, _ method: HTTPRequest.Method, _ uri: String, auth: HTTPFields, body: String? = nil,
                     expect status: HTTPResponse.Status, sourceLocation: SourceLocation = #_sourceLocation) async throws -> [String: Any] {
        var headers = auth
        headers[.contentType] = "application/json"
        return try await client.execute(uri: uri, method: method, headers: headers, body: body.map { ByteBuffer(string: $0) }) { response throws in
            #expect(response.status == status, "\(method) \(uri): \(String(buffer: response.body))", sourceLocation: sourceLocation)
            guard response.body.readableBytes > 0 else { return [:] }
            return (try JSONSerialization.jsonObject(with: Data(buffer: response.body)) as? [String: Any]) ?? [:]
        }
    }

    static func cookie(_ session: (cookie: String, csrf: String)) -> HTTPFields {
        [.cookie: session.cookie, .init("X-CSRF-Token")!: session.csrf]
    }

    /// API keys end to end: shown once, stored hashed, capped at the creator's role, scoped to
    /// one organization (another organization's key is a 404), revocable; and the security
    /// events they leave.
    @Test func apiKeysAreScopedCappedAndRevocable() async throws {
        let (harness, password) = try await Self.harness()
        let core = harness.core
        let otto = try await core.accounts.create(username: "otto", displayName: "Otto", password: "otto-password-1")
        let defaultOrganization = try #require(try core.organizations.organization(slug: "default"))
        try await core.organizations.setRole(.operator, user: otto.id, in: defaultOrganization.id)
        try await harness.test { client in
            let admin = Self.cookie(try await Self.login(client, "admin", password))
            let operatorSession = Self.cookie(try await Self.login(client, "otto", "otto-password-1"))

            // An operator cannot mint an admin key, but can mint an operator key, shown once.
            _ = try await Self.json(client, .post, "/api/keys", auth: operatorSession, body: #"{"name":"ci","role":"admin"}"#, expect: .badRequest)
            let created = try await Self.json(client, .post, "/api/keys", auth: operatorSession, body: #"{"name":"ci","role":"operator"}"#, expect: .created)
            let secret = try #require(created["secret"] as? String)
            let keyID = try #require((created["key"] as? [String: Any])?["id"] as? String)
            #expect(secret.hasPrefix("pk_") && secret.count > 40)
            _ = try await Self.json(client, .post, "/api/keys", auth: operatorSession, body: #"{"name":"old","role":"viewer","expiresAt":"2001-01-01T00:00:00Z"}"#, expect: .badRequest)
            _ = try await Self.json(client, .post, "/api/keys", auth: operatorSession, body: #"{"name":"x","role":"superuser"}"#, expect: .badRequest)

            // The key acts with its role: it may read keys, not manage users; no CSRF needed.
            let bearer: HTTPFields = [.authorization: "Bearer \(secret)"]
            let me = try await Self.json(client, .get, "/api/me", auth: bearer, expect: .ok)
            #expect((me["permissions"] as? [String])?.contains("tools:run") == true)
            #expect((me["permissions"] as? [String])?.contains("users:manage") == false)
            let listed = try await Self.json(client, .get, "/api/keys", auth: bearer, expect: .ok)
            #expect(!String(describing: listed).contains(secret), "the secret is never shown again")
            _ = try await Self.json(client, .get, "/api/users", auth: bearer, expect: .forbidden)
            _ = try await Self.json(client, .get, "/api/me", auth: [.authorization: "Bearer pk_forged"], expect: .unauthorized)

            // Another organization's admin cannot see or revoke it: 404, as for a missing key.
            let acme = try await Self.json(client, .post, "/api/orgs", auth: admin, body: #"{"slug":"acme","displayName":"Acme","cloudScope":"ocid1.compartment.oc1..acme"}"#, expect: .created)
            let acmeID = try #require(acme["id"] as? String)
            _ = try await Self.json(client, .post, "/api/orgs", auth: admin, body: #"{"slug":"acme","displayName":"Again"}"#, expect: .conflict)
            let alice = try await core.accounts.create(username: "alice", displayName: "Alice", password: "alice-password-1")
            try await core.organizations.setRole(.admin, user: alice.id, in: UUID(uuidString: acmeID)!)
            let aliceSession = Self.cookie(try await Self.login(client, "alice", "alice-password-1"))
            _ = try await Self.json(client, .delete, "/api/keys/\(keyID)", auth: aliceSession, expect: .notFound)
            _ = try await Self.json(client, .get, "/api/orgs/\(defaultOrganization.id)/members", auth: aliceSession, expect: .notFound)
            _ = try await Self.json(client, .post, "/api/me/organization", auth: aliceSession, body: #"{"organizationID":"\#(defaultOrganization.id)"}"#, expect: .notFound)
            let aliceKeys = try await Self.json(client, .get, "/api/keys", auth: aliceSession, expect: .ok)
            #expect((aliceKeys["keys"] as? [Any])?.isEmpty == true)
            let members = try await Self.json(client, .get, "/api/orgs/\(acmeID)/members", auth: aliceSession, expect: .ok)
            #expect((members["members"] as? [Any])?.count == 1)

            // Its owner's organization revokes it; from then on it is refused.
            _ = try await Self.json(client, .delete, "/api/keys/\(keyID)", auth: operatorSession, expect: .noContent)
            _ = try await Self.json(client, .get, "/api/me", auth: bearer, expect: .unauthorized)
        }
        // Stored: the hash, never the secret; and the events of all this.
        let kinds = Set(try core.securityEvents.recent().map(\.kind))
        #expect(kinds.isSuperset(of: [.signInSucceeded, .keyCreated, .keyRevoked, .roleChanged, .organizationCreated]))
    }

    @Test func demotingACreatorLimitsTheirKeys() async throws {
        let (harness, _) = try await Self.harness()
        let core = harness.core
        let otto = try await core.accounts.create(username: "otto", displayName: "Otto", password: "otto-password-1")
        let organization = try #require(try core.organizations.organization(slug: "default"))
        try await core.organizations.setRole(.operator, user: otto.id, in: organization.id)
        let secret = try await core.apiKeys.create(by: Principal(user: otto, organizationID: organization.id, role: .operator, sessionKey: nil, csrfToken: nil),
                                                   name: "k", role: .operator, expiresAt: nil).secret
        let principal = try #require(try await core.apiKeys.principal(secret: secret))
        #expect(principal.role == .operator)
        // A key cannot mint keys (so no key outlives the one that made it).
        await #expect(throws: PortalError.forbidden("an API key cannot create API keys; sign in to make one")) {
            try await core.apiKeys.create(by: principal, name: "k2", role: .operator, expiresAt: nil)
        }
        try await core.organizations.setRole(.viewer, user: otto.id, in: organization.id)
        #expect(try await core.apiKeys.principal(secret: secret)?.role == .viewer)
        try await core.organizations.setRole(nil, user: otto.id, in: organization.id)
        #expect(try await core.apiKeys.principal(secret: secret) == nil)
    }

    @Test func permissionMatrixIsOrdered() {
        #expect(Role.viewer.permissions.isSubset(of: Role.operator.permissions))
        #expect(Role.operator.permissions.isSubset(of: Role.admin.permissions))
        #expect(Role.admin.permissions == Set(Permission.allCases))
        #expect(!Role.operator.permissions.contains(.approvalsDecide))
        #expect(Permission.allCases.count >= 10)
    }
}
