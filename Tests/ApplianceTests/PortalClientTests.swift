import Foundation
import Glibc
import Portal
import PortalClient
import TestSupport
import Testing

/// The Swift SDK against the real binary: a tool run waited for, a risky run that waits for
/// another person's approval given through the SDK, every run paged through exactly once, a
/// refusal carried as the portal's problem type; and webhook signatures the server makes are
/// the ones the SDK's verifier accepts (and nothing else). The generated code matches the
/// committed v1 document.
@Suite(.serialized) struct PortalClientTests {
    static let password = "sdk-admin-password-1"

    /// A portal with the host pack, an operator (olga) and API keys for her and the admin.
    static func world() async throws -> (PortalProcess, base: URL, olga: PortalClient, admin: PortalClient) {
        let portal = try PortalProcess(environment: ["PORTAL_BOOTSTRAP_ADMIN_PASSWORD": password])
        let port = portal.port
        @Sendable func signIn(_ username: String, _ password: String) async throws -> [String: String] {
            let answer = try await offPool { try RawHTTPConnection.post(port: port, "/api/auth/login", json: #"{"username":"\#(username)","password":"\#(password)"}"#) }
            #expect(answer.status == 200)
            let csrf = try #require(JSONAny(json: Array(answer.body))?["csrfToken"]?.string)
            let cookie = try #require(answer.header("set-cookie"))
            return ["Cookie": String(cookie.split(separator: ";")[0]), "X-CSRF-Token": csrf]
        }
        @Sendable func post(_ path: String, _ json: String, as session: [String: String]) async throws -> JSONAny? {
            let answer = try await offPool { try RawHTTPConnection.post(port: port, path, json: json, headers: session) }
            #expect((200..<300).contains(answer.status), "\(path): \(answer.text)")
            return JSONAny(json: Array(answer.body))
        }
        let admin = try await signIn("admin", password)
        _ = try await post("/api/packs/host/enabled", #"{"enabled":true}"#, as: admin)
        _ = try await post("/api/users", #"{"username":"olga","password":"olga-password-1","role":"operator"}"#, as: admin)
        let adminKey = try #require(try await post("/api/keys", #"{"name":"sdk admin","role":"admin"}"#, as: admin)?["secret"]?.string)
        let olga = try await signIn("olga", "olga-password-1")
        let olgaKey = try #require(try await post("/api/keys", #"{"name":"sdk","role":"operator"}"#, as: olga)?["secret"]?.string)
        let url = try #require(URL(string: "http://127.0.0.1:\(port)"))
        return (portal, url, PortalClient(serverURL: url, apiKey: olgaKey), PortalClient(serverURL: url, apiKey: adminKey))
    }

    @Test func runWaitPageAndDecideAgainstTheBinary() async throws {
        let (portal, _, olga, admin) = try await Self.world()
        // A read tool: done at once.
        let memory = try await olga.runTool("host.memory")
        #expect(memory.status == "succeeded" && memory.requester == "olga")

        // A high-risk run waits; the SDK's wait ends at its timeout with the run still waiting…
        let waiting = try await olga.runTool("host.systemd-restart-unit", input: ["unit": "nothing-here.service"], timeout: .seconds(1))
        #expect(waiting.status == "pending-approval")
        // …the admin finds and approves it; her wait then ends with the run's end.
        let pending = try await admin.pendingApprovals()
        #expect(pending.map(\.id) == [waiting.id])
        let decided = try await admin.decide(runID: waiting.id, approve: true, comment: "go")
        #expect(decided.decisions.first?.approve == true)
        let ended = try await olga.waitForRun(id: waiting.id, timeout: .seconds(60))
        var started = [memory.id, waiting.id]
        #expect(PortalClient.finalStatuses.contains(ended.status), "the approved run ran: \(ended.status)")

        // A waiting run she withdraws ends her wait at once.
        let withdrawn = try await olga.runTool("host.systemd-restart-unit", input: ["unit": "other.service"], timeout: .zero)
        #expect(try await olga.cancel(runID: withdrawn.id, reason: "not needed").status == "cancelled")
        #expect(try await olga.waitForRun(id: withdrawn.id).status == "cancelled")
        started.append(withdrawn.id)

        // Paging: every run once, newest first, across pages of 2.
        for _ in 0..<3 { started.append(try await olga.runTool("host.load").id) }
        var seen: [String] = []
        for try await run in olga.runs(pageSize: 2) { seen.append(run.id) }
        #expect(seen == started.reversed())
        var loads: [String] = []
        for try await run in olga.runs(tool: "host.load", pageSize: 2) { loads.append(run.id) }
        #expect(loads == Array(started.suffix(3).reversed()))

        // Refusals carry the problem type: she may not decide, and an unknown run is not found.
        let refusal = await #expect(throws: PortalAPIError.self) { try await olga.decide(runID: memory.id, approve: true) }
        #expect(refusal?.status == 403 && refusal?.type == "/#/api/problems/forbidden")
        let missing = await #expect(throws: PortalAPIError.self) { try await olga.getRun("01a2314f-0000-7000-8000-000000000000") }
        #expect(missing?.status == 404 && missing?.type == "/#/api/problems/not-found")

        portal.signal(SIGTERM)
        #expect(portal.waitForExit() == 0)
    }

    @Test func theVerifierAcceptsThePortalsSignaturesAndNothingElse() throws {
        let secret = WebhookSignature.newSecret(), rotated = WebhookSignature.newSecret()
        let body = #"{"type":"run.succeeded","data":{"run":"01a2"}}"#
        let now = Date()
        let timestamp = Int(now.timeIntervalSince1970)
        // During a rotation the portal signs with both secrets; a receiver with either accepts it.
        let headers = ["Webhook-Id": "msg_1", "Webhook-Timestamp": String(timestamp),
                       "Webhook-Signature": WebhookSignature.header(id: "msg_1", timestamp: timestamp, body: body, secrets: [rotated, secret])]
        try WebhookVerifier(secrets: [secret]).verify(body: Array(body.utf8), headers: headers, now: now)
        try WebhookVerifier(secrets: [rotated]).verify(body: Array(body.utf8), headers: headers, now: now)

        let verifier = try WebhookVerifier(secrets: [secret])
        #expect(throws: WebhookVerifier.Failure.noMatchingSignature) {
            try verifier.verify(body: Array((body + " ").utf8), headers: headers, now: now)
        }
        #expect(throws: WebhookVerifier.Failure.noMatchingSignature) {
            try WebhookVerifier(secrets: [WebhookSignature.newSecret()]).verify(body: Array(body.utf8), headers: headers, now: now)
        }
        #expect(throws: WebhookVerifier.Failure.timestampOutOfTolerance) {
            try verifier.verify(body: Array(body.utf8), headers: headers, now: now.addingTimeInterval(301))
        }
        var unsigned = headers
        unsigned["Webhook-Signature"] = nil
        #expect(throws: WebhookVerifier.Failure.missingHeader("webhook-signature")) { try verifier.verify(body: Array(body.utf8), headers: unsigned, now: now) }
        #expect(throws: WebhookVerifier.Failure.malformedSecret) { try WebhookVerifier(secrets: ["not-a-secret"]) }
    }

    /// The generated code was made from the committed v1 document: after a change to the API,
    /// `scripts/generate-sdk.sh` must run (and this fails until it has).
    @Test func theGeneratedCodeMatchesTheCommittedDocument() throws {
        let root = URL(fileURLWithPath: #filePath).deletingLastPathComponent().deletingLastPathComponent().deletingLastPathComponent()
        let document = try Data(contentsOf: root.appendingPathComponent("Tests/WebTests/Snapshots/openapi-v1.json"))
        let recorded = try String(contentsOf: root.appendingPathComponent("Sources/PortalClient/Generated/openapi-v1.sha256"), encoding: .utf8)
        #expect(recorded.trimmingCharacters(in: .whitespacesAndNewlines) == SHA256Digest.hex(of: Array(document)),
                "the v1 document changed: run scripts/generate-sdk.sh and commit Sources/PortalClient/Generated")
    }
}

/// SHA-256 as lowercase hex, from the portal's own implementation.
enum SHA256Digest {
    static func hex(of bytes: [UInt8]) -> String { Crypto.sha256(bytes).hexString }
}
