import Foundation
import HTTPTypes
import Hummingbird
import HummingbirdTesting
import KV
@testable import Portal
import Testing
@testable import Web

/// An organization's admin manages its own members but cannot pull in, or find out about,
/// people of other organizations; a new session starts where the person last worked.
@Suite struct MembershipTests {
    @Test func organizationAdminsManageOnlyTheirOwnMembers() async throws {
        let (harness, _) = try await AccessTests.harness()
        let core = harness.core
        let organization = try #require(try core.organizations.organization(slug: "default")).id
        let acme = try await core.organizations.create(slug: "acme", displayName: "Acme")
        let ada = try await core.accounts.create(username: "ada", displayName: "Ada", password: "ada-password-1")
        try await core.organizations.setRole(.admin, user: ada.id, in: organization)
        let stranger = try await core.accounts.create(username: "stranger", displayName: "Acme only", password: "stranger-password-1")
        try await core.organizations.setRole(.admin, user: stranger.id, in: acme.id)
        try await harness.test { client in
            let adaSession = AccessTests.cookie(try await AccessTests.login(client, "ada", "ada-password-1"))
            let members = "/api/orgs/\(organization)/members"
            // Someone of another organization and a name nobody has look the same: no such member.
            let existing = try await AccessTests.json(client, .post, members, auth: adaSession, body: #"{"username":"stranger","role":"viewer"}"#, expect: .notFound)
            let missing = try await AccessTests.json(client, .post, members, auth: adaSession, body: #"{"username":"nobody-at-all","role":"viewer"}"#, expect: .notFound)
            #expect(existing["detail"] as? String == missing["detail"] as? String)
            #expect(try core.organizations.role(of: stranger.id, in: organization) == nil)
            // Her own members she manages; the system administrator's membership she does not.
            _ = try await AccessTests.json(client, .post, members, auth: adaSession, body: #"{"username":"vera","role":"operator"}"#, expect: .noContent)
            #expect(try core.organizations.role(of: try #require(try core.accounts.user(named: "vera")).id, in: organization) == .operator)
            _ = try await AccessTests.json(client, .post, members, auth: adaSession, body: #"{"username":"admin","role":null}"#, expect: .forbidden)
            // A system administrator adds people across organizations.
            let root = AccessTests.cookie(try await AccessTests.login(client, "admin", AccessTests.adminPassword))
            _ = try await AccessTests.json(client, .post, members, auth: root, body: #"{"username":"stranger","role":"viewer"}"#, expect: .noContent)
            #expect(try core.organizations.role(of: stranger.id, in: organization) == .viewer)
        }
        // The membership records who granted it.
        let granted = try core.environment.read { txn in try core.organizations.membership(of: stranger.id, in: organization, txn: txn) }
        #expect(granted?.grantedBy == (try core.accounts.user(named: "admin"))?.id)
    }

    @Test func aNewSessionStartsInTheOrganizationLastUsed() async throws {
        let (harness, _) = try await AccessTests.harness()
        let core = harness.core
        let organization = try #require(try core.organizations.organization(slug: "default")).id
        let acme = try await core.organizations.create(slug: "acme", displayName: "Acme")
        let vera = try #require(try core.accounts.user(named: "vera"))
        try await core.organizations.setRole(.viewer, user: vera.id, in: acme.id)
        try await harness.test { client in
            // First by slug before any choice ("acme" < "default").
            let first = AccessTests.cookie(try await AccessTests.login(client, "vera", "vera-password-1"))
            #expect((try await AccessTests.json(client, .get, "/api/me", auth: first, expect: .ok))["currentOrganization"] as? String == acme.id.uuidString)
            _ = try await AccessTests.json(client, .post, "/api/me/organization", auth: first, body: #"{"organizationID":"\#(organization)"}"#, expect: .noContent)
            let second = AccessTests.cookie(try await AccessTests.login(client, "vera", "vera-password-1"))
            #expect((try await AccessTests.json(client, .get, "/api/me", auth: second, expect: .ok))["currentOrganization"] as? String == organization.uuidString)
            // Once she is no longer a member there, she starts in one she still belongs to.
            try await core.organizations.setRole(nil, user: vera.id, in: organization)
            let third = AccessTests.cookie(try await AccessTests.login(client, "vera", "vera-password-1"))
            #expect((try await AccessTests.json(client, .get, "/api/me", auth: third, expect: .ok))["currentOrganization"] as? String == acme.id.uuidString)
        }
    }
}
