import Foundation
import HTTPTypes
import Hummingbird
import HummingbirdTesting
import KV
@testable import Portal
import Testing
@testable import Web

/// The tool API: catalog, runs (201 done, 202 waiting), field-level 400s, approvals with
/// their permission, activity filters, the audit view, and cross-organization 404s.
@Suite struct ToolRoutesTests {
    struct Session {
        let cookie: String
        let csrf: String
        var headers: HTTPFields { [.cookie: cookie, HTTPField.Name("X-CSRF-Token")!: csrf, .contentType: "application/json"] }
    }

    static func world() async throws -> (WebTestHarness, Organization) {
        let harness = try await WebTestHarness()
        _ = try await harness.core.bootstrap(adminUsername: "root", adminPassword: "root-password-1")
        let root = try #require(try harness.core.accounts.user(named: "root"))
        let organization = try #require(try harness.core.organizations.organization(slug: "default"))
        let rootPrincipal = Principal(user: root, organizationID: organization.id, role: .admin, sessionKey: nil, csrfToken: nil)
        _ = try await harness.core.organizations.createMember(username: "olga", displayName: "Olga", password: "olga-password-1", role: .operator, in: organization.id, by: rootPrincipal)
        _ = try await harness.core.organizations.createMember(username: "ada", displayName: "Ada", password: "ada-password-1", role: .admin, in: organization.id, by: rootPrincipal)
        try await harness.core.tools.setEnabled(true, pack: "host", by: rootPrincipal)
        // A second organization with its own admin.
        let other = try await harness.core.organizations.create(slug: "other", displayName: "Other", by: rootPrincipal)
        _ = try await harness.core.organizations.createMember(username: "otto", displayName: "Otto", password: "otto-password-1", role: .admin, in: other.id, by: rootPrincipal)
        try await harness.core.tools.setEnabled(true, pack: "host", by: Principal(user: root, organizationID: other.id, role: .admin, sessionKey: nil, csrfToken: nil))
        return (harness, organization)
    }

    static func signIn(_ client: some TestClientProtocol, _ name: String) async throws -> Session {
        let (cookie, csrf) = try await AccessTests.login(client, name, "\(name)-password-1")
        return Session(cookie: cookie, csrf: csrf)
    }

    static func json(_ response: TestResponse) throws -> JSONAny {
        try #require(JSONAny(json: Array(buffer: response.body)))
    }

