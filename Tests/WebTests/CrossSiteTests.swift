import Foundation
import HTTPTypes
import Hummingbird
import HummingbirdTesting
import KV
@testable import Portal
import Testing
@testable import Web

/// Another site cannot sign a visitor in (login CSRF) or change anything with their cookie:
/// sign-in takes JSON only, and sign-in and every cookie-authenticated change must come from
/// the portal's own origin. Non-browser clients (no `Origin`, no `Sec-Fetch-Site`) and API keys
/// are unaffected. Also: HSTS over https, metrics closed beyond loopback, and what the audit
/// keeps of a refused sign-in.
@Suite struct CrossSiteTests {
    static func signIn(_ client: some TestClientProtocol, contentType: String = "application/json", headers: HTTPFields = [:]) async throws -> (HTTPResponse.Status, String?) {
        var fields = headers
        fields[.contentType] = contentType
        return try await client.execute(uri: "/api/auth/login", method: .post, headers: fields,
                                        body: ByteBuffer(string: #"{"username":"vera","password":"vera-password-1"}"#)) { ($0.status, $0.headers[.setCookie]) }
    }

    @Test func signInRefusesFormsAndOtherSites() async throws {
        let (harness, _) = try await AccessTests.harness()
        try await harness.testLive { client in
            // What a cross-site form can send: text/plain or urlencoded. No session is made.
            for type in ["text/plain", "application/x-www-form-urlencoded", "multipart/form-data; boundary=x"] {
                let (status, cookie) = try await Self.signIn(client, contentType: type)
                #expect(status == .unsupportedMediaType, "\(type)")
                #expect(cookie == nil)
            }
            // JSON from another site: refused by its Origin, or by Sec-Fetch-Site.
            #expect(try await Self.signIn(client, headers: [.origin: "https://evil.example"]).0 == .forbidden)
            #expect(try await Self.signIn(client, headers: [.origin: "null"]).0 == .forbidden)
            #expect(try await Self.signIn(client, headers: [.secFetchSite: "cross-site"]).0 == .forbidden)
            #expect(try await Self.signIn(client, headers: [.secFetchSite: "same-site"]).0 == .forbidden)
            // The portal's own page (the live client reaches it as localhost), or no browser at all.
            #expect(try await Self.signIn(client, headers: [.origin: "http://localhost", .secFetchSite: "same-origin"]).0 == .ok)
            #expect(try await Self.signIn(client, contentType: "application/json; charset=utf-8").0 == .ok)
        }
    }

    @Test func cookieChangesMustComeFromThePortalsOrigin() async throws {
        let (harness, _) = try await AccessTests.harness(options: WebOptions(publicURL: "https://portal.example.com:443/"))
        try await harness.test { client in
            let vera = AccessTests.cookie(try await AccessTests.login(client, "vera", "vera-password-1"))
            var crossSite = vera
            crossSite[.origin] = "https://evil.example"
            let refused = try await AccessTests.json(client, .post, "/api/sessions", auth: crossSite, body: #"{"title":"x"}"#, expect: .forbidden)
            #expect(refused["title"] as? String == "Cross-site request refused")
            var fetchedCrossSite = vera
            fetchedCrossSite[.secFetchSite] = "cross-site"
            _ = try await AccessTests.json(client, .post, "/api/sessions", auth: fetchedCrossSite, body: #"{"title":"x"}"#, expect: .forbidden)
            // The public URL is the origin; the same host over http is another origin.
            var plainHTTP = vera
            plainHTTP[.origin] = "http://portal.example.com"
            _ = try await AccessTests.json(client, .post, "/api/sessions", auth: plainHTTP, body: #"{"title":"x"}"#, expect: .forbidden)
            var own = vera
            own[.origin] = "https://portal.example.com"
            own[.secFetchSite] = "same-origin"
            _ = try await AccessTests.json(client, .post, "/api/sessions", auth: own, body: #"{"title":"x"}"#, expect: .created)
            // Reads are not state changes.
            _ = try await AccessTests.json(client, .get, "/api/me", auth: crossSite, expect: .ok)
        }
    }

    /// An API key is not ambient (a browser never attaches it), so it carries no origin rule.
    @Test func apiKeysAreNotHeldToTheOrigin() async throws {
        let (harness, _) = try await AccessTests.harness()
        try await harness.test { client in
            let admin = AccessTests.cookie(try await AccessTests.login(client, "admin", AccessTests.adminPassword))
            let key = try await APIKeyTests.create(client, admin, name: "ci", role: "viewer")
            _ = try await AccessTests.json(client, .post, "/api/sessions", auth: [.authorization: "Bearer \(key.secret)", .origin: "https://ci.example"],
                                           body: #"{"title":"from CI"}"#, expect: .created)
        }
    }

    @Test func httpsPortalsSendHSTSAndPlainOnesDoNot() async throws {
        for (publicURL, expected) in [("https://portal.example.com", "max-age=31536000"), ("http://127.0.0.1:8080", nil), (nil, nil)] as [(String?, String?)] {
            let harness = try await WebTestHarness(options: WebOptions(publicURL: publicURL))
            try await harness.test { client in
                try await client.execute(uri: "/healthz", method: .get) { response in
                    let sent: String? = response.headers[.strictTransportSecurity]
                    #expect(sent == expected, "\(publicURL ?? "no public URL")")
                }
            }
        }
    }

    /// Without a token, metrics answer only this host (a loopback peer, not forwarded by a
    /// proxy) of a portal that is not published beyond it. Over a real loopback connection.
    @Test func metricsNeedATokenForAnyoneButThisHost() async throws {
        let forwarded: HTTPFields = [.xForwardedFor: "198.51.100.7"]
        let cases: [(WebOptions, HTTPFields, HTTPResponse.Status)] = [
            (WebOptions(), [:], .ok),
            (WebOptions(publicURL: "http://localhost:8080/"), [:], .ok),
            (WebOptions(publicURL: "http://127.0.0.1:8080"), [:], .ok),
            (WebOptions(publicURL: "http://[::1]:8080"), [:], .ok),
            (WebOptions(), forwarded, .unauthorized),
            (WebOptions(), [.forwarded: "for=198.51.100.7"], .unauthorized),
            (WebOptions(publicURL: "https://portal.example.com"), [:], .unauthorized),
            (WebOptions(publicURL: "https://127.0.0.1.example.com"), [:], .unauthorized),
            (WebOptions(publicURL: "https://portal.example.com", anonymousMetrics: true), forwarded, .ok),
            (WebOptions(publicURL: "https://portal.example.com", metricsToken: "t0ken"), [.authorization: "Bearer t0ken"], .ok),
        ]
        for (options, headers, expected) in cases {
            let harness = try await WebTestHarness(options: options)
            try await harness.testLive { client in
                try await client.execute(uri: "/metrics", method: .get, headers: headers) { response in
                    #expect(response.status == expected, "\(options.publicURL ?? "none") \(headers)")
                    if expected == .unauthorized { #expect(String(buffer: response.body).contains("metrics.token")) }
                }
            }
        }
        // In-process requests have no peer at all: not this host either.
        try await WebTestHarness().test { client in
            try await client.execute(uri: "/metrics", method: .get) { #expect($0.status == .unauthorized) }
        }
    }

    /// The public URL's origin is compared as browsers write one: no default port, no
    /// trailing dot, any case.
    @Test func theOriginIsComparedAsBrowsersWriteIt() {
        #expect(SameOrigin.origin(of: "https://Portal.Example.com:443/path") == "https://portal.example.com")
        #expect(SameOrigin.origin(of: "http://portal.example.com.:80") == "http://portal.example.com")
        #expect(SameOrigin.origin(of: "https://portal.example.com:8443/") == "https://portal.example.com:8443")
        #expect(SameOrigin.origin(of: "http://portal.example.com:443") == "http://portal.example.com:443")
        #expect(SameOrigin.origin(of: "null") == nil)
    }

    /// A refused sign-in that names no account keeps a short hash of what was typed (it may be
    /// a password typed into the wrong field), marked unverified; one naming a real account
    /// keeps the account.
    @Test func refusedSignInsNeverStoreWhatWasTypedAsAName() async throws {
        let (harness, _) = try await AccessTests.harness()
        let typed = "Tr0ub4dor&3-my-password"
        try await harness.test { client in
            for (username, password) in [(typed, "anything-else"), ("vera", "wrong-password")] {
                let body = try JSONSerialization.data(withJSONObject: ["username": username, "password": password])
                _ = try await AccessTests.json(client, .post, "/api/auth/login", auth: [:], body: String(decoding: body, as: UTF8.self), expect: .unauthorized)
            }
        }
        let failures = try harness.core.securityEvents.recent().filter { $0.kind == .signInFailed }
        #expect(failures.count == 2)
        let hashed = try harness.core.securityEvents.unverifiedName(typed)
        #expect(hashed.hasPrefix("unverified #") && hashed.count == "unverified #".count + 12)
        #expect(failures.contains { $0.username == hashed && $0.userID == nil })
        #expect(failures.contains { $0.username == "vera" && $0.userID != nil })
        let data = try Data(contentsOf: URL(fileURLWithPath: harness.environment.path + "/data.mdb"))
        #expect(data.range(of: Data(typed.utf8)) == nil)
    }

    /// Only a hash of the session token is stored, and nothing of the CSRF token.
    @Test func csrfTokensAreDerivedNotStored() async throws {
        let (harness, _) = try await AccessTests.harness()
        let session = try await harness.test { client in try await AccessTests.login(client, "vera", "vera-password-1") }
        let token = String(session.cookie.dropFirst("portal_session=".count))
        #expect(session.csrf == Sessions.csrfToken(for: token))
        let data = try Data(contentsOf: URL(fileURLWithPath: harness.environment.path + "/data.mdb"))
        #expect(data.range(of: Data(session.csrf.utf8)) == nil)
        #expect(data.range(of: Data(token.utf8)) == nil)
    }
}
