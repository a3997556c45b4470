import Foundation
import KV
import Testing
@testable import Portal

/// The OAuth server's rules with the clock in the test's hand: which redirect URIs register,
/// PKCE, single-use and short-lived codes, tokens bound to their resource and their hour,
/// refresh rotation and reuse, and grants that end with their key or the person's access.
@Suite struct OAuthServerTests {
    static let resource = "https://portal.example/mcp"

    struct World {
        let core: PortalCore
        let clock: ManualClock
        let olga: Principal
        let root: Principal

        init() async throws {
            let directory = FileManager.default.temporaryDirectory.appendingPathComponent("portal-oauth-\(UUID().uuidString)").path
            var options = KV.Environment.Options()
            options.syncOnCommit = false
            clock = ManualClock(Date(timeIntervalSince1970: 1_800_000_000))
            core = try await PortalCore(environment: try KV.Environment(directory: directory, options: options),
                                        passwordHasher: PasswordHasher(iterations: 1_000), clock: clock)
            _ = try await core.bootstrap(adminUsername: "root", adminPassword: "root-password-1")
            let rootUser = try #require(try core.accounts.user(named: "root"))
            root = Principal(user: rootUser, organizationID: nil, role: nil, sessionKey: nil, csrfToken: nil)
            let organization = try await core.organizations.create(slug: "acme", displayName: "Acme", by: root)
            let user = try await core.organizations.createMember(username: "olga", displayName: "Olga", password: "olga-password-1",
                                                                 role: .operator, in: organization.id, by: root)
            olga = Principal(user: user, organizationID: organization.id, role: .operator, sessionKey: nil, csrfToken: nil)
        }

        /// A registered client, a verifier and the code of olga's consent.
        func consent(redirect: String = "http://127.0.0.1:7000/cb") async throws -> (client: OAuthClient, verifier: String, code: String) {
            let client = try await core.oauth.register(name: "Agent", redirectURIs: [redirect])
            let verifier = String(repeating: "v", count: 50)
            let challenge = Crypto.sha256(Array(verifier.utf8)).base64URL
            let request = try await core.oauth.begin(clientID: client.id, redirectURI: redirect, codeChallenge: challenge, challengeMethod: "S256",
                                                     state: "s", resource: OAuthServerTests.resource, expectedResource: OAuthServerTests.resource)
            let back = try await core.oauth.decide(request.id, approve: true, by: olga, issuer: "https://portal.example")
            let code = try #require(URLComponents(string: back)?.queryItems?.first { $0.name == "code" }?.value)
            return (client, verifier, code)
        }
    }

    @Test func onlyHTTPSAndLoopbackRedirectsRegister() {
        for allowed in ["https://app.example/cb", "http://127.0.0.1:8080/cb", "http://localhost/cb", "http://[::1]:9/cb", "https://app.example/cb?x=1"] {
            #expect(OAuthServer.isAllowedRedirect(allowed), "\(allowed)")
        }
        for refused in ["http://app.example/cb", "http://127.0.0.1.evil.example/cb", "http://user@127.0.0.1/cb", "https://app.example/cb#frag",
                        "javascript:alert(1)", "custom://cb", "https://", "https://app.example/c b"] {
            #expect(!OAuthServer.isAllowedRedirect(refused), "\(refused)")
        }
        #expect(OAuthServer.appending([("code", "a b&c"), ("state", "é")], to: "http://x/cb?k=1") == "http://x/cb?k=1&code=a%20b%26c&state=%C3%A9")
    }

