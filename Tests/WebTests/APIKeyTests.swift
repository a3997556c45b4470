import Foundation
import HTTPTypes
import Hummingbird
import HummingbirdTesting
import KV
@testable import Portal
import Testing
@testable import Web

/// API keys: expiry by the portal's clock, no secret in the data file, who may list and
/// revoke them, no keys minted by keys, and unknown keys paid for by the address.
@Suite struct APIKeyTests {
    typealias Fields = HTTPFields

    /// The admin, vera (viewer) and otto (operator) in `default`, signed in.
    static func signedIn(_ client: some TestClientProtocol, _ harness: WebTestHarness) async throws -> (admin: Fields, otto: Fields) {
        let otto = try await harness.core.accounts.create(username: "otto", displayName: "Otto", password: "otto-password-1")
        let organization = try #require(try harness.core.organizations.organization(slug: "default"))
        try await harness.core.organizations.setRole(.operator, user: otto.id, in: organization.id)
        return (AccessTests.cookie(try await AccessTests.login(client, "admin", AccessTests.adminPassword)),
                AccessTests.cookie(try await AccessTests.login(client, "otto", "otto-password-1")))
    }

    static func create(_ client: some TestClientProtocol, _ auth: Fields, name: String, role: String = "operator", expiresAt: String? = nil,
                       expect status: HTTPResponse.Status = .created) async throws -> (id: String, secret: String) {
        let expiry = expiresAt.map { #","expiresAt":"\#($0)""# } ?? ""
        let created = try await AccessTests.json(client, .post, "/api/keys", auth: auth, body: #"{"name":"\#(name)","role":"\#(role)"\#(expiry)}"#, expect: status)
        return ((created["key"] as? [String: Any])?["id"] as? String ?? "", created["secret"] as? String ?? "")
    }

    @Test func aKeyStopsWorkingAtItsExpiry() async throws {
        let (harness, _) = try await AccessTests.harness()
        try await harness.test { client in
            let (_, otto) = try await Self.signedIn(client, harness)
            let expiry = harness.clock.now().addingTimeInterval(3600)
            let key = try await Self.create(client, otto, name: "hour", expiresAt: expiry.formatted(.iso8601))
            let bearer: Fields = [.authorization: "Bearer \(key.secret)"]
            _ = try await AccessTests.json(client, .get, "/api/me", auth: bearer, expect: .ok)
            harness.clock.advance(by: .seconds(3600 - 1))
            _ = try await AccessTests.json(client, .get, "/api/me", auth: bearer, expect: .ok)
            harness.clock.advance(by: .seconds(1))
            let refused = try await AccessTests.json(client, .get, "/api/me", auth: bearer, expect: .unauthorized)
            #expect((refused["detail"] as? String)?.contains("expired") == true)
            // An expiry in the past (by the portal's clock) is refused at creation.
            _ = try await Self.create(client, otto, name: "late", expiresAt: harness.clock.now().addingTimeInterval(-1).formatted(.iso8601), expect: .badRequest)
        }
    }

    @Test func theSecretIsNowhereInTheDataFile() async throws {
        let (harness, _) = try await AccessTests.harness()
        let secrets = try await harness.test { client in
            let (_, otto) = try await Self.signedIn(client, harness)
            var secrets: [String] = []
            for index in 0..<3 {
                let key = try await Self.create(client, otto, name: "k\(index)")
                _ = try await AccessTests.json(client, .get, "/api/me", auth: [.authorization: "Bearer \(key.secret)"], expect: .ok)
                secrets.append(key.secret)
            }
            return secrets
        }
        let data = try Data(contentsOf: URL(fileURLWithPath: harness.environment.path + "/data.mdb"))
        #expect(data.count > 0)
        for secret in secrets {
            #expect(secret.hasPrefix("pk_") && secret.count > 40)
            #expect(data.range(of: Data(secret.utf8)) == nil, "the secret is in data.mdb")
            // Nor the part after the shown prefix (a secret split across the record).
            #expect(data.range(of: Data(secret.dropFirst(10).utf8)) == nil)
            // What is stored is its hash, which finds the key.
            #expect(data.range(of: Data(APIKeys.hash(secret).utf8)) != nil)
        }
    }

    /// Listing and revoking: yours, or everyone's with users:manage; never another
    /// organization's; a key never makes keys.
    @Test func onlyTheCreatorOrUsersManageListAndRevoke() async throws {
        let (harness, _) = try await AccessTests.harness()
        try await harness.test { client in
            let (admin, otto) = try await Self.signedIn(client, harness)
            let adminKey = try await Self.create(client, admin, name: "admin-ci", role: "admin")
            let ottoKey = try await Self.create(client, otto, name: "otto-ci")
            // Otto sees only his own key, and cannot revoke the admin's: 404, like a missing one.
            let listed = try await AccessTests.json(client, .get, "/api/keys", auth: otto, expect: .ok)
            let names = ((listed["keys"] as? [[String: Any]]) ?? []).compactMap { $0["name"] as? String }
            #expect(names == ["otto-ci"])
            _ = try await AccessTests.json(client, .delete, "/api/keys/\(adminKey.id)", auth: otto, expect: .notFound)
            _ = try await AccessTests.json(client, .get, "/api/me", auth: [.authorization: "Bearer \(adminKey.secret)"], expect: .ok)
            // The admin sees both and may revoke Otto's.
            let all = try await AccessTests.json(client, .get, "/api/keys", auth: admin, expect: .ok)
            #expect(Set(((all["keys"] as? [[String: Any]]) ?? []).compactMap { $0["name"] as? String }) == ["admin-ci", "otto-ci"])
            _ = try await AccessTests.json(client, .delete, "/api/keys/\(ottoKey.id)", auth: admin, expect: .noContent)
            _ = try await AccessTests.json(client, .get, "/api/me", auth: [.authorization: "Bearer \(ottoKey.secret)"], expect: .unauthorized)
            // A key, even an admin's, cannot make keys.
            let keyMade = try await AccessTests.json(client, .post, "/api/keys", auth: [.authorization: "Bearer \(adminKey.secret)"],
                                                     body: #"{"name":"child","role":"viewer"}"#, expect: .forbidden)
            #expect((keyMade["detail"] as? String)?.contains("cannot create API keys") == true)
            // Nor make an account to sign in with and mint keys from there.
            let accountMade = try await AccessTests.json(client, .post, "/api/users", auth: [.authorization: "Bearer \(adminKey.secret)"],
                                                         body: #"{"username":"puppet","password":"puppet-password-1","role":"admin"}"#, expect: .forbidden)
            #expect((accountMade["detail"] as? String)?.contains("cannot manage people") == true)
            // Otto revokes his own next key himself.
            let second = try await Self.create(client, otto, name: "otto-2")
            _ = try await AccessTests.json(client, .delete, "/api/keys/\(second.id)", auth: otto, expect: .noContent)
        }
    }

    /// Unknown bearer keys are paid for from the address's budget before they are looked up,
    /// so guessing keys is throttled like anything else.
    @Test func unknownKeysDrawFromTheAddressBudget() async throws {
        let harness = try await WebTestHarness()
        try await harness.test { client in
            var statuses: [HTTPResponse.Status] = []
            for index in 0..<(200 + 5) {
                statuses.append(try await client.execute(uri: "/api/me", method: .get, headers: [.authorization: "Bearer pk_guess\(index)"]) { $0.status })
            }
            #expect(statuses.prefix(200).allSatisfy { $0 == .unauthorized }, "the read burst is 200")
            #expect(statuses.suffix(5).allSatisfy { $0 == .tooManyRequests })
            // The refusal says when to come back.
            try await client.execute(uri: "/api/me", method: .get, headers: [.authorization: "Bearer pk_more"]) { response in
                #expect(response.status == .tooManyRequests)
                #expect(response.headers[.retryAfter].flatMap(Int.init).map { $0 > 0 } == true)
            }
        }
    }
}