    @Test func catalogRunsApprovalsActivityAndAudit() async throws {
        let (harness, _) = try await Self.world()
        try await harness.test { client in
            let olga = try await Self.signIn(client, "olga"), ada = try await Self.signIn(client, "ada"), otto = try await Self.signIn(client, "otto")

            try await client.execute(uri: "/api/tools", method: .get, headers: olga.headers) { response throws in
                #expect(response.status == .ok)
                let body = try Self.json(response)
                #expect(body["categories"]?.strings?.contains("Diagnostics") == true)
                let memory = try #require(body["tools"]?.array?.first { $0["name"] == .string("host.memory") })
                #expect(memory["canRun"] == .bool(true) && memory["risk"] == .string("read"))
                #expect(body["tools"]?.array?.contains { $0["name"]?.string?.hasPrefix("oci.") == true } == false, "oci is not enabled here")
            }

            // A read tool runs at once: 201 with the output.
            try await client.execute(uri: "/api/tools/host.load/runs", method: .post, headers: olga.headers, body: ByteBuffer(string: #"{"input":{}}"#)) { response throws in
                #expect(response.status == .created)
                let run = try Self.json(response)
                #expect(run["status"] == .string("succeeded") && run["entryPoint"] == .string("catalog"))
                #expect((run["output"]?["json"]?["cpus"]?.number ?? 0) >= 1)
                #expect(response.headers[.location] == "/api/runs/\(run["id"]!.string!)")
            }
            // Invalid input: 400 naming the fields.
            try await client.execute(uri: "/api/tools/host.tcp-check/runs", method: .post, headers: olga.headers,
                                     body: ByteBuffer(string: #"{"input":{"host":"bad host","port":0,"extra":true}}"#)) { response throws in
                #expect(response.status == .badRequest)
                let problem = try Self.json(response)
                #expect(problem["errors"]?.array?.compactMap { $0["field"]?.string }.sorted() == ["extra", "host", "port"])
                #expect(problem["requestId"]?.string?.isEmpty == false)
            }
            try await client.execute(uri: "/api/tools/host.nope/runs", method: .post, headers: olga.headers, body: ByteBuffer(string: "{}")) { response throws in
                #expect(response.status == .notFound)
            }

            // A risky tool waits: 202; operators cannot see the queue or decide.
            let runID = try await client.execute(uri: "/api/tools/host.signal-process/runs", method: .post, headers: olga.headers,
                                                 body: ByteBuffer(string: #"{"input":{"pid":999999}}"#)) { response throws in
                #expect(response.status == .accepted)
                return try #require(try Self.json(response)["id"]?.string)
            }
            try await client.execute(uri: "/api/approvals", method: .get, headers: olga.headers) { #expect($0.status == .forbidden) }
            try await client.execute(uri: "/api/approvals/\(runID)/decision", method: .post, headers: olga.headers, body: ByteBuffer(string: #"{"approve":true}"#)) {
                #expect($0.status == .forbidden)
            }
            try await client.execute(uri: "/api/approvals", method: .get, headers: ada.headers) { response throws in
                #expect(try Self.json(response)["approvals"]?.array?.map { $0["id"] } == [.string(runID)])
            }
            // Another organization's admin: 404 everywhere.
            try await client.execute(uri: "/api/runs/\(runID)", method: .get, headers: otto.headers) { #expect($0.status == .notFound) }
            try await client.execute(uri: "/api/approvals/\(runID)/decision", method: .post, headers: otto.headers, body: ByteBuffer(string: #"{"approve":true}"#)) {
                #expect($0.status == .notFound)
            }
            try await client.execute(uri: "/api/approvals/\(runID)/decision", method: .post, headers: ada.headers,
                                     body: ByteBuffer(string: #"{"approve":true,"comment":"ok"}"#)) { response throws in
                #expect(response.status == .ok)
                #expect(try Self.json(response)["decisions"]?.array?.first?["username"] == .string("ada"))
            }
            try await client.execute(uri: "/api/runs/\(runID)?wait=20", method: .get, headers: olga.headers) { response throws in
                // No such process: the approved run executed and failed, and says why.
                let run = try Self.json(response)
                #expect(run["status"] == .string("failed"))
                #expect(run["output"]?["error"]?.string?.contains("999999") == true)
            }

            try await client.execute(uri: "/api/runs?tool=host.signal-process&status=failed", method: .get, headers: olga.headers) { response throws in
                #expect(try Self.json(response)["runs"]?.array?.map { $0["id"] } == [.string(runID)])
            }
            try await client.execute(uri: "/api/runs?status=bogus", method: .get, headers: olga.headers) { #expect($0.status == .badRequest) }
            try await client.execute(uri: "/api/runs?limit=1", method: .get, headers: olga.headers) { response throws in
                let page = try Self.json(response)
                #expect(page["runs"]?.array?.count == 1 && page["next"]?.string != nil)
            }
            try await client.execute(uri: "/api/runs", method: .get, headers: otto.headers) { response throws in
                #expect(try Self.json(response)["runs"]?.array?.isEmpty == true, "activity is scoped to the organization")
            }

            // The audit view (admins), filtered by tool; operators may not read it.
            try await client.execute(uri: "/api/audit", method: .get, headers: olga.headers) { #expect($0.status == .forbidden) }
            try await client.execute(uri: "/api/audit?tool=host.signal-process", method: .get, headers: ada.headers) { response throws in
                let kinds = try Self.json(response)["entries"]?.array?.compactMap { $0["kind"]?.string }
                #expect(kinds == ["run.failed", "approval.decided", "run.requested"])
            }
            try await client.execute(uri: "/api/audit?person=ada&kind=approval", method: .get, headers: ada.headers) { response throws in
                #expect(try Self.json(response)["entries"]?.array?.count == 1)
            }
        }
    }

    /// A run that waits for approval can be withdrawn by its requester or by someone who
    /// decides approvals, once; nobody else may, other organizations do not see it, and an
    /// executing or finished run is a conflict. The withdrawal is audited and ends the wait.
    @Test func cancellingAWaitingRun() async throws {
        let (harness, organization) = try await Self.world()
        let root = try #require(try harness.core.accounts.user(named: "root"))
        let rootPrincipal = Principal(user: root, organizationID: organization.id, role: .admin, sessionKey: nil, csrfToken: nil)
        _ = try await harness.core.organizations.createMember(username: "oscar", displayName: "Oscar", password: "oscar-password-1", role: .operator,
                                                              in: organization.id, by: rootPrincipal)
        try await harness.test { client in
            let olga = try await Self.signIn(client, "olga"), ada = try await Self.signIn(client, "ada")
            let oscar = try await Self.signIn(client, "oscar"), otto = try await Self.signIn(client, "otto")
            func request() async throws -> String {
                try await client.execute(uri: "/api/v1/tools/host.systemd-restart-unit/runs", method: .post, headers: olga.headers,
                                         body: ByteBuffer(string: #"{"input":{"unit":"nothing-here.service"}}"#)) { response throws in
                    #expect(response.status == .accepted)
                    return try #require(try Self.json(response)["id"]?.string)
                }
            }
            func cancel(_ id: String, as session: Session, expect status: HTTPResponse.Status) async throws -> JSONAny {
                try await client.execute(uri: "/api/v1/runs/\(id)/cancel", method: .post, headers: session.headers,
                                         body: ByteBuffer(string: #"{"reason":"wrong host"}"#)) { response throws in
                    #expect(response.status == status, "\(String(buffer: response.body))")
                    return try Self.json(response)
                }
            }
            let first = try await request(), second = try await request()
            _ = try await cancel(first, as: otto, expect: .notFound)
            _ = try await cancel(first, as: oscar, expect: .forbidden)
            let cancelled = try await cancel(first, as: olga, expect: .ok)
            #expect(cancelled["status"] == .string("cancelled"))
            let again = try await cancel(first, as: olga, expect: .conflict)
            #expect(again["type"] == .string("/#/api/problems/conflict"))
            // A decider may withdraw someone else's; a withdrawn run is out of the queue and cannot be approved.
            #expect(try await cancel(second, as: ada, expect: .ok)["status"] == .string("cancelled"))
            try await client.execute(uri: "/api/v1/approvals", method: .get, headers: ada.headers) { response throws in
                #expect(try Self.json(response)["approvals"]?.array?.isEmpty == true)
            }
            try await client.execute(uri: "/api/v1/approvals/\(second)/decision", method: .post, headers: ada.headers,
                                     body: ByteBuffer(string: #"{"approve":true}"#)) { #expect($0.status == .forbidden) }
            // A finished run is final.
            let finished = try await client.execute(uri: "/api/v1/tools/host.memory/runs", method: .post, headers: olga.headers,
                                                    body: ByteBuffer(string: #"{"input":{}}"#)) { try #require(try Self.json($0)["id"]?.string) }
            _ = try await cancel(finished, as: olga, expect: .conflict)
            // Audited with who and why; the filter finds the withdrawn runs.
            try await client.execute(uri: "/api/v1/audit?kind=run.cancelled", method: .get, headers: ada.headers) { response throws in
                let entries = try #require(try Self.json(response)["entries"]?.array)
                #expect(entries.count == 2)
                #expect(entries.allSatisfy { $0["outcome"] == .string("cancelled") && $0["detail"]?.string?.contains("wrong host") == true })
            }
            try await client.execute(uri: "/api/v1/runs?status=cancelled", method: .get, headers: olga.headers) { response throws in
                #expect(Set(try Self.json(response)["runs"]?.array?.compactMap { $0["id"]?.string } ?? []) == [first, second])
            }
        }
    }
}