    @Test func aCodeIsSingleUseShortLivedAndNeedsItsVerifier() async throws {
        let world = try await World()
        let oauth = world.core.oauth
        var (client, verifier, code) = try await world.consent()
        await #expect(throws: OAuthError.self) {
            try await oauth.exchange(code: code, verifier: String(repeating: "w", count: 50), clientID: client.id, redirectURI: "http://127.0.0.1:7000/cb", resource: nil)
        }
        await #expect(throws: OAuthError.self, "spent by the failed attempt") {
            try await oauth.exchange(code: code, verifier: verifier, clientID: client.id, redirectURI: "http://127.0.0.1:7000/cb", resource: nil)
        }
        (client, verifier, code) = try await world.consent()
        world.clock.advance(by: .seconds(121))
        await #expect(throws: OAuthError.self, "older than two minutes") {
            try await oauth.exchange(code: code, verifier: verifier, clientID: client.id, redirectURI: "http://127.0.0.1:7000/cb", resource: nil)
        }
        (client, verifier, code) = try await world.consent()
        await #expect(throws: OAuthError(code: "invalid_target", description: "resource must be \(Self.resource)")) {
            try await oauth.exchange(code: code, verifier: verifier, clientID: client.id, redirectURI: "http://127.0.0.1:7000/cb", resource: "https://other/mcp")
        }
        #expect(try world.core.apiKeys.list(for: world.olga).isEmpty, "no key without a successful exchange")
    }

    @Test func tokensAreBoundToTheirResourceTheirHourAndTheirGrant() async throws {
        let world = try await World()
        let oauth = world.core.oauth
        let (client, verifier, code) = try await world.consent()
        let grant = try await oauth.exchange(code: code, verifier: verifier, clientID: client.id, redirectURI: "http://127.0.0.1:7000/cb", resource: Self.resource)
        let principal = try #require(try await oauth.principal(accessToken: grant.access_token, resource: Self.resource))
        #expect(principal.user.username == "olga" && principal.role == .operator && principal.apiKeyID != nil)
        #expect(try await oauth.principal(accessToken: grant.access_token, resource: "https://elsewhere/mcp") == nil)
        #expect(try await oauth.principal(accessToken: grant.refresh_token, resource: Self.resource) == nil, "a refresh token is no access token")
        let keys = try world.core.apiKeys.list(for: world.olga)
        #expect(keys.map(\.name) == ["Agent (MCP sign-in)"] && keys.first?.oauthClientID == client.id)

        world.clock.advance(by: .seconds(3601))
        #expect(try await oauth.principal(accessToken: grant.access_token, resource: Self.resource) == nil, "an hour at most")
        let refreshed = try await oauth.refresh(token: grant.refresh_token, clientID: client.id)
        #expect(try await oauth.principal(accessToken: refreshed.access_token, resource: Self.resource) != nil)
        await #expect(throws: OAuthError.self) { try await oauth.refresh(token: refreshed.refresh_token, clientID: "oc_someone-else") }

        // The person revokes the key: every token of the grant stops.
        try await world.core.apiKeys.revoke(try #require(keys.first).id, by: world.olga)
        #expect(try await oauth.principal(accessToken: refreshed.access_token, resource: Self.resource) == nil)
        await #expect(throws: OAuthError.self) { try await oauth.refresh(token: refreshed.refresh_token, clientID: client.id) }
    }

    @Test func aRefreshTokenUsedTwiceRevokesTheGrant() async throws {
        let world = try await World()
        let oauth = world.core.oauth
        let (client, verifier, code) = try await world.consent()
        let first = try await oauth.exchange(code: code, verifier: verifier, clientID: client.id, redirectURI: "http://127.0.0.1:7000/cb", resource: nil)
        let second = try await oauth.refresh(token: first.refresh_token, clientID: client.id)
        await #expect(throws: OAuthError.self) { try await oauth.refresh(token: first.refresh_token, clientID: client.id) }
        #expect(try await oauth.principal(accessToken: second.access_token, resource: Self.resource) == nil)
        #expect(try world.core.apiKeys.list(for: world.olga).allSatisfy { $0.revokedAt != nil })
    }

    @Test func requestsNeedPKCEAndAKnownRedirectAndADeniedOneSaysSo() async throws {
        let world = try await World()
        let oauth = world.core.oauth
        let client = try await oauth.register(name: "Agent", redirectURIs: ["https://app.example/cb"])
        await #expect(throws: OAuthError.self) {
            try await oauth.begin(clientID: client.id, redirectURI: "https://app.example/cb", codeChallenge: nil, challengeMethod: nil, state: nil,
                                  resource: nil, expectedResource: Self.resource)
        }
        let challenge = Crypto.sha256(Array("x".utf8)).base64URL
        await #expect(throws: OAuthError.self, "plain PKCE is refused") {
            try await oauth.begin(clientID: client.id, redirectURI: "https://app.example/cb", codeChallenge: challenge, challengeMethod: "plain", state: nil,
                                  resource: nil, expectedResource: Self.resource)
        }
        await #expect(throws: OAuthError.self) {
            try await oauth.begin(clientID: client.id, redirectURI: "https://app.example/other", codeChallenge: challenge, challengeMethod: "S256", state: nil,
                                  resource: nil, expectedResource: Self.resource)
        }
        let request = try await oauth.begin(clientID: client.id, redirectURI: "https://app.example/cb", codeChallenge: challenge, challengeMethod: "S256",
                                            state: "st", resource: nil, expectedResource: Self.resource)
        let back = try await oauth.decide(request.id, approve: false, by: world.olga, issuer: "https://portal.example")
        #expect(back == "https://app.example/cb?error=access_denied&state=st&iss=https%3A%2F%2Fportal.example")
        await #expect(throws: PortalError.self, "a request is answered once") { try await oauth.decide(request.id, approve: true, by: world.olga, issuer: "x") }
        var keyPrincipal = world.olga
        keyPrincipal.apiKeyID = UUID()
        let another = try await oauth.begin(clientID: client.id, redirectURI: "https://app.example/cb", codeChallenge: challenge, challengeMethod: "S256",
                                            state: nil, resource: nil, expectedResource: Self.resource)
        await #expect(throws: PortalError.self, "an API key cannot consent") { try await oauth.decide(another.id, approve: true, by: keyPrincipal, issuer: "x") }
    }
}
