import Foundation
import HTTPTypes
import Hummingbird
import HummingbirdTesting
import KV
@testable import Portal
import Testing
@testable import Web

/// Passwords can be changed (ending every other session), reset by those allowed to, and a
/// one-time password lets its session do nothing but change it or sign out.
@Suite struct PasswordTests {
    static func change(_ client: some TestClientProtocol, _ auth: HTTPFields, current: String, new: String, expect status: HTTPResponse.Status) async throws -> [String: Any] {
        let body = try JSONSerialization.data(withJSONObject: ["currentPassword": current, "newPassword": new])
        return try await AccessTests.json(client, .post, "/api/me/password", auth: auth, body: String(decoding: body, as: UTF8.self), expect: status)
    }

    @Test func changingAPasswordEndsEveryOtherSession() async throws {
        let (harness, _) = try await AccessTests.harness()
        try await harness.test { client in
            let laptop = AccessTests.cookie(try await AccessTests.login(client, "vera", "vera-password-1"))
            let phone = AccessTests.cookie(try await AccessTests.login(client, "vera", "vera-password-1"))
            let wrong = try await Self.change(client, laptop, current: "not-my-password", new: "a-much-better-one-9", expect: .badRequest)
            #expect((wrong["detail"] as? String)?.contains("current password is wrong") == true)
            for (weak, reason) in [("short", "10–1024"), ("aaaaaaaaaaaa", "five different"), ("password123", "most common"), ("vera-password-1", "differ")] {
                let refused = try await Self.change(client, laptop, current: "vera-password-1", new: weak, expect: .badRequest)
                #expect((refused["detail"] as? String)?.contains(reason) == true, "\(weak): \(refused)")
            }
            // Wrong current passwords count as failed sign-ins: five, and the sixth waits.
            for _ in 0..<4 { _ = try await Self.change(client, laptop, current: "a-guess-at-it", new: "a-much-better-one-9", expect: .badRequest) }
            _ = try await Self.change(client, laptop, current: "vera-password-1", new: "correct horse battery", expect: .tooManyRequests)
            harness.clock.advance(by: .seconds(15 * 60))
            let changed = try await Self.change(client, laptop, current: "vera-password-1", new: "correct horse battery", expect: .ok)
            #expect(changed["otherSessionsEnded"] as? Int == 1)
            _ = try await AccessTests.json(client, .get, "/api/me", auth: laptop, expect: .ok)
            _ = try await AccessTests.json(client, .get, "/api/me", auth: phone, expect: .unauthorized)
            _ = try await AccessTests.json(client, .post, "/api/auth/login", auth: [:], body: #"{"username":"vera","password":"vera-password-1"}"#, expect: .unauthorized)
            _ = try await AccessTests.login(client, "vera", "correct horse battery")
        }
        let kinds = try harness.core.securityEvents.recent().map(\.kind)
        #expect(kinds.contains(.passwordChanged) && kinds.contains(.passwordChangeFailed))
    }

    @Test func aOneTimePasswordAllowsOnlyItsChange() async throws {
        let harness = try await WebTestHarness()
        let first = try #require(try await harness.core.bootstrap(adminUsername: "admin", adminPassword: nil))
        let oneTime = try #require(first.oneTimePassword)
        try await harness.test { client in
            let admin = AccessTests.cookie(try await AccessTests.login(client, "admin", oneTime))
            let me = try await AccessTests.json(client, .get, "/api/me", auth: admin, expect: .ok)
            #expect((me["user"] as? [String: Any])?["mustChangePassword"] as? Bool == true)
            for (method, uri) in [(HTTPRequest.Method.get, "/api/tools"), (.get, "/api/users"), (.post, "/api/keys"), (.get, "/api/events"), (.post, "/api/orgs")] {
                let refused = try await AccessTests.json(client, method, uri, auth: admin, body: "{}", expect: .forbidden)
                #expect(refused["title"] as? String == "Password change required", "\(method) \(uri)")
            }
            _ = try await Self.change(client, admin, current: oneTime, new: "my own admin password", expect: .ok)
            _ = try await AccessTests.json(client, .get, "/api/users", auth: admin, expect: .ok)
            let after = try await AccessTests.json(client, .get, "/api/me", auth: admin, expect: .ok)
            #expect((after["user"] as? [String: Any])?["mustChangePassword"] as? Bool == false)
        }
    }

    /// A reset issues a one-time password and ends the person's sessions. An organization's
    /// admin resets only someone who belongs to that organization alone and is not a system
    /// administrator; system administrators reset anyone else.
    @Test func resetsAreForThoseAllowedAndEndEverySession() async throws {
        let (harness, _) = try await AccessTests.harness()
        let core = harness.core
        let defaultOrganization = try #require(try core.organizations.organization(slug: "default"))
        let acme = try await core.organizations.create(slug: "acme", displayName: "Acme")
        let ada = try await core.accounts.create(username: "ada", displayName: "Ada", password: "ada-password-1")
        try await core.organizations.setRole(.admin, user: ada.id, in: defaultOrganization.id)
        let both = try await core.accounts.create(username: "both", displayName: "In two", password: "both-password-1")
        try await core.organizations.setRole(.viewer, user: both.id, in: defaultOrganization.id)
        try await core.organizations.setRole(.viewer, user: both.id, in: acme.id)
        let stranger = try await core.accounts.create(username: "stranger", displayName: "Acme only", password: "stranger-password-1")
        try await core.organizations.setRole(.viewer, user: stranger.id, in: acme.id)
        let vera = try #require(try core.accounts.user(named: "vera"))
        let root = try #require(try core.accounts.user(named: "admin"))
        let kim = try await core.accounts.create(username: "kim", displayName: "Kim", password: "kim-password-1")
        try await core.organizations.setRole(.operator, user: kim.id, in: defaultOrganization.id)
        let kimsKey = try await core.apiKeys.create(by: Principal(user: kim, organizationID: defaultOrganization.id, role: .operator, sessionKey: nil, csrfToken: nil),
                                                    name: "kim's", role: .operator, expiresAt: nil).secret

        try await harness.test { client in
            let adaSession = AccessTests.cookie(try await AccessTests.login(client, "ada", "ada-password-1"))
            let veraSession = AccessTests.cookie(try await AccessTests.login(client, "vera", "vera-password-1"))
            let reset = try await AccessTests.json(client, .post, "/api/users/\(vera.id)/password-reset", auth: adaSession, expect: .ok)
            let oneTime = try #require(reset["oneTimePassword"] as? String)
            #expect(oneTime.count == 20)
            _ = try await AccessTests.json(client, .get, "/api/me", auth: veraSession, expect: .unauthorized)
            _ = try await AccessTests.json(client, .post, "/api/auth/login", auth: [:], body: #"{"username":"vera","password":"vera-password-1"}"#, expect: .unauthorized)
            let veraAgain = AccessTests.cookie(try await AccessTests.login(client, "vera", oneTime))
            _ = try await AccessTests.json(client, .get, "/api/tools", auth: veraAgain, expect: .forbidden)

            // Not for an organization admin: a system administrator, someone of another
            // organization (a 404, as for no one), someone who also belongs elsewhere, oneself.
            _ = try await AccessTests.json(client, .post, "/api/users/\(root.id)/password-reset", auth: adaSession, expect: .forbidden)
            _ = try await AccessTests.json(client, .post, "/api/users/\(stranger.id)/password-reset", auth: adaSession, expect: .notFound)
            let twoOrganizations = try await AccessTests.json(client, .post, "/api/users/\(both.id)/password-reset", auth: adaSession, expect: .forbidden)
            #expect((twoOrganizations["detail"] as? String)?.contains("another organization") == true)
            _ = try await AccessTests.json(client, .post, "/api/users/\(ada.id)/password-reset", auth: adaSession, expect: .forbidden)
            // A reset revokes the person's API keys: the credentials may be someone else's now.
            _ = try await AccessTests.json(client, .get, "/api/me", auth: [.authorization: "Bearer \(kimsKey)"], expect: .ok)
            _ = try await AccessTests.json(client, .post, "/api/users/\(kim.id)/password-reset", auth: adaSession, expect: .ok)
            _ = try await AccessTests.json(client, .get, "/api/me", auth: [.authorization: "Bearer \(kimsKey)"], expect: .unauthorized)
            // A system administrator may.
            let rootSession = AccessTests.cookie(try await AccessTests.login(client, "admin", AccessTests.adminPassword))
            _ = try await AccessTests.json(client, .post, "/api/users/\(both.id)/password-reset", auth: rootSession, expect: .ok)
            _ = try await AccessTests.json(client, .post, "/api/users/\(UUID())/password-reset", auth: rootSession, expect: .notFound)
        }
        #expect(try core.securityEvents.recent().filter { $0.kind == .passwordReset }.count == 3)
    }
}
