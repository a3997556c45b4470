import Foundation
import HTTPTypes
import Hummingbird
import HummingbirdTesting
import KV
@testable import Portal
import Testing
@testable import Web

/// The two-person rule for high and destructive runs cannot be met with a second account of
/// one's own: an approver whose account or role the requester created or granted after the
/// request, or within `approvals.independence_hours` before it, is refused with the reason,
/// and the refusal is in the audit trail.
@Suite struct TwoPersonRuleTests {
    static let pack = ToolPack(name: "ops", title: "Operations", version: "1.0.0", description: "High-risk operations for the test.", tools: [
        Tool(name: "ops.rotate-keys", title: "Rotate keys", description: "A high-risk tool (it only reads the kernel).", category: "Security",
             inputSchema: .object(["type": .string("object"), "properties": .object([:]), "additionalProperties": .bool(false)]),
             risk: .high, permission: nil, executor: .builtin("host.kernel"), limits: nil),
    ])

    @Test func accountsAndRolesTheRequesterMadeCannotApprove() async throws {
        let (harness, _) = try await AccessTests.harness()
        let core = harness.core
        let organization = try #require(try core.organizations.organization(slug: "default")).id
        let root = try #require(try core.accounts.user(named: "admin"))
        let rootPrincipal = Principal(user: root, organizationID: organization, role: .admin, sessionKey: nil, csrfToken: nil)
        try await core.tools.install(Self.pack, by: rootPrincipal)
        try await core.tools.setEnabled(true, pack: "ops", by: rootPrincipal)
        // Day 0: the system administrator makes ada and bob organization admins.
        for name in ["ada", "bob", "carl"] {
            _ = try await core.organizations.createMember(username: name, displayName: name, password: "\(name)-password-1", role: .admin, in: organization, by: rootPrincipal)
        }
        try await harness.test { client in
            // Day 1: ada makes an admin account, olden. Day 3: another, sock, and asks for a run.
            harness.clock.advance(by: .seconds(24 * 3600))
            let ada = AccessTests.cookie(try await AccessTests.login(client, "ada", "ada-password-1"))
            _ = try await AccessTests.json(client, .post, "/api/users", auth: ada, body: #"{"username":"olden","password":"olden-password-1","role":"admin"}"#, expect: .created)
            harness.clock.advance(by: .seconds(2 * 24 * 3600))
            let ada2 = AccessTests.cookie(try await AccessTests.login(client, "ada", "ada-password-1"))
            _ = try await AccessTests.json(client, .post, "/api/users", auth: ada2, body: #"{"username":"sock","password":"sock-password-1","role":"admin"}"#, expect: .created)
            harness.clock.advance(by: .seconds(60))
            let run = try await AccessTests.json(client, .post, "/api/tools/ops.rotate-keys/runs", auth: ada2, body: #"{"input":{}}"#, expect: .accepted)
            let runID = try #require(run["id"] as? String)

            // sock, made an hour ago by ada: refused, with the reason.
            let sock = AccessTests.cookie(try await AccessTests.login(client, "sock", "sock-password-1"))
            let refused = try await AccessTests.json(client, .post, "/api/approvals/\(runID)/decision", auth: sock, body: #"{"approve":true}"#, expect: .forbidden)
            #expect((refused["detail"] as? String)?.contains("created your account") == true, "\(refused)")
            // vera, an old viewer made admin by ada after the request: refused too.
            harness.clock.advance(by: .seconds(60))
            _ = try await AccessTests.json(client, .post, "/api/orgs/\(organization)/members", auth: ada2, body: #"{"username":"vera","role":"admin"}"#, expect: .noContent)
            let vera = AccessTests.cookie(try await AccessTests.login(client, "vera", "vera-password-1"))
            let alsoRefused = try await AccessTests.json(client, .post, "/api/approvals/\(runID)/decision", auth: vera, body: #"{"approve":true}"#, expect: .forbidden)
            #expect((alsoRefused["detail"] as? String)?.contains("gave you your role") == true, "\(alsoRefused)")
            // Rejecting is always allowed: it cannot push a run through. But first, approval by
            // olden, whom ada made two days before the request (outside the 24-hour window).
            let olden = AccessTests.cookie(try await AccessTests.login(client, "olden", "olden-password-1"))
            let approved = try await AccessTests.json(client, .post, "/api/approvals/\(runID)/decision", auth: olden, body: #"{"approve":true}"#, expect: .ok)
            #expect(approved["status"] as? String == "running")

            // A second request: bob, made by the system administrator, approves it.
            let second = try await AccessTests.json(client, .post, "/api/tools/ops.rotate-keys/runs", auth: ada2, body: #"{"input":{}}"#, expect: .accepted)
            let secondID = try #require(second["id"] as? String)
            _ = try await AccessTests.json(client, .post, "/api/approvals/\(secondID)/decision", auth: sock, body: #"{"approve":true}"#, expect: .forbidden)
            let bob = AccessTests.cookie(try await AccessTests.login(client, "bob", "bob-password-1"))
            _ = try await AccessTests.json(client, .post, "/api/approvals/\(secondID)/decision", auth: bob, body: #"{"approve":true}"#, expect: .ok)

            // A third: ada resets carl's password (an old admin of the system administrator's),
            // signs in as carl with it and approves. Refused: she reset his password.
            let third = try await AccessTests.json(client, .post, "/api/tools/ops.rotate-keys/runs", auth: ada2, body: #"{"input":{}}"#, expect: .accepted)
            let thirdID = try #require(third["id"] as? String)
            let carlID = try #require(try core.accounts.user(named: "carl")).id
            let reset = try await AccessTests.json(client, .post, "/api/users/\(carlID)/password-reset", auth: ada2, expect: .ok)
            let oneTime = try #require(reset["oneTimePassword"] as? String)
            let carl = AccessTests.cookie(try await AccessTests.login(client, "carl", oneTime))
            _ = try await PasswordTests.change(client, carl, current: oneTime, new: "carl-is-now-ada-9", expect: .ok)
            let viaReset = try await AccessTests.json(client, .post, "/api/approvals/\(thirdID)/decision", auth: carl, body: #"{"approve":true}"#, expect: .forbidden)
            #expect((viaReset["detail"] as? String)?.contains("reset your password") == true, "\(viaReset)")
            // Nor can ada re-grant herself a role to clear who granted hers.
            _ = try await AccessTests.json(client, .post, "/api/orgs/\(organization)/members", auth: ada2, body: #"{"username":"ada","role":"admin"}"#, expect: .forbidden)
        }
        let refusals = try core.audit.page(limit: 50) { $0.kind == "approval.refused" }
        #expect(refusals.count == 4)
        #expect(Set(refusals.compactMap(\.approver)) == ["sock", "vera", "carl"])
        #expect(refusals.allSatisfy { $0.detail.contains("two-person rule") })
    }
}
