import Foundation
import TestSupport
import Testing

/// The request log of the real binary: one JSON line per request with method, route, status,
/// duration, request id and the principal's id, and no credential anywhere in the output.
@Suite struct RequestLogTests {
    @Test func requestLinesNameThePrincipalAndNeverASecret() throws {
        let password = "correct-horse-battery"
        let portal = try PortalProcess(environment: ["PORTAL_BOOTSTRAP_ADMIN_PASSWORD": password])
        let login = try RawHTTPConnection.post(port: portal.port, "/api/auth/login", json: #"{"username":"admin","password":"\#(password)"}"#)
        #expect(login.status == 200)
        let cookie = try #require(login.header("Set-Cookie")?.split(separator: ";").first.map(String.init))
        let token = String(cookie.dropFirst("portal_session=".count))
        let me = try RawHTTPConnection.get(port: portal.port, "/api/me", headers: ["Cookie": cookie, "X-Request-Id": "trace-me-1"])
        #expect(me.status == 200)
        let userID = try #require((try JSONSerialization.jsonObject(with: me.body) as? [String: Any]).flatMap { ($0["user"] as? [String: Any])?["id"] as? String })
        let wrong = try RawHTTPConnection.post(port: portal.port, "/api/auth/login", json: #"{"username":"admin","password":"wrong-\#(password)"}"#)
        #expect(wrong.status == 401)

        let line = try portal.standardError.waitForLine(containing: "trace-me-1", timeout: .seconds(10))
        let entry = try #require(try JSONSerialization.jsonObject(with: Data(line.utf8)) as? [String: Any])
        let metadata = (entry["metadata"] as? [String: Any]) ?? entry
        #expect(metadata["route"] as? String == "/api/me")
        #expect(metadata["status"] as? String == "200" || metadata["status"] as? Int == 200)
        #expect(metadata["method"] as? String == "GET")
        #expect(metadata["principal"] as? String == "user:\(userID.uppercased())" || metadata["principal"] as? String == "user:\(userID)")
        #expect(metadata["duration_ms"] != nil)

        portal.signal(SIGTERM)
        #expect(portal.waitForExit() == 0)
        try portal.standardError.waitForEnd(timeout: .seconds(5))
        try portal.standardOutput.waitForEnd(timeout: .seconds(5))
        let everything = portal.standardError.contents + portal.standardOutput.contents
        #expect(!everything.contains(password), "no password in any log line")
        #expect(!everything.contains(token), "no session token in any log line")
    }
}
