import Foundation
import HTTPTypes
import Hummingbird
import HummingbirdTesting
import KV
import Portal
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

    /// A portal with the first administrator (`admin`) and a viewer (`vera`) in `default`.
    static func harness() async throws -> (WebTestHarness, adminPassword: String) {
        let harness = try await WebTestHarness()
        let admin = try #require(try await harness.core.bootstrap(adminUsername: "admin", adminPassword: nil))
        let vera = try await harness.core.accounts.create(username: "vera", displayName: "Vera", password: "vera-password-1")
        let organization = try #require(try harness.core.organizations.organization(slug: "default"))
        try await harness.core.organizations.setRole(.viewer, user: vera.id, in: organization.id)
        return (harness, try #require(admin.oneTimePassword))
    }

    static func login(_ client: some TestClientProtocol, _ username: String, _ password: String) async throws -> (cookie: String, csrf: String) {
        try await client.execute(uri: "/api/auth/login", method: .post, headers: [.contentType: "application/json"],
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
    static let publicRoutes: Set<String> = ["GET /healthz", "GET /readyz", "GET /", "GET /assets/{file}", "POST /api/csp-report", "POST /api/auth/login"]

    @Test func everyRouteDeclaresItsAccessAndEnforcesIt() async throws {
        let (harness, _) = try await Self.harness()
        let routes = buildRoutes(core: harness.core, assets: try AssetCatalog())
        let declaredPublic = Set(routes.all.filter { $0.access == .public }.map { "\($0.method.rawValue) \($0.path)" })
        #expect(declaredPublic == Self.publicRoutes)
        #expect(routes.all.count > Self.publicRoutes.count)

        let registered = routes.all
        try await Application(router: routes.router).test(.router) { client in
            let vera = try await Self.login(client, "vera", "vera-password-1")
            for route in registered where route.access != .public {
                let uri = route.path.replacingOccurrences(of: "{file}", with: "x")
                try await client.execute(uri: uri, method: route.method, headers: [.contentType: "application/json"], body: ByteBuffer(string: "{}")) { response throws in
                    #expect(response.status == .unauthorized, "anonymous \(route.method) \(route.path)")
                    #expect(response.headers[.contentType] == "application/problem+json")
                }
                guard case let .permission(permission) = route.access, !Role.viewer.permissions.contains(permission) else { continue }
                try await client.execute(uri: uri, method: route.method, headers: [.cookie: vera.cookie, .init("X-CSRF-Token")!: vera.csrf, .contentType: "application/json"], body: ByteBuffer(string: "{}")) { response throws in
                    #expect(response.status == .forbidden, "viewer \(route.method) \(route.path)")
                }
            }
        }
    }

    @Test func signInSessionCSRFAndSignOut() async throws {
        let (harness, password) = try await Self.harness()
        try await harness.test { client in
            try await client.execute(uri: "/api/auth/login", method: .post, body: ByteBuffer(string: #"{"username":"admin","password":"wrong"}"#)) { response throws in
                #expect(response.status == .unauthorized)
                #expect(response.headers[.setCookie] == nil)
            }
            try await client.execute(uri: "/api/auth/login", method: .post, body: ByteBuffer(string: "not json")) { response throws in
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
                try await client.execute(uri: "/api/auth/login", method: .post, body: ByteBuffer(string: #"{"username":"vera","password":"nope"}"#)) { response throws in
                    #expect(response.status == .unauthorized)
                }
            }
            try await client.execute(uri: "/api/auth/login", method: .post, body: ByteBuffer(string: #"{"username":"vera","password":"vera-password-1"}"#)) { response throws in
                #expect(response.status == .tooManyRequests)
                let retry = try #require(response.headers[.retryAfter].flatMap { Int($0) })
                #expect(retry > 0 && retry <= 900)
            }
        }
    }

    @Test func permissionMatrixIsOrdered() {
        #expect(Role.viewer.permissions.isSubset(of: Role.operator.permissions))
        #expect(Role.operator.permissions.isSubset(of: Role.admin.permissions))
        #expect(Role.admin.permissions == Set(Permission.allCases))
        #expect(!Role.operator.permissions.contains(.approvalsDecide))
        #expect(Permission.allCases.count >= 10)
    }
}
