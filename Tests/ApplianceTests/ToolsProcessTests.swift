import Foundation
import TestSupport
import Testing

/// Approvals and the audit trail through the real binary: a pending approval survives a
/// restart between request and decision, and `portal audit verify` finds an entry edited in
/// the LMDB file.
@Suite struct ToolsProcessTests {
    static let adminPassword = "admin-password-1"

    struct SignedIn {
        let cookie: String
        let csrf: String
        var headers: [String: String] { ["Cookie": cookie, "X-CSRF-Token": csrf] }
    }

    static func signIn(_ port: Int, _ username: String, _ password: String) throws -> SignedIn {
        let response = try RawHTTPConnection.post(port: port, "/api/auth/login", json: #"{"username":"\#(username)","password":"\#(password)"}"#)
        #expect(response.status == 200, "\(response.text)")
        let cookie = try #require(response.header("Set-Cookie")?.split(separator: ";").first.map(String.init))
        let body = try #require(try JSONSerialization.jsonObject(with: response.body) as? [String: Any])
        return SignedIn(cookie: cookie, csrf: try #require(body["csrfToken"] as? String))
    }

    static func object(_ response: RawHTTPConnection.Response) throws -> [String: Any] {
        try #require(try JSONSerialization.jsonObject(with: response.body) as? [String: Any], "\(response.text)")
    }

    /// Starts a portal with an administrator, the host pack enabled and an operator `olga`.
    static func startPortal(dataDirectory: String? = nil) throws -> PortalProcess {
        try PortalProcess(dataDirectory: dataDirectory, environment: ["PORTAL_BOOTSTRAP_ADMIN_PASSWORD": adminPassword])
    }

    @Test func aPendingApprovalSurvivesARestartBetweenRequestAndDecision() throws {
        let portal = try Self.startPortal()
        let admin = try Self.signIn(portal.port, "admin", Self.adminPassword)
        #expect(try RawHTTPConnection.post(port: portal.port, "/api/packs/host/enabled", json: #"{"enabled":true}"#, headers: admin.headers).status == 204)
        let created = try RawHTTPConnection.post(port: portal.port, "/api/users", json: #"{"username":"olga","password":"olga-password-1","role":"operator"}"#, headers: admin.headers)
        #expect(created.status == 201, "\(created.text)")
        let olga = try Self.signIn(portal.port, "olga", "olga-password-1")
        let requested = try RawHTTPConnection.post(port: portal.port, "/api/tools/host.signal-process/runs", json: #"{"input":{"pid":999999}}"#, headers: olga.headers)
        #expect(requested.status == 202, "\(requested.text)")
        let runID = try #require(try Self.object(requested)["id"] as? String)

        portal.signal(SIGTERM)
        #expect(portal.waitForExit() == 0)
        let restarted = try Self.startPortal(dataDirectory: portal.dataDirectory)
        let admin2 = try Self.signIn(restarted.port, "admin", Self.adminPassword)
        let queue = try Self.object(try RawHTTPConnection.get(port: restarted.port, "/api/approvals", headers: admin2.headers))
        #expect((queue["approvals"] as? [[String: Any]])?.compactMap { $0["id"] as? String } == [runID])
        let decided = try RawHTTPConnection.post(port: restarted.port, "/api/approvals/\(runID)/decision", json: #"{"approve":true,"comment":"after the restart"}"#, headers: admin2.headers)
        #expect(decided.status == 200, "\(decided.text)")
        let olga2 = try Self.signIn(restarted.port, "olga", "olga-password-1")
        let final = try Self.object(try RawHTTPConnection.get(port: restarted.port, "/api/runs/\(runID)?wait=20", headers: olga2.headers))
        // The process does not exist: the approved run executed and reports why it failed.
        #expect(final["status"] as? String == "failed")
        #expect(((final["output"] as? [String: Any])?["error"] as? String)?.contains("999999") == true)
        restarted.signal(SIGTERM)
        #expect(restarted.waitForExit() == 0)

        let verify = try PortalProcess.run(["audit", "verify", "--data-dir", portal.dataDirectory])
        #expect(verify.status == 0, "\(verify.error)")
        #expect(verify.output.contains("audit: intact"))
    }

    @Test func auditVerifyFindsAnEntryEditedInTheDataFile() throws {
        let portal = try Self.startPortal()
        let admin = try Self.signIn(portal.port, "admin", Self.adminPassword)
        #expect(try RawHTTPConnection.post(port: portal.port, "/api/packs/host/enabled", json: #"{"enabled":true}"#, headers: admin.headers).status == 204)
        let run = try RawHTTPConnection.post(port: portal.port, "/api/tools/host.kernel/runs", json: #"{"input":{}}"#, headers: admin.headers)
        #expect(run.status == 201, "\(run.text)")
        portal.signal(SIGTERM)
        #expect(portal.waitForExit() == 0)
        #expect(try PortalProcess.run(["audit", "verify", "--data-dir", portal.dataDirectory]).status == 0)

        // Rewrite what the audit entry of the request says, in place, in the LMDB file.
        let file = portal.dataDirectory + "/data.mdb"
        var bytes = try Data(contentsOf: URL(fileURLWithPath: file))
        let original = Data("\"run.requested\"".utf8), forged = Data("\"run.requestex\"".utf8)
        var replaced = 0
        while let range = bytes.range(of: original) {
            bytes.replaceSubrange(range, with: forged)
            replaced += 1
        }
        #expect(replaced >= 1)
        try bytes.write(to: URL(fileURLWithPath: file))

        let verify = try PortalProcess.run(["audit", "verify", "--data-dir", portal.dataDirectory])
        #expect(verify.status == 1)
        #expect(verify.error.contains("was edited (its HMAC does not match)"), "\(verify.error)")
        #expect(verify.error.contains("NOT intact"))
    }
}
